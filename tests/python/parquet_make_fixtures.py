"""Writes the small committed Parquet fixtures of tests/data/test_prepare_parquet.cpp, which runs
without Python: the same 60 rows as docs.jsonl (a null, an empty string, non-ASCII text) in two
files that between them use both data page versions, dictionary and DELTA_BYTE_ARRAY values,
SNAPPY and ZSTD, several row groups and many small pages. The text column comes first, so its
first page starts at byte 4. Rerun only to change the fixtures:
    .venv/bin/python tests/python/parquet_make_fixtures.py tests/data/parquet
"""

import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq

WORDS = ["alpha", "beta", "\"quoted\"", "wörd", "✓", "日本語", "river", "tab\there", "line\nbreak"]


def rows():
    out = []
    for i in range(60):
        out.append(f"row {i}: " + " ".join(WORDS[(i * k + k) % len(WORDS)] for k in range(i % 11 + 1)))
    out[7] = None
    out[19] = ""
    out[33] = out[32]  # a repeat, and a shared prefix for DELTA_BYTE_ARRAY
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    texts = rows()
    with open(os.path.join(d, "docs.jsonl"), "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"text": t, "id": i}, ensure_ascii=False) + "\n")
    t = pa.table({"text": pa.array(texts, pa.string()), "id": pa.array(range(60), pa.int32())})
    small = dict(data_page_size=200, write_batch_size=8, row_group_size=25, write_statistics=False)
    pq.write_table(t, os.path.join(d, "docs-v1-dict-snappy.parquet"), compression="snappy",
                   data_page_version="1.0", **small)
    pq.write_table(t, os.path.join(d, "docs-v2-delta-zstd.parquet"), compression="zstd",
                   use_dictionary=False, column_encoding={"text": "DELTA_BYTE_ARRAY"},
                   data_page_version="2.0", **small)


if __name__ == "__main__":
    main()
