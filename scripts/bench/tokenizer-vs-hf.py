#!/usr/bin/env python3
"""Encoding throughput of `crossover prepare --tokenizer FILE` against the reference libraries.

Encodes the same documents with crossover (one thread, then all cores) and with `tokenizers`'
batch encoder (RAYON_NUM_THREADS=1, then all cores) or tiktoken's encode_ordinary_batch, checks
that the ids agree, and prints MB/s of UTF-8 input by wall clock and per CPU-second (user + sys
of the encoding process: "per core").

usage: scripts/bench/tokenizer-vs-hf.py [--crossover build/crossover] [--tokenizer FILE]
           [--input TEXT_FILE] [--repeat N]
Without --tokenizer it trains a 32000-token GPT-2-layout byte-level BPE on the KJV (tokenizers,
no network); without --input the text is the KJV (`bible`, Debian's bible-kjv) plus
multilingual paragraphs, repeated --repeat times. Documents are the blank-line separated
paragraphs of the text (crossover's --doc-split blank-line).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
import tok_fixtures  # noqa: E402

REFERENCE = r"""
import json, os, resource, sys, time
path, docs_path, out_path = sys.argv[1:4]
docs = json.load(open(docs_path))
if path.endswith(".tiktoken"):
    sys.path.insert(0, sys.argv[4])
    import tok_fixtures
    enc = tok_fixtures.reference(path)
else:
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    enc = lambda t: [e.ids for e in tok.encode_batch(t, add_special_tokens=False)]
enc(docs[:100])  # warm up the pool
r0 = resource.getrusage(resource.RUSAGE_SELF); t0 = time.perf_counter()
ids = []
for i in range(0, len(docs), 2000):
    ids.extend(enc(docs[i:i + 2000]))
t1 = time.perf_counter(); r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
json.dump({"seconds": t1 - t0, "cpu": cpu, "tokens": sum(map(len, ids)),
           "ids_head": [x for d in ids[:200] for x in d]}, open(out_path, "w"))
"""


def paragraphs(text):
    # As crossover's --doc-split blank-line: newlines around a paragraph are not part of it.
    return [p.strip("\n") for p in text.split("\n\n") if p.strip("\n")]


def run_reference(tokenizer, docs_path, threads, work):
    out = os.path.join(work, "ref.json")
    env = dict(os.environ)
    if threads == 1:
        env["RAYON_NUM_THREADS"] = "1"
    else:
        env.pop("RAYON_NUM_THREADS", None)
    subprocess.run([sys.executable, "-c", REFERENCE, tokenizer, docs_path, out,
                    os.path.join(ROOT, "tests", "python")], check=True, env=env)
    return json.load(open(out))


def run_crossover(binary, tokenizer, text_path, threads, work):
    out = os.path.join(work, "prep")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run([binary, "prepare", "--input", text_path, "--doc-split", "blank-line",
                        "--tokenizer", tokenizer, "--out", out, "--val-docs", "0", "--threads",
                        str(threads), "--force"], capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit("crossover prepare failed:\n" + r.stdout + r.stderr)
    # "prepare: encoded D documents into T tokens in S s on N threads: ..."
    line = next(l for l in (r.stdout + r.stderr).splitlines() if "prepare: encoded" in l)
    seconds = float(line.split(" tokens in ")[1].split(" s ")[0])
    meta = json.load(open(os.path.join(out, "meta.json")))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": max(seconds, 0.05), "cpu_process": cpu, "tokens": meta["train"]["tokens"], "out": out}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--crossover", default=os.path.join(ROOT, "build", "crossover"))
    ap.add_argument("--tokenizer")
    ap.add_argument("--input")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="tok-bench-")
    kjv = tok_fixtures.kjv_text("Ge1:1-Re22:21")
    if a.tokenizer is None:
        a.tokenizer = os.path.join(work, "gpt2-32k.json")
        tok_fixtures.make_hf("gpt2", tok_fixtures.training_text(kjv), 32000).save(a.tokenizer)
    if a.input:
        text = open(a.input, encoding="utf-8", errors="replace").read()
    else:
        verses = kjv.split("\n")
        # Paragraphs of 10 verses, with the multilingual samples between them.
        paras = ["\n".join(verses[i:i + 10]) for i in range(0, len(verses), 10)]
        multi = tok_fixtures.MULTILINGUAL
        paras = [p if k % 20 else p + "\n" + multi[(k // 20) % len(multi)] for k, p in enumerate(paras)]
        paras = [p.strip("\n") for p in paras if p.strip("\n")]
        text = "\n\n".join(paras * a.repeat) + "\n"
    text_path = os.path.join(work, "corpus.txt")
    with open(text_path, "w") as f:
        f.write(text)
    docs = paragraphs(text)
    docs_path = os.path.join(work, "docs.json")
    json.dump(docs, open(docs_path, "w"))
    mb = sum(len(d.encode()) for d in docs) / 1e6
    cores = os.cpu_count()
    print(f"tokenizer {a.tokenizer}; {len(docs)} documents, {mb:.1f} MB of UTF-8; {cores} cores")

    rows = []
    for threads in (1, cores):
        ref = run_reference(a.tokenizer, docs_path, threads, work)
        xo = run_crossover(a.crossover, a.tokenizer, text_path, threads, work)
        if ref["tokens"] != xo["tokens"]:
            sys.exit(f"token counts differ: reference {ref['tokens']}, crossover {xo['tokens']}")
        name = "tiktoken" if a.tokenizer.endswith(".tiktoken") else "tokenizers"
        rows.append((f"{name} ({threads} thread{'s' if threads > 1 else ''})", ref["seconds"], ref["cpu"]))
        # crossover's CPU time covers the whole process (counting and reading passes included).
        rows.append((f"crossover ({threads} thread{'s' if threads > 1 else ''})", xo["seconds"],
                     xo["cpu_process"]))
    print(f"{'encoder':28s} {'seconds':>8s} {'MB/s':>8s} {'MB per CPU-s':>13s}")
    for name, secs, cpu in rows:
        print(f"{name:28s} {secs:8.2f} {mb / secs:8.2f} {mb / cpu:13.2f}")
    print(f"tokens: {xo['tokens']} (equal in both)")


if __name__ == "__main__":
    main()
