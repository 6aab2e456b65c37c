#!/usr/bin/python3
"""Reads a crossover checkpoint tensor file with numpy only (no crossover, no torch).

usage: read-safetensors.py FILE [--dump]
Prints one line per tensor: name dtype shape sum. BF16 is widened to float32.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "I16": np.int16, "U8": np.uint8, "BOOL": np.bool_}


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        chunk = data[begin:end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        else:
            arr = np.frombuffer(chunk, dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"])
    return out, header.get("__metadata__", {})


def main():
    tensors, meta = read(sys.argv[1])
    for name, arr in tensors.items():
        total = float(arr.astype(np.float64).sum()) if arr.size else 0.0
        print(f"{name} {arr.dtype} {list(arr.shape)} {total:.9g}")
    for k, v in sorted(meta.items()):
        print(f"__metadata__ {k}={v}")


if __name__ == "__main__":
    main()
