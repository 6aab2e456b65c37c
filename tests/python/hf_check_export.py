"""Checks a `crossover export hf` directory with transformers itself (tests/hf/test_hf_export.cpp).

Loads the export with AutoModelForCausalLM and AutoTokenizer (no custom code) and compares, in
fp32 on the CPU, against what crossover computed for the same checkpoint (REF, a safetensors
file the C++ test writes): the logits over the real vocabulary for `ids` (causal for AR; for MDM
bidirectional, through a 4-D attention mask of zeros, on ids that contain [MASK]), under both the
eager and the SDPA attention of transformers; for AR the validation NLL on crossover's validation
windows; and the tokenizer's ids for the texts of TOKENS (JSON). Prints one line
`RESULT {json}` with the measured figures; exits 1 naming every check that failed.
"""

import argparse
import json
import sys

try:
    import torch
    import transformers
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
except ImportError as e:  # the test says how to make the environment
    print(f"missing Python package ({e}): run scripts/setup/install.sh")
    sys.exit(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("export_dir")
    p.add_argument("--ref", required=True, help="safetensors: ids, logits [, val_windows]")
    p.add_argument("--objective", choices=["ar", "mdm"], required=True)
    p.add_argument("--arch", required=True, help="expected architecture class")
    p.add_argument("--val-loss", type=float, help="crossover's validation loss (ar)")
    p.add_argument("--tokens", help="JSON: texts and crossover's ids for them")
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()

    torch.manual_seed(0)
    failures, result = [], {"transformers": transformers.__version__}

    def check(ok, message):
        if not ok:
            failures.append(message)

    ref = load_file(a.ref)
    config = AutoConfig.from_pretrained(a.export_dir)
    vocab = config.crossover["vocab_size"]
    check(config.architectures == [a.arch], f"config.architectures {config.architectures}, expected [{a.arch}]")
    check(config.vocab_size == vocab + 1, f"vocab_size {config.vocab_size}, expected {vocab} + [MASK]")
    check(config.mask_token_id == vocab, f"mask_token_id {config.mask_token_id}, expected {vocab}")
    check(config.crossover["objective"] == a.objective, f"crossover.objective {config.crossover['objective']}")

    ids = ref["ids"].long()
    want = ref["logits"].float()
    causal = a.objective == "ar"
    if not causal:
        check(bool((ids == vocab).any()), "the MDM reference ids hold no [MASK]")
    diffs = {}
    for impl in ["eager", "sdpa"]:
        model = AutoModelForCausalLM.from_pretrained(a.export_dir, dtype=torch.float32, attn_implementation=impl)
        model.eval()
        check(type(model).__name__ == a.arch, f"loaded {type(model).__name__}, expected {a.arch}")
        B, T = ids.shape
        with torch.no_grad():
            if causal:
                got = model(input_ids=ids).logits
            else:
                # Every position attends to every other: an additive float mask of zeros
                # (eager adds it to the scores; SDPA takes it as is).
                full = torch.zeros(B, 1, T, T, dtype=model.dtype)
                got = model(input_ids=ids, attention_mask=full).logits
        check(got.shape[-1] == vocab + 1, f"{impl}: logits have {got.shape[-1]} columns, expected {vocab + 1}")
        diffs[impl] = (got[..., :vocab] - want).abs().max().item()
        check(diffs[impl] <= a.tol, f"{impl}: max |logit difference| {diffs[impl]:.3e} > {a.tol}")
        if not causal:
            # The check can fail: the same ids under the default (causal) mask are far off.
            with torch.no_grad():
                causal_logits = model(input_ids=ids).logits[..., :vocab]
            result[f"mdm_causal_diff_{impl}"] = (causal_logits - want).abs().max().item()
            check(result[f"mdm_causal_diff_{impl}"] > 100 * a.tol,
                  f"{impl}: causal logits match the bidirectional reference: the mask had no effect")
    result["max_abs_logit_diff"] = diffs
    result["max_abs_logit"] = want.abs().max().item()

    if causal and "val_windows" in ref:
        windows = ref["val_windows"].long()
        model = AutoModelForCausalLM.from_pretrained(a.export_dir, dtype=torch.float32)
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=windows[:, :-1]).logits[..., :vocab]
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, vocab).double(), windows[:, 1:].reshape(-1)).item()
        result["val_nll_transformers"] = nll
        result["val_nll_crossover"] = a.val_loss
        result["val_sequences"] = windows.shape[0]
        check(a.val_loss is not None and abs(nll - a.val_loss) <= a.tol,
              f"validation NLL {nll:.6f} from transformers, {a.val_loss} from crossover")

    gen = model.generation_config
    check(gen.suppress_tokens == [vocab], f"generation_config.suppress_tokens {gen.suppress_tokens}, expected [{vocab}]")
    check(gen.eos_token_id == config.eos_token_id, "generation_config eos differs from config.json's")

    if a.tokens:
        t = json.load(open(a.tokens))
        tok = AutoTokenizer.from_pretrained(a.export_dir)
        result["tokenizer"] = type(tok).__name__
        check(tok.is_fast, f"AutoTokenizer gave the slow {type(tok).__name__}")
        check(len(tok) == config.vocab_size, f"len(tokenizer) {len(tok)}, vocab_size {config.vocab_size}")
        check(tok.mask_token == "[MASK]" and tok.mask_token_id == vocab,
              f"mask token {tok.mask_token!r} id {tok.mask_token_id}, expected [MASK] {vocab}")
        for role in ["pad", "bos", "eos", "unk"]:
            check(getattr(tok, f"{role}_token_id") == t["special"][role],
                  f"{role}_token_id {getattr(tok, f'{role}_token_id')}, crossover {t['special'][role]}")
        slow = AutoTokenizer.from_pretrained(a.export_dir, use_fast=False)
        for text, want_ids in zip(t["texts"], t["ids"]):
            for name, tk in [("fast", tok), ("slow", slow)]:
                got_ids = tk(text)["input_ids"]
                check(got_ids == want_ids, f"{name} tokenizer: {text!r} -> {got_ids}, crossover {want_ids}")
            check(tok.decode(want_ids) == text, f"decode of {text!r} gave {tok.decode(want_ids)!r}")
        check(tok.convert_ids_to_tokens(vocab) == "[MASK]", "id vocab is not [MASK]")
        result["texts"] = len(t["texts"])

    print("RESULT " + json.dumps(result))
    for f in failures:
        print("FAILED: " + f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
