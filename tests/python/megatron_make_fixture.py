"""Writes tests/data/megatron/tiny.{bin,idx} by hand from the indexed-dataset layout
(megatron/core/datasets/indexed_dataset.py: _INDEX_HEADER, _IndexWriter.write), with no
megatron-core: the fixture of tests/data/test_prepare_megatron.cpp, which must not depend on it.
tests/python/megatron_parity.py checks that megatron-core's IndexedDatasetBuilder writes these very
bytes for DOCUMENTS. Rerun only to change the fixture:
    .venv/bin/python tests/python/megatron_make_fixture.py tests/data/megatron/tiny
"""

import struct
import sys

# Documents as lists of sequences of token ids (< 320, the test tokenizer's vocabulary; 3 is its
# eos): one sequence ending in eos, two sequences, no eos, an eos-only document, an empty one.
DOCUMENTS = [
    [[5, 17, 42, 3]],
    [[100, 101], [102, 3]],
    [[7]],
    [[200, 201, 202, 203, 3]],
    [[3]],
    [],
    [[300, 301, 302, 303, 304, 305, 306, 307, 308, 3]],
]


def main():
    prefix = sys.argv[1]
    sequences = [s for doc in DOCUMENTS for s in doc]
    lengths = [len(s) for s in sequences]
    pointers, at = [], 0
    for n in lengths:
        pointers.append(at)
        at += 2 * n  # uint16 tokens
    doc_index = [0]
    for doc in DOCUMENTS:
        doc_index.append(doc_index[-1] + len(doc))
    with open(prefix + ".bin", "wb") as f:
        for s in sequences:
            f.write(struct.pack(f"<{len(s)}H", *s))
    with open(prefix + ".idx", "wb") as f:
        f.write(b"MMIDIDX\x00\x00")                # magic
        f.write(struct.pack("<Q", 1))              # version
        f.write(struct.pack("<B", 8))              # dtype code 8: uint16
        f.write(struct.pack("<Q", len(sequences)))  # sequence count
        f.write(struct.pack("<Q", len(doc_index)))  # document count + 1
        f.write(struct.pack(f"<{len(lengths)}i", *lengths))
        f.write(struct.pack(f"<{len(pointers)}q", *pointers))
        f.write(struct.pack(f"<{len(doc_index)}q", *doc_index))


if __name__ == "__main__":
    main()
