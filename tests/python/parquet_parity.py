"""Parquet corpora read by `crossover prepare` give the tokens of the same documents as JSON lines
(tests/data/test_prepare_parquet.cpp runs this).

Writes one set of documents as JSON lines and, with pyarrow itself, as Parquet files in many
forms: every codec crossover reads, dictionary on and off, data pages v1 and v2, tiny pages (many
per column chunk), several row groups, a dictionary that overflows into PLAIN pages, the
DELTA_LENGTH_BYTE_ARRAY and DELTA_BYTE_ARRAY encodings, large_string, nulls and empty strings,
statistics large enough to need a wide page-header read. Each is prepared with one tokenizer and
must give train.bin and val.bin byte-identical to the JSON-lines run, and the same meta.json
except `sources` and `input_bytes` (the files differ). Then: shards over Parquet files merged
equal one process, and malformed files/rows fail naming FILE (and ROW). Prints `RESULT {json}`.
"""

import argparse
import json
import os
import random
import subprocess
import sys

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError as e:
    print(f"missing Python package ({e}): run scripts/setup/install.sh")
    sys.exit(2)

WORDS = ["the", "river", "stone", "light", "\"quoted\"", "back\\slash", "tab\there", "wörd", "✓",
         "日本語", "emoji😀", "naïve", "line\nbreak", "  spaces  ", "Ωmega", "x"]


def make_docs(n, seed):
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        if i % 97 == 13:
            length = rng.randint(2000, 6000)  # long: page statistics past 4 KiB, big values
        else:
            length = rng.randint(1, 60)
        words = [rng.choice(WORDS) for _ in range(length)]
        docs.append(f"doc {seed}-{i}: " + " ".join(words))
    # Repeats, so dictionaries pay off, and a shared prefix, for DELTA_BYTE_ARRAY.
    for i in range(0, n, 7):
        docs[i] = docs[i // 2]
    # The greatest value, about 2.7 KB: page headers carry it as their max statistic (pyarrow
    # drops statistics over 4 KiB), so the reader must widen its first 1 KiB header read.
    docs[n * 5 // 8] = "~ " + " ".join(WORDS[k % 5] for k in range(450))
    return docs


def run(args, expect_ok=True):
    r = subprocess.run(args, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if expect_ok and r.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(args)}\n{out}")
    return r.returncode, out


def write_jsonl(path, texts):
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t, "meta": {"src": "t"}}, ensure_ascii=False) + "\n")


def table(texts, text_type=pa.string()):
    n = len(texts)
    return pa.table({
        "id": pa.array(range(n), pa.int64()),
        "meta": pa.array([{"src": "t", "score": i / 7} for i in range(n)],
                         pa.struct([("src", pa.string()), ("score", pa.float64())])),
        "tags": pa.array([["a", "b"][: i % 3] for i in range(n)], pa.list_(pa.string())),
        "text": pa.array(texts, text_type),
        "url": pa.array([f"https://example.org/{i}" for i in range(n)], pa.string()),
    })


