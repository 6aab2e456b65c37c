"""prepare's options for pretrained tokenizers, and the Unicode-version gap, against the references.

- Unicode gap: Debian 12's PCRE2 has Unicode 14 tables, `tokenizers` 0.22 Unicode 15.1. A probe
  text with U+1E030 (a Unicode 15 letter, unassigned for PCRE2) must be counted in meta.json
  (tokenizer.unassigned_codepoints) and warned about; its ids are compared with the reference's
  as documented below.
- --split-special-tokens: ids equal `tokenizers` with encode_special_tokens=True (special strings
  are text, non-special added tokens still cut out); without it, the default encode.
- --eos-token: meta.json's eos is that token's id; a token not in the file is refused.
- --mask-token: a token that is the file's largest id becomes [MASK] (nothing appended); another
  is refused. tokenizer_options.json keeps the choices beside the data's tokenizer.
Prints `RESULT {json}`; exits non-zero on the first failed check.

usage: tok_options.py CROSSOVER_BINARY WORK_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tok_fixtures  # noqa: E402
from tok_parity import read_store  # noqa: E402
from tokenizers import AddedToken, Tokenizer  # noqa: E402

# U+1E030 MODIFIER LETTER CYRILLIC SMALL A (Unicode 15.0, category Lm).
NEW_LETTER = "\U0001E030"
PROBE = ["The Lord" + NEW_LETTER + "s word", "a" + NEW_LETTER + NEW_LETTER + "b " + NEW_LETTER,
         "plain text without new letters"]
GAP_DOC = "The Lord" + NEW_LETTER + "s word "
# How PCRE2 (Unicode 14) splits GAP_DOC: U+1E030 is no letter there, so it is a piece of its own.
GAP_PIECES = ["The", " Lord", NEW_LETTER, "s", " word", " "]
SPECIAL_TEXT = ["before <|end_of_text|> after", "x<|begin_of_text|>y <|sep|>  z", "no specials"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAILED: " + what)


def prepare(binary, work, name, tokenizer, docs, *extra):
    corpus = os.path.join(work, name + ".jsonl")
    with open(corpus, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    out = os.path.join(work, "prep-" + name)
    r = subprocess.run([binary, "prepare", "--input", corpus, "--tokenizer", tokenizer, "--out", out,
                        "--val-docs", "0", "--threads", "2", "--force", *extra],
                       capture_output=True, text=True)
    meta = json.load(open(os.path.join(out, "meta.json"))) if r.returncode == 0 else None
    ids = read_store(os.path.join(out, "train.bin"))[0] if r.returncode == 0 else None
    return r, meta, ids, out


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    texts = tok_fixtures.training_text(tok_fixtures.kjv_text("Ge1:1-Ge5:32"))
    paths = {}
    for name in ("gpt2", "llama3"):
        paths[name] = os.path.join(work, name + ".json")
        tok_fixtures.make_hf(name, texts, 600).save(paths[name])
    # Trained where the new letter occurs: tokenizers' pre-tokenizer keeps "Lord\U0001E030s" one
    # piece (a letter run), so it learns merges across the letter's bytes.
    paths["gpt2-new"] = os.path.join(work, "gpt2-new.json")
    tok_fixtures.make_hf("gpt2", texts + [GAP_DOC * 300], 600).save(paths["gpt2-new"])
    result = {}

    # 1. The Unicode-version gap.
    r, meta, got, _ = prepare(binary, work, "probe", paths["gpt2"], PROBE)
    check(r.returncode == 0, "probe: prepare failed: " + r.stderr[-2000:])
    if meta:
        n = meta["tokenizer"].get("unassigned_codepoints")
        check(n == 4, f"probe: unassigned_codepoints {n}, expected 4")
        check("4 code point(s)" in r.stdout + r.stderr and "may differ" in r.stdout + r.stderr,
              "probe: no warning naming the count")
        ref = Tokenizer.from_file(paths["gpt2"])
        want = [e.ids for e in ref.encode_batch(PROBE, add_special_tokens=False)]
        # With a vocabulary that has no merge across the new letter's bytes (the fixture never
        # saw it), splitting around it changes nothing: the ids are equal.
        check(got == want, f"probe: ids {got} differ from tokenizers' {want}")
        result["probe"] = {"unassigned": n, "equal": got == want}

    r, meta, got, _ = prepare(binary, work, "gap", paths["gpt2-new"], [GAP_DOC, "plain"])
    check(r.returncode == 0, "gap: prepare failed: " + r.stderr[-2000:])
    if meta:
        check(meta["tokenizer"].get("unassigned_codepoints") == 1, "gap: unassigned_codepoints")
        ref = Tokenizer.from_file(paths["gpt2-new"])
        whole = ref.encode(GAP_DOC, add_special_tokens=False).ids
        split = [i for p in GAP_PIECES for i in ref.encode(p, add_special_tokens=False).ids]
        # The known difference: tokenizers takes "Lord\U0001E030s" as one letter run and merges
        # across it; crossover's ids are tokenizers' ids of PCRE2's pieces.
        check(got[0] == split, f"gap: crossover {got}, tokenizers on PCRE2's pieces {split}")
        check(whole != split, f"gap: tokenizers gives {whole} either way: the probe shows no gap")
        result["gap"] = {"crossover": got[0], "tokenizers": whole}

    # 2. --split-special-tokens (llama3: <|begin_of_text|>, <|end_of_text|> and <|sep|>
    # (lstrip, rstrip) are special).
    ref = Tokenizer.from_file(paths["llama3"])
    default_ids = [e.ids for e in ref.encode_batch(SPECIAL_TEXT, add_special_tokens=False)]
    ref.encode_special_tokens = True
    split_ids = [e.ids for e in ref.encode_batch(SPECIAL_TEXT, add_special_tokens=False)]
    check(default_ids != split_ids, "split: the reference gives the same ids either way")
    for flag, want in (([], default_ids), (["--split-special-tokens"], split_ids)):
        r, meta, got, out = prepare(binary, work, "split" + str(len(flag)), paths["llama3"],
                                    SPECIAL_TEXT, *flag)
        check(r.returncode == 0 and got == want, f"split {flag}: {got} vs tokenizers {want} "
              + r.stderr[-1000:])
        if meta:
            check(meta["tokenizer"]["split_special_tokens"] == bool(flag), "split: meta.json")
            check(os.path.exists(os.path.join(out, "tokenizer_options.json")) == bool(flag),
                  "split: tokenizer_options.json")
    result["split_special_tokens"] = {"default": default_ids[0], "split": split_ids[0]}

    # 3. --eos-token.
    r, meta, _, _ = prepare(binary, work, "eos", paths["llama3"], SPECIAL_TEXT,
                            "--eos-token", "<|sep|>")
    check(r.returncode == 0 and meta["special_ids"]["eos"] == ref.token_to_id("<|sep|>")
          and meta["tokenizer"]["eos_token"] == "<|sep|>", "eos: meta.json " + r.stderr[-1000:])
    r, _, _, _ = prepare(binary, work, "eos-bad", paths["llama3"], SPECIAL_TEXT,
                         "--eos-token", "<|nope|>")
    check(r.returncode != 0 and paths["llama3"] in r.stderr and "<|nope|>" in r.stderr
          and "is not a token of this file" in r.stderr, "eos: refusal " + r.stderr[-1000:])

    # 4. --mask-token: the file's largest id serves; another id is refused.
    masked = os.path.join(work, "gpt2-mask.json")
    tok = Tokenizer.from_file(paths["gpt2"])
    tok.add_special_tokens([AddedToken("<|diffusion_mask|>", special=True)])
    tok.save(masked)
    mask_id = tok.token_to_id("<|diffusion_mask|>")
    r, meta, got, out = prepare(binary, work, "mask", masked, PROBE, "--mask-token",
                                "<|diffusion_mask|>")
    want = [e.ids for e in tok.encode_batch(PROBE, add_special_tokens=False)]
    check(r.returncode == 0 and meta["special_ids"]["mask"] == mask_id
          and meta["vocab_size"] == mask_id and meta["tokenizer"]["mask_appended"] is False
          and got == want, f"mask: meta.json {meta and meta['special_ids']} " + r.stderr[-1000:])
    if meta:
        opts = json.load(open(os.path.join(out, "tokenizer_options.json")))
        check(opts.get("mask_token") == "<|diffusion_mask|>", f"mask: tokenizer_options.json {opts}")
    r, _, _, _ = prepare(binary, work, "mask-bad", masked, PROBE, "--mask-token", "<|endoftext|>")
    check(r.returncode != 0 and masked in r.stderr and "must be the largest id" in r.stderr,
          "mask: refusal " + r.stderr[-1000:])
    print("RESULT " + json.dumps(result))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
