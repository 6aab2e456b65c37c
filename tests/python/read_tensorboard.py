"""Reads TensorBoard event files with the tensorboard package's own reader and writes what it
saw as JSON, for the C++ tests to compare against metrics.jsonl.

    read_tensorboard.py LOGDIR OUT.json

Every directory under LOGDIR that holds event files is a run, named by its path relative to
LOGDIR, exactly as `tensorboard --logdir LOGDIR` names it. Each run is loaded by an
EventAccumulator with every scalar kept (no reservoir sampling) and with orphaned-data purging
off, so a step written twice would show up twice instead of being hidden.

OUT.json: {"runs": {RUN: {"files": [...], "scalars": {TAG: [[step, value], ...]}}}}
"""
import json
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, io_wrapper


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    logdir, out = sys.argv[1], sys.argv[2]
    runs = {}
    for run_dir in sorted(io_wrapper.GetLogdirSubdirectories(logdir)):
        name = os.path.relpath(run_dir, logdir)
        acc = event_accumulator.EventAccumulator(
            run_dir, size_guidance={event_accumulator.SCALARS: 0}, purge_orphaned_data=False)
        acc.Reload()
        runs[name] = {
            "files": sorted(f for f in os.listdir(run_dir) if "tfevents" in f),
            "file_version": acc.file_version,
            "scalars": {tag: [[e.step, e.value] for e in acc.Scalars(tag)]
                        for tag in acc.Tags()["scalars"]},
        }
    if not runs:
        sys.exit(f"no event files under {logdir}")
    with open(out, "w") as f:
        json.dump({"runs": runs}, f)


if __name__ == "__main__":
    main()
