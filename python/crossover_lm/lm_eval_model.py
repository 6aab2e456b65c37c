"""lm-evaluation-harness's model ``crossover``: a crossover run scored as its objective says.

    crossover-lm-eval --model crossover --model_args run=runs/tiny-mdm,mc_num=128 --tasks ...
    crossover-lm-eval --model crossover --model_args pretrained=hf/tiny-ar --tasks ...

model_args:
  run=RUN_DIR [step=N]   a run directory (the latest checkpoint unless step);
  pretrained=EXPORT_DIR  a `crossover export hf` directory (its config.json names the checkpoint);
  crossover=PATH         the crossover binary (else $CROSSOVER, else PATH);
  mc_num=K               mdm: estimator samples per continuation (default: the run's
                         eval.task_samples);
  threads=N, device=D    passed to crossover (device: auto, cpu or cuda);
  gen_steps, block_length, max_gen_toks   mdm generate_until (crossover generate's --steps,
                         --block-length, --max-new).
Any other argument goes to lm-eval's ``hf`` model for an AR run.

AR runs are lm-eval's own ``hf`` model (HFLM) on the Hugging Face export, the path any causal LM
takes (a run directory is exported to a temporary directory first), with one change: the logit
column of [MASK] (which crossover never predicts) is dropped before lm-eval's softmax.
MDM runs go through `crossover score`, which computes `crossover eval`'s estimator with its masks:
  loglikelihood          LLaDA's Monte-Carlo ELBO (continuation masked, context visible, mc_num
                         samples, stratified number of masked tokens); an upper bound on the NLL,
                         so the log-likelihood returned is a lower bound; is_greedy is False.
                         A request is keyed by its document id, as `crossover eval` keys example
                         i by i, so both score the same masks.
  loglikelihood_rolling  [eos] + the text's tokens in seq_len windows whose scored parts are
                         disjoint, each window's ELBO summed: an upper bound on the NLL, so word
                         and byte perplexities are upper bounds too.
  generate_until         `crossover generate` (the LLaDA sampler, greedy), cut at the first
                         `until` string.
"""
import atexit
import json
import re
import shutil
import tempfile
from pathlib import Path

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.utils import simple_parse_args_string

from crossover_lm.binary import crossover_binary, run, run_dir_of_checkpoint, run_objective

# model_args that are crossover's; the rest go to HFLM for AR runs.
_OWN = {"run", "step", "crossover", "mc_num", "threads", "gen_steps", "block_length",
        "max_gen_toks"}


def _resolve(args):
    """(run_dir, objective, export_dir or None) from model_args."""
    if args.get("run"):
        run_dir = Path(args["run"])
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(f"run={run_dir}: no config.yaml (not a crossover run directory)")
        return run_dir, run_objective(run_dir), None
    if args.get("pretrained"):
        export = Path(args["pretrained"])
        config = json.loads((export / "config.json").read_text())
        meta = config.get("crossover")
        if not meta:
            raise ValueError(f"pretrained={export}: config.json has no `crossover` object "
                             "(not written by `crossover export hf`)")
        objective = meta["objective"]
        run_dir = run_dir_of_checkpoint(meta["checkpoint"]) if objective == "mdm" else None
        if objective == "mdm" and "step" not in args:
            args["step"] = meta["step"]
        return run_dir, objective, export
    raise ValueError("--model crossover needs model_args run=RUN_DIR or pretrained=EXPORT_DIR")


def _hflm_class():
    from lm_eval.models.huggingface import HFLM

    class CrossoverHFLM(HFLM):
        """HFLM with the export's last logit column, [MASK]'s, dropped: crossover never predicts
        [MASK], and with a tied head its column is not zero, so leaving it in the softmax would
        change every log-likelihood (by about 1e-3 nats on a tiny run)."""

        predictable = None

        def _model_call(self, inps, attn_mask=None, labels=None):
            return super()._model_call(inps, attn_mask, labels)[..., : self.predictable]

    return CrossoverHFLM


def _hf_model(args, additional, export, run_dir):
    """lm-eval's HFLM on the export (made from run_dir when there is none)."""

    if export is None:
        out = Path(tempfile.mkdtemp(prefix="crossover-hf-")) / "export"
        atexit.register(shutil.rmtree, out.parent, True)
        step = ["--step", args["step"]] if args.get("step") is not None else []
        run(crossover_binary(args.get("crossover")), ["export", "hf", run_dir, "--out", out, *step])
        export = out
    hf_args = {k: v for k, v in args.items() if k not in _OWN}
    hf_args["pretrained"] = str(export)
    model = _hflm_class().create_from_arg_obj(hf_args, additional)
    model.predictable = json.loads((Path(export) / "config.json").read_text())["crossover"][
        "vocab_size"]
    return model


