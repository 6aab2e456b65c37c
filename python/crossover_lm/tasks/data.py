"""Loaders for the bundled tasks: JSON lines beside this file, read by `datasets`' json builder
(lm-eval resolves a YAML's data_files against the working directory, so the bundled tasks name
their files through these functions instead)."""
from pathlib import Path

import datasets

HERE = Path(__file__).resolve().parent


def _json(name, **_):
    return datasets.load_dataset("json", data_files={"test": str(HERE / name)})


def kjv_cloze(**kwargs):
    return _json("kjv_cloze.jsonl", **kwargs)


def kjv_cloze_mmlu(**kwargs):
    return _json("kjv_cloze_mmlu.jsonl", **kwargs)