def compare(ref_dir, out_dir, label):
    for name in ("train.bin", "val.bin"):
        with open(os.path.join(ref_dir, name), "rb") as a, open(os.path.join(out_dir, name), "rb") as b:
            if a.read() != b.read():
                raise SystemExit(f"FAILED: {label}: {name} differs from the JSON-lines run")
    metas = []
    for d in (ref_dir, out_dir):
        with open(os.path.join(d, "meta.json")) as f:
            m = json.load(f)
        m.pop("sources")
        m.pop("input_bytes")
        metas.append(m)
    if metas[0] != metas[1]:
        raise SystemExit(f"FAILED: {label}: meta.json differs:\n{metas[0]}\n{metas[1]}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("crossover")
    p.add_argument("work")
    a = p.parse_args()
    w = a.work
    os.makedirs(w, exist_ok=True)
    xo = a.crossover

    docs = make_docs(400, 1)
    # Nulls and empty strings: a null is a bad row (skipped with --skip-bad-lines, counted), an
    # empty string no document, in both formats.
    with_nulls = [None if i % 41 == 5 else ("" if i % 53 == 7 else t) for i, t in enumerate(docs)]

    write_jsonl(f"{w}/docs.jsonl", docs)
    write_jsonl(f"{w}/nulls.jsonl", with_nulls)
    run([xo, "prepare", "--input", f"{w}/docs.jsonl", "--out", f"{w}/tok", "--vocab-size", "400",
         "--tokenizer-only", "--threads", "2"])
    tok = f"{w}/tok/tokenizer.model"

    def prepare(inputs, out, *extra, expect_ok=True):
        return run([xo, "prepare", "--input", *inputs, "--out", out, "--tokenizer", tok,
                    "--val-docs", "25", "--seed", "3", "--threads", "2", *extra], expect_ok)

    prepare([f"{w}/docs.jsonl"], f"{w}/ref")
    prepare([f"{w}/nulls.jsonl"], f"{w}/ref-nulls", "--skip-bad-lines")

    tiny = dict(data_page_size=512, write_batch_size=16)
    variants = {
        "plain-uncompressed": dict(compression="none", use_dictionary=False),
        "dict-snappy": dict(compression="snappy"),
        "dict-gzip-v2": dict(compression="gzip", data_page_version="2.0"),
        "plain-zstd-v2-tiny": dict(compression="zstd", use_dictionary=False,
                                   data_page_version="2.0", **tiny),
        "dict-zstd-tiny-rowgroups": dict(compression="zstd", row_group_size=37, **tiny),
        "dict-brotli": dict(compression="brotli"),
        "plain-lz4raw-v2": dict(compression="lz4", use_dictionary=False, data_page_version="2.0"),
        "dict-overflow-to-plain": dict(compression="snappy", dictionary_pagesize_limit=2048,
                                       **tiny),
        "delta-length": dict(compression="zstd", use_dictionary=False,
                             column_encoding={"text": "DELTA_LENGTH_BYTE_ARRAY"}, **tiny),
        "delta-byte-array-v2": dict(compression="snappy", use_dictionary=False,
                                    data_page_version="2.0",
                                    column_encoding={"text": "DELTA_BYTE_ARRAY"}, **tiny),
        "v2-uncompressed-values": dict(compression="none", data_page_version="2.0"),
        "no-statistics-gzip": dict(compression="gzip", write_statistics=False, row_group_size=100),
    }
    checked = []
    for name, opts in variants.items():
        path = f"{w}/{name}.parquet"
        pq.write_table(table(docs), path, **opts)
        prepare([path], f"{w}/{name}")
        compare(f"{w}/ref", f"{w}/{name}", name)
        checked.append(name)

    # large_string (the same physical BYTE_ARRAY) and a file without the .parquet name.
    pq.write_table(table(docs, pa.large_string()), f"{w}/large.data", compression="zstd")
    prepare([f"{w}/large.data"], f"{w}/large")
    compare(f"{w}/ref", f"{w}/large", "large_string, named .data")
    checked.append("large_string")

    # Nulls and empty strings, required and optional pages, v1 and v2.
    for version in ("1.0", "2.0"):
        name = f"nulls-v{version}"
        pq.write_table(table(with_nulls), f"{w}/{name}.parquet", data_page_version=version,
                       compression="snappy", **tiny)
        prepare([f"{w}/{name}.parquet"], f"{w}/{name}", "--skip-bad-lines")
        compare(f"{w}/ref-nulls", f"{w}/{name}", name)
        checked.append(name)

    # Several files, in order, and the same as several JSON-lines files; then 3 shards of them,
    # merged, equal the one-process run.
    parts = [docs[:90], docs[90:95], docs[95:300], docs[300:]]
    for k, part in enumerate(parts):
        write_jsonl(f"{w}/part{k}.jsonl", part)
        pq.write_table(table(part), f"{w}/part{k}.parquet", compression="zstd", row_group_size=50)
    prepare([f"{w}/part{k}.jsonl" for k in range(4)], f"{w}/parts-jsonl")
    parquet_parts = [f"{w}/part{k}.parquet" for k in range(4)]
    prepare(parquet_parts, f"{w}/parts-parquet")
    compare(f"{w}/parts-jsonl", f"{w}/parts-parquet", "four files")
    compare(f"{w}/ref", f"{w}/parts-parquet", "four files against one")
    for i in range(3):
        run([xo, "prepare", "--input", *parquet_parts, "--out", f"{w}/shard{i}", "--tokenizer", tok,
             "--shard", f"{i}/3", "--threads", "2"])
    run([xo, "prepare", "merge", *[f"{w}/shard{i}" for i in range(3)], "--out", f"{w}/merged",
         "--val-docs", "25", "--seed", "3"])
    for name in ("train.bin", "val.bin", "meta.json"):
        with open(f"{w}/merged/{name}", "rb") as x, open(f"{w}/parts-parquet/{name}", "rb") as y:
            if x.read() != y.read():
                raise SystemExit(f"FAILED: shards merged: {name} differs from one process")
    checked.append("shards")

    # Errors name the file (and the row for a bad row).
    errors = {}
    code, out = prepare([f"{w}/nulls-v1.0.parquet"], f"{w}/e1", expect_ok=False)
    first_null = next(i for i, t in enumerate(with_nulls) if t is None)
    errors["null"] = f"nulls-v1.0.parquet:{first_null}: \"text\" is null" in out and code != 0
    bad = [t.encode() for t in docs[:30]]
    bad[17] = b"caf\xe9 au lait"  # Latin-1, not UTF-8
    pq.write_table(pa.table({"text": pa.array(bad, pa.binary())}), f"{w}/latin1.parquet")
    code, out = prepare([f"{w}/latin1.parquet"], f"{w}/e2", expect_ok=False)
    errors["utf8"] = "latin1.parquet:17: \"text\" is not valid UTF-8 (at byte 3" in out and code != 0
    code, out = prepare([f"{w}/plain-uncompressed.parquet"], f"{w}/e3", "--text-key", "body", expect_ok=False)
    errors["no column"] = ("plain-uncompressed.parquet: no column \"body\" (the file has: id, meta, "
                           "tags, text, url" in out and code != 0)
    code, out = prepare([f"{w}/plain-uncompressed.parquet"], f"{w}/e4", "--text-key", "id", expect_ok=False)
    errors["int column"] = "column \"id\" has type INT64; expected BYTE_ARRAY" in out and code != 0
    code, out = prepare([f"{w}/plain-uncompressed.parquet"], f"{w}/e5", "--text-key", "tags", expect_ok=False)
    errors["list column"] = "column \"tags\" is a group" in out and code != 0
    code, out = prepare([f"{w}/plain-uncompressed.parquet"], f"{w}/e6", "--text-key", "meta", expect_ok=False)
    errors["struct column"] = "column \"meta\" is a group" in out and code != 0
    pq.write_table(table(docs), f"{w}/bss.parquet", use_dictionary=False,
                   column_encoding={"text": "PLAIN", "id": "BYTE_STREAM_SPLIT"})
    code, out = prepare([f"{w}/bss.parquet"], f"{w}/e7", expect_ok=False)
    errors["other column's encoding is ignored"] = code == 0
    failed = [k for k, ok in errors.items() if not ok]
    if failed:
        raise SystemExit(f"FAILED: error checks {failed}")

    print("RESULT " + json.dumps({"variants": checked, "errors": sorted(errors)}))


if __name__ == "__main__":
    main()
