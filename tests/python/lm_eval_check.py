"""lm-evaluation-harness against `crossover eval` on the same task files, offline.

Runs the `crossover` model of python/crossover_lm on an AR run (lm-eval's own hf model on the
export, through the crossover-lm-eval command) and an MDM run (crossover score, through
lm_eval.simple_evaluate), on local task YAMLs (dataset_path: json, data_files) over a HellaSwag-
form and an MMLU-form file, and compares with the `crossover eval` reports given:
  acc             equal (AR: the same exact NLLs; MDM: the same estimator, masks and forwards);
  option NLLs     AR: hf's log-likelihoods = -`crossover score`'s within 1e-4; MDM: equal to 1e-9;
  acc_norm        lm-eval's (NLL / len(choice)) recomputed from crossover's NLLs equals
                  lm-eval's; crossover's (NLL / chars(" " + choice)) recomputed equals eval's.
Prints RESULT {json}; exits 1 on the first mismatch.

usage: lm_eval_check.py --crossover BIN --ar RUN --mdm RUN --cloze FILE --mmlu FILE
                        --ar-eval JSON --mdm-eval JSON --mc-num K --work DIR
"""
import argparse
import glob
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
os.environ.update(HF_DATASETS_OFFLINE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                  TOKENIZERS_PARALLELISM="false")

HELLASWAG = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
output_type: multiple_choice
test_split: test
doc_to_text: ctx
doc_to_choice: endings
doc_to_target: label
metric_list:
  - metric: acc
  - metric: acc_norm
"""
MMLU = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {path}
output_type: multiple_choice
test_split: test
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: answer
metric_list:
  - metric: acc
  - metric: acc_norm
"""


EVAL_NAME = {}


def fail(msg):
    print("MISMATCH", msg)
    sys.exit(1)


def read_jsonl(path):
    return [json.loads(l) for l in Path(path).read_text().splitlines() if l.strip()]


def examples(path, form):
    """(context, [options without the delimiter], label) per line, as the YAMLs render them."""
    out = []
    for d in read_jsonl(path):
        if form == "hellaswag":
            out.append((d["ctx"], d["endings"], d["label"]))
        else:
            out.append(("Question: " + d["question"] + "\nAnswer:", d["choices"], d["answer"]))
    return out


def crossover_nll(binary, run, tasks, mc_num, work):
    """`crossover score` NLLs per task: [[nll per option] per example]."""
    out = {}
    for name, exs in tasks.items():
        lines = [{"context": c, "continuation": " " + o, "key": i}
                 for i, (c, opts, _) in enumerate(exs) for o in opts]
        req, ans = work / f"{name}-req.jsonl", work / f"{name}-{Path(run).name}-ans.jsonl"
        req.write_text("".join(json.dumps(l) + "\n" for l in lines))
        subprocess.run([binary, "score", run, "--requests", req, "--out", ans, "--samples",
                        str(mc_num)], check=True)
        nll = [a["nll"] for a in read_jsonl(ans)]
        it = iter(nll)
        out[name] = [[next(it) for _ in opts] for _, opts, _ in exs]
    return out


def argmin(v):
    return min(range(len(v)), key=lambda j: (v[j], j))


def accuracies(nlls, exs, norm):
    hits = [argmin([n / norm(o) for n, o in zip(nll, opts)]) == label
            for nll, (_, opts, label) in zip(nlls, exs)]
    return sum(hits) / len(hits)


def compare(tag, lm, cx_eval, nlls, tasks):
    got = {}
    for name, exs in tasks.items():
        r, e = lm[name], cx_eval["tasks"][EVAL_NAME[name]]
        acc, acc_norm = r["acc,none"], r["acc_norm,none"]
        got[name] = {"lm_eval_acc": acc, "crossover_acc": e["acc"],
                     "lm_eval_acc_norm": acc_norm, "crossover_acc_norm": e["acc_norm"]}
        if abs(acc - e["acc"]) > 1e-12:
            fail(f"{tag} {name}: lm-eval acc {acc} != crossover eval acc {e['acc']}")
        if abs(accuracies(nlls[name], exs, lambda o: 1.0) - e["acc"]) > 1e-12:
            fail(f"{tag} {name}: crossover score's acc differs from crossover eval's")
        lm_norm = accuracies(nlls[name], exs, lambda o: float(len(o)))
        if abs(lm_norm - acc_norm) > 1e-12:
            fail(f"{tag} {name}: lm-eval acc_norm {acc_norm} != NLL/len(choice) {lm_norm}")
        cx_norm = accuracies(nlls[name], exs, lambda o: float(len(" " + o)))
        if abs(cx_norm - e["acc_norm"]) > 1e-12:
            fail(f"{tag} {name}: crossover acc_norm {e['acc_norm']} != NLL/chars {cx_norm}")
    return got