@register_model("crossover")
class CrossoverLM(LM):
    """An MDM run scored by `crossover score` and sampled by `crossover generate`."""

    @classmethod
    def create_from_arg_string(cls, arg_string, additional_config=None):
        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)

    @classmethod
    def create_from_arg_obj(cls, arg_dict, additional_config=None):
        args = dict(arg_dict)
        additional = {k: v for k, v in (additional_config or {}).items() if v is not None}
        run_dir, objective, export = _resolve(args)
        if objective == "ar":
            return _hf_model(args, additional, export, run_dir)
        if objective != "mdm":
            raise ValueError(f"{run_dir}: objective {objective!r} is neither ar nor mdm")
        args["run"] = str(run_dir)
        args.pop("pretrained", None)
        return cls(**args, device=additional.get("device"))

    def __init__(self, run, step=None, crossover=None, mc_num=None, threads=None, device=None,
                 gen_steps=None, block_length=None, max_gen_toks=64, **ignored):
        super().__init__()
        self.run_dir = str(run)
        self.binary = crossover_binary(crossover)
        self.common = []
        if step is not None:
            self.common += ["--step", int(step)]
        if threads is not None:
            self.common += ["--threads", int(threads)]
        if device is not None:
            self.common += ["--device", "cuda" if str(device).startswith("cuda") else str(device)]
        self.mc_num = int(mc_num) if mc_num is not None else None
        self.gen_steps, self.block_length = gen_steps, block_length
        self.max_gen_toks = int(max_gen_toks)

    def _score(self, lines):
        """`crossover score` over request dicts; one answer dict each."""
        with tempfile.TemporaryDirectory(prefix="crossover-score-") as tmp:
            requests, answers = Path(tmp) / "requests.jsonl", Path(tmp) / "answers.jsonl"
            requests.write_text("".join(json.dumps(l) + "\n" for l in lines))
            samples = ["--samples", self.mc_num] if self.mc_num else []
            run(self.binary, ["score", self.run_dir, "--requests", requests, "--out", answers,
                              *samples, *self.common])
            out = [json.loads(l) for l in answers.read_text().splitlines()]
        if len(out) != len(lines):
            raise RuntimeError(f"crossover score answered {len(out)} of {len(lines)} requests")
        return out

    def loglikelihood(self, requests, disable_tqdm=False):
        # Options of a document stay together (and in order), keyed by its id, so that crossover
        # scores them as `crossover eval` scores an example's options.
        order = sorted(range(len(requests)),
                       key=lambda i: (requests[i].task_name or "", requests[i].doc_id or 0, i))
        lines = []
        for i in order:
            context, continuation = requests[i].args[:2]
            key = requests[i].doc_id if requests[i].doc_id is not None else i
            lines.append({"context": context, "continuation": continuation, "key": int(key)})
        answers = self._score(lines)
        result = [None] * len(requests)
        for i, a in zip(order, answers):
            result[i] = (-a["nll"], False)
            self.cache_hook.add_partial("loglikelihood", requests[i].args, result[i])
        return result

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        lines = [{"rolling": r.args[0], "key": i} for i, r in enumerate(requests)]
        result = [-a["nll"] for a in self._score(lines)]
        for r, ll in zip(requests, result):
            self.cache_hook.add_partial("loglikelihood_rolling", r.args, ll)
        return result

    def generate_until(self, requests, disable_tqdm=False):
        result = []
        for r in requests:
            context, kwargs = r.args[0], dict(r.args[1] or {})
            until = kwargs.get("until") or []
            if isinstance(until, str):
                until = [until]
            max_new = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            args = ["generate", self.run_dir, "--prompt", context, "--max-new", max_new,
                    "--temperature", 0, *self.common]
            if self.gen_steps is not None:
                args += ["--steps", int(self.gen_steps)]
            if self.block_length is not None:
                args += ["--block-length", int(self.block_length)]
            text = parse_completions(run(self.binary, args))[0]
            completion = text[len(context):] if text.startswith(context) else text
            for stop in until:
                if stop and stop in completion:
                    completion = completion[:completion.index(stop)]
            self.cache_hook.add_partial("generate_until", r.args, completion)
            result.append(completion)
        return result


_HEADER = re.compile(r"^--- (\d+): \d+ prompt tokens, \d+ new \(.*\) ---$", re.M)


def parse_completions(stdout):
    """The texts `crossover generate` printed, in prompt order."""
    heads = list(_HEADER.finditer(stdout))
    texts = []
    for h, nxt in zip(heads, heads[1:] + [None]):
        end = nxt.start() if nxt else len(stdout)
        texts.append(stdout[h.end() + 1:end].removesuffix("\n"))
    return texts
