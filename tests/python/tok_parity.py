"""Token ids of `crossover prepare --tokenizer FILE` against the reference libraries.

For every fixture of tok_fixtures.py (tokenizer.json layouts and tiktoken files) it prepares a
corpus of JSON lines (KJV, multilingual, emoji, whitespace runs, digits, specials in text) plus a
text file of lines with invalid UTF-8, with no validation split, reads train.bin back and
compares each document's ids with the reference's (`tokenizers` encode_batch without special
tokens, tiktoken encode_ordinary_batch; invalid UTF-8 decoded with U+FFFD per maximal subpart,
Python's decode('utf-8', 'replace')). Also checks meta.json (kind, mask id, eos).
Prints `RESULT {json}`; exits non-zero on any difference.

usage: tok_parity.py CROSSOVER_BINARY WORK_DIR
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tok_fixtures  # noqa: E402


def read_store(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"XOVRTOKS", path
    _, width, vocab, n_tokens, n_docs = struct.unpack_from("<IIQQQ", data, 8)
    ids = np.frombuffer(data, dtype=np.uint16 if width == 2 else np.uint32, count=n_tokens, offset=64)
    off_at = (64 + n_tokens * width + 7) // 8 * 8
    offsets = np.frombuffer(data, dtype=np.uint64, count=n_docs + 1, offset=off_at)
    return [ids[offsets[d]:offsets[d + 1]].tolist() for d in range(n_docs)], vocab


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    paths = tok_fixtures.write_fixtures(os.path.join(work, "fixtures"))
    docs = tok_fixtures.documents(tok_fixtures.kjv_text())
    corpus = os.path.join(work, "corpus.jsonl")
    with open(corpus, "w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    invalid = os.path.join(work, "invalid.txt")
    with open(invalid, "wb") as f:
        f.write(b"\n".join(tok_fixtures.INVALID_LINES) + b"\n")
    texts = docs + [raw.decode("utf-8", "replace") for raw in tok_fixtures.INVALID_LINES]

    result, failed = {}, False
    for name, path in paths.items():
        out = os.path.join(work, "prep-" + name)
        r = subprocess.run([binary, "prepare", "--input", corpus, invalid, "--doc-split", "line",
                            "--tokenizer", path, "--out", out, "--val-docs", "0", "--threads", "2",
                            "--force"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{name}: prepare failed:\n{r.stdout}{r.stderr}")
            result[name] = {"error": "prepare failed"}
            failed = True
            continue
        got, store_vocab = read_store(os.path.join(out, "train.bin"))
        want = tok_fixtures.reference(path)(texts)
        mismatches = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
        if len(got) != len(want):
            print(f"{name}: {len(got)} documents, the reference has {len(want)}")
            failed = True
        for i in mismatches[:3]:
            g, w = got[i], want[i]
            k = next((j for j in range(min(len(g), len(w))) if g[j] != w[j]), min(len(g), len(w)))
            print(f"{name}: document {i} differs at token {k}: {texts[i][:80]!r}\n"
                  f"  crossover {g[max(0, k - 3):k + 5]}\n  reference {w[max(0, k - 3):k + 5]}")
        meta = json.load(open(os.path.join(out, "meta.json")))
        ref_vocab = (len(json.load(open(path))["model"]["vocab"]) if path.endswith(".json") else
                     max(json.load(open(path + ".json"))["special_tokens"].values()) + 1)
        eos_text = {"llama3": "<|end_of_text|>", "llama2": "</s>", "mistral": "</s>",
                    "metaspace-split": "</s>"}.get(name, "<|endoftext|>")
        eos_ref = (tok_fixtures.Tokenizer.from_file(path).token_to_id(eos_text) if path.endswith(".json")
                   else json.load(open(path + ".json"))["special_tokens"][eos_text])
        meta_ok = (meta["tokenizer"]["kind"] == ("tiktoken" if path.endswith(".tiktoken") else "huggingface")
                   and meta["special_ids"]["mask"] == meta["vocab_size"]
                   and meta["tokenizer"]["mask_appended"] is True
                   and meta["special_ids"]["eos"] == eos_ref
                   and meta["tokenizer"]["eos_token"] == eos_text
                   and store_vocab == meta["vocab_size"])
        # The largest id of the file + 1 (added tokens beyond the model's vocabulary count).
        max_id = max(max(json.load(open(path))["model"]["vocab"].values()),
                     max([t["id"] for t in json.load(open(path))["added_tokens"]], default=0)) \
            if path.endswith(".json") else ref_vocab - 1
        meta_ok = meta_ok and meta["vocab_size"] == max_id + 1
        if not meta_ok:
            print(f"{name}: meta.json: {json.dumps(meta['tokenizer'])} {meta['special_ids']} "
                  f"vocab {meta['vocab_size']} (expected {max_id + 1}, eos {eos_ref})")
        failed = failed or bool(mismatches) or not meta_ok
        result[name] = {"documents": len(got), "tokens": sum(map(len, got)),
                        "mismatched_documents": len(mismatches), "meta_ok": meta_ok}
    print("RESULT " + json.dumps(result))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