def logged_loglikelihoods(out_dir, name):
    """Per example, the log-likelihood lm-eval got for each option (--log_samples)."""
    (path,) = glob.glob(str(out_dir / "**" / f"samples_{name}_*.jsonl"), recursive=True)
    docs = sorted(read_jsonl(path), key=lambda d: d["doc_id"])
    return [[float(r[0][0]) for r in d["resps"]] for d in docs]


def main():
    p = argparse.ArgumentParser()
    for a in ("crossover", "ar", "mdm", "cloze", "mmlu", "ar_eval", "mdm_eval", "work"):
        p.add_argument("--" + a.replace("_", "-"), required=True)
    p.add_argument("--mc-num", type=int, required=True)
    a = p.parse_args()
    work = Path(a.work)
    tasks_dir = work / "tasks"
    tasks_dir.mkdir(parents=True, exist_ok=True)
    (tasks_dir / "t_cloze.yaml").write_text(HELLASWAG.format(name="t_cloze", path=a.cloze))
    (tasks_dir / "t_mmlu.yaml").write_text(MMLU.format(name="t_mmlu", path=a.mmlu))
    tasks = {"t_cloze": examples(a.cloze, "hellaswag"), "t_mmlu": examples(a.mmlu, "mmlu")}
    global EVAL_NAME  # crossover names a task by its file's stem
    EVAL_NAME = {"t_cloze": Path(a.cloze).stem, "t_mmlu": Path(a.mmlu).stem}
    ar_eval, mdm_eval = (json.loads(Path(f).read_text()) for f in (a.ar_eval, a.mdm_eval))

    # AR: the console command, i.e. lm-eval's CLI with the model registered -> hf on the export.
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    ar_out = work / "ar-out"
    subprocess.run([sys.executable, "-m", "crossover_lm.lm_eval_cli", "--model", "crossover",
                    "--model_args", f"run={a.ar},crossover={a.crossover}", "--device", "cpu",
                    "--tasks", "t_cloze,t_mmlu", "--include_path", str(tasks_dir),
                    "--output_path", str(ar_out), "--log_samples", "--batch_size", "4"],
                   check=True, env=env)
    (results,) = glob.glob(str(ar_out / "**" / "results_*.json"), recursive=True)
    ar_lm = json.loads(Path(results).read_text())["results"]
    ar_nll = crossover_nll(a.crossover, a.ar, tasks, a.mc_num, work)
    worst = 0.0
    for name in tasks:
        for hf, cx in zip(logged_loglikelihoods(ar_out, name), ar_nll[name]):
            worst = max(worst, max(abs(h + c) for h, c in zip(hf, cx)))
    if worst > 1e-4:
        fail(f"ar: hf log-likelihoods differ from crossover's NLLs by {worst}")
    result = {"ar": compare("ar", ar_lm, ar_eval, ar_nll, tasks), "ar_max_abs_ll_diff": worst}

    # MDM: the registered model in-process.
    import lm_eval
    import crossover_lm.lm_eval_model  # noqa: F401
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(
        model="crossover",
        model_args=f"run={a.mdm},crossover={a.crossover},mc_num={a.mc_num}",
        tasks=["t_cloze", "t_mmlu"], task_manager=TaskManager(include_path=str(tasks_dir)),
        device="cpu", log_samples=True)
    mdm_nll = crossover_nll(a.crossover, a.mdm, tasks, a.mc_num, work)
    for name in tasks:
        docs = sorted(out["samples"][name], key=lambda d: d["doc_id"])
        for d, cx in zip(docs, mdm_nll[name]):
            lls = [float(r[0][0]) for r in d["resps"]]
            if max(abs(l + c) for l, c in zip(lls, cx)) > 1e-9:
                fail(f"mdm {name} doc {d['doc_id']}: lm-eval {lls} != -crossover score {cx}")
    result["mdm"] = compare("mdm", out["results"], mdm_eval, mdm_nll, tasks)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
