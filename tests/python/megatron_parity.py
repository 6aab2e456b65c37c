"""`crossover prepare --from-megatron` against megatron-core's own IndexedDatasetBuilder
(tests/data/test_prepare_megatron.cpp runs this).

1. The committed hand-written fixture (tests/python/megatron_make_fixture.py) is byte for byte
   what IndexedDatasetBuilder writes for its documents: it reproduces the format.
2. A text corpus is prepared from JSON lines (all documents in train.bin, to learn every
   document's ids); the ids are written with IndexedDatasetBuilder as two datasets (uint16 and
   int32), with eod appended as tools/preprocess_data.py --append-eod does, and documents split
   into several sequences (add_item/end_document). Converting them with the same validation
   options must give train.bin/val.bin byte-identical to preparing the JSON lines, and the same
   meta.json but for what names the source. --megatron-eod keep keeps each document's eos.
Prints `RESULT {json}`.
"""

import argparse
import json
import os
import struct
import subprocess
import sys
import warnings

warnings.filterwarnings("ignore")
try:
    import numpy
    import torch
    from megatron.core.datasets.indexed_dataset import DType, IndexedDataset, IndexedDatasetBuilder
except ImportError as e:
    print(f"missing Python package ({e}): run scripts/setup/install.sh")
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import megatron_make_fixture  # noqa: E402


def run(args, expect_ok=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if expect_ok and r.returncode != 0:
        raise SystemExit(f"FAILED: {' '.join(args)}\n{r.stdout}{r.stderr}")
    return r.returncode, r.stdout + r.stderr


def read_store(path):
    """Documents of a crossover token store (include/crossover/data/token_store.h)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"XOVRTOKS", path
    _, width, _, n_tokens, n_docs = struct.unpack_from("<IIQQQ", data, 8)
    tokens = numpy.frombuffer(data, numpy.uint16 if width == 2 else numpy.int32, n_tokens, 64)
    at = 64 + n_tokens * width
    at += -at % 8
    offsets = numpy.frombuffer(data, numpy.uint64, n_docs + 1, at)
    return [tokens[offsets[d]:offsets[d + 1]].tolist() for d in range(n_docs)]


def build(prefix, docs, dtype, eod):
    b = IndexedDatasetBuilder(prefix + ".bin", dtype=dtype)
    for i, ids in enumerate(docs):
        ids = ids + [eod]
        cuts = sorted({0, len(ids)} | ({len(ids) // 2} if i % 3 == 1 else set()))
        for a, z in zip(cuts, cuts[1:]):
            b.add_item(torch.tensor(ids[a:z], dtype=torch.int64))
        b.end_document()
    b.finalize(prefix + ".idx")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("crossover")
    p.add_argument("work")
    p.add_argument("fixture", help="PREFIX of the committed fixture")
    a = p.parse_args()
    w, xo = a.work, a.crossover
    os.makedirs(w, exist_ok=True)

    # 1. The hand-written fixture is what megatron-core writes.
    b = IndexedDatasetBuilder(f"{w}/fixture.bin", dtype=DType.optimal_dtype(320))
    for doc in megatron_make_fixture.DOCUMENTS:
        for seq in doc:
            b.add_item(torch.tensor(seq))
        b.end_document()
    b.finalize(f"{w}/fixture.idx")
    for ext in (".bin", ".idx"):
        with open(a.fixture + ext, "rb") as x, open(f"{w}/fixture{ext}", "rb") as y:
            if x.read() != y.read():
                raise SystemExit(f"FAILED: {a.fixture}{ext} differs from IndexedDatasetBuilder's")
    ds = IndexedDataset(a.fixture)
    assert len(ds.document_indices) == len(megatron_make_fixture.DOCUMENTS) + 1

    # 2. A corpus through JSON lines and through Megatron datasets.
    texts = [f"document {i}: " + " ".join(["alpha", "beta", "wörd", "✓", "river"][(i * k) % 5]
                                           for k in range(1 + i % 17)) for i in range(240)]
    with open(f"{w}/docs.jsonl", "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    run([xo, "prepare", "--input", f"{w}/docs.jsonl", "--out", f"{w}/tok", "--vocab-size", "320",
         "--tokenizer-only", "--threads", "2"])
    tok = f"{w}/tok/tokenizer.model"
    split = ["--val-docs", "30", "--seed", "5"]
    run([xo, "prepare", "--input", f"{w}/docs.jsonl", "--out", f"{w}/all", "--tokenizer", tok,
         "--val-docs", "0", "--threads", "2"])
    ids = read_store(f"{w}/all/train.bin")
    assert len(ids) == len(texts)
    with open(f"{w}/all/meta.json") as f:
        eos = json.load(f)["special_ids"]["eos"]
    run([xo, "prepare", "--input", f"{w}/docs.jsonl", "--out", f"{w}/ref", "--tokenizer", tok,
         "--threads", "2", *split])
    build(f"{w}/m16", ids[:100], DType.optimal_dtype(320), eos)
    build(f"{w}/m32", ids[100:], numpy.int32, eos)
    assert IndexedDataset(f"{w}/m16").index.dtype == numpy.uint16
    assert IndexedDataset(f"{w}/m32").index.dtype == numpy.int32
    run([xo, "prepare", "--from-megatron", f"{w}/m16", f"{w}/m32", "--tokenizer", tok,
         "--out", f"{w}/conv", *split])
    for name in ("train.bin", "val.bin"):
        with open(f"{w}/ref/{name}", "rb") as x, open(f"{w}/conv/{name}", "rb") as y:
            if x.read() != y.read():
                raise SystemExit(f"FAILED: {name} of the conversion differs from the JSON lines'")
    metas = []
    for d in ("ref", "conv"):
        with open(f"{w}/{d}/meta.json") as f:
            m = json.load(f)
        for k in ("sources", "input_bytes", "corpus", "doc_split", "text_key", "megatron"):
            m.pop(k, None)
        metas.append(m)
    if metas[0] != metas[1]:
        raise SystemExit(f"FAILED: meta.json differs:\n{metas[0]}\n{metas[1]}")
    with open(f"{w}/conv/meta.json") as f:
        meta = json.load(f)
    assert meta["corpus"] == "megatron" and meta["megatron"]["documents_ending_in_eos"] == 240, meta

    # --megatron-eod keep: every document keeps its eod.
    run([xo, "prepare", "--from-megatron", f"{w}/m16", f"{w}/m32", "--tokenizer", tok,
         "--out", f"{w}/keep", "--megatron-eod", "keep", "--val-docs", "0"])
    kept = read_store(f"{w}/keep/train.bin")
    if kept != [d + [eos] for d in ids]:
        raise SystemExit("FAILED: --megatron-eod keep did not keep each document's eos")

    # A dataset written with a larger vocabulary than the tokenizer's: named id and file.
    build(f"{w}/big", [[5, 400, 6]], numpy.int32, eos)
    code, out = run([xo, "prepare", "--from-megatron", f"{w}/big", f"{w}/m16", "--tokenizer", tok,
                     "--out", f"{w}/bad"], expect_ok=False)
    if code == 0 or f"{w}/big.bin:4: token id 400 of document 0 is outside" not in out:
        raise SystemExit(f"FAILED: an id past the vocabulary: {out}")

    print("RESULT " + json.dumps({"documents": len(ids), "eos": eos}))


if __name__ == "__main__":
    main()
