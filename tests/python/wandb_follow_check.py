"""crossover-wandb in WANDB_MODE=offline, checked by reading back what W&B wrote.

Follows a sweep directory whose points are real runs (copies of their metrics.jsonl, fed in two
halves) with --once twice, then reads every DIR/wandb/offline-run-*/run-*.wandb (W&B's record
log: leveldb-style blocks of wandb_internal_pb2.Record protobufs) and checks:
  - one W&B run id per point, named after it, with the point's labels in the config;
  - the history rows, over both passes, are exactly the train/eval/checkpoint events of each
    metrics.jsonl: each step once per kind, values equal (train/loss, eval/val_loss, ...);
  - a third pass with nothing new logs nothing and writes no new offline run;
  - the `end` event's status reached the summary.
Prints RESULT {json}; exits 1 on a mismatch.

usage: wandb_follow_check.py --runs RUN_DIR... --work DIR
"""
import argparse
import json
import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
# Generous service and init timeouts: the first start of W&B's service on a loaded machine is slow.
os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true",
                  WANDB_INIT_TIMEOUT="300", WANDB__SERVICE_WAIT="300")


def fail(msg):
    print("MISMATCH", msg)
    sys.exit(1)


def wandb_records(path):
    """The Record protobufs of a .wandb file (header ':W&B', magic 0xBEE1, version 0; then
    32 KiB blocks of records: crc32 u32, length u16, type u8 (1 full, 2 first, 3 middle, 4 last))."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if data[:4] != b":W&B" or struct.unpack("<HB", data[4:7]) != (0xBEE1, 0):
        fail(f"{path}: not a W&B record log")
    pos, block, pending = 7, 32768, b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if length == 0 and kind == 0:
            break
        payload = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        pending = payload if kind in (1, 2) else pending + payload
        if kind in (1, 4):
            r = wandb_internal_pb2.Record()
            r.ParseFromString(pending)
            yield r


def read_offline(wandb_dir):
    """{run id: {"name", "config", "rows": [(step, {key: value})], "summary"}} and dir count."""
    runs, dirs = {}, sorted(Path(wandb_dir).glob("offline-run-*"))
    for d in dirs:
        (log,) = d.glob("run-*.wandb")
        for r in wandb_records(log):
            t = r.WhichOneof("record_type")
            if t == "run":
                run = runs.setdefault(r.run.run_id, {"rows": [], "summary": {}, "config": {}})
                run["name"] = r.run.display_name
                for item in r.run.config.update:
                    run["config"][item.key] = json.loads(item.value_json)
            elif t == "history":
                row = {("/".join(i.nested_key) if i.nested_key else i.key): json.loads(i.value_json)
                       for i in r.history.item}
                run["rows"].append((r.history.step.num, row))
            elif t == "summary":
                for i in r.summary.update:
                    run["summary"]["/".join(i.nested_key) if i.nested_key else i.key] = \
                        json.loads(i.value_json)
    return runs, len(dirs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", nargs="+", required=True)
    p.add_argument("--work", required=True)
    a = p.parse_args()
    from crossover_lm import wandb_follow

    # A sweep directory whose points are the given runs' histories.
    sweep = Path(a.work) / "sweep-w"
    full, points = {}, []
    for i, run in enumerate(a.runs):
        name = f"{Path(run).name}-p{i}"
        lines = Path(run, "metrics.jsonl").read_text().splitlines(keepends=True)
        full[name] = lines
        (sweep / "runs" / name).mkdir(parents=True)
        (sweep / "runs" / name / "metrics.jsonl").write_text("".join(lines[:len(lines) // 2]))
        points.append({"name": name, "run_dir": f"runs/{name}", "group": f"g{i}",
                       "objective": json.loads(lines[0]).get("objective"),
                       "labels": [["training.seed", str(i)]]})
    (sweep / "manifest.json").write_text(json.dumps({"format": 1, "points": points}))

    if wandb_follow.main([str(sweep), "--once", "--project", "crossover-test"]) != 0:
        fail("first pass failed")
    for name, lines in full.items():  # training went on: the rest of each file
        (sweep / "runs" / name / "metrics.jsonl").write_text("".join(lines))
    wandb_follow.main([str(sweep), "--once", "--project", "crossover-test"])
    runs, dirs = read_offline(sweep / "wandb")
    wandb_follow.main([str(sweep), "--once", "--project", "crossover-test"])
    if read_offline(sweep / "wandb")[1] != dirs:
        fail("a pass with nothing new wrote an offline run")

    checked = {}
    for name, lines in full.items():
        rid = f"sweep-w-{name}"
        if rid not in runs:
            fail(f"no W&B run {rid} (have {sorted(runs)})")
        run = runs[rid]
        if run["name"] != name or run["config"].get("training.seed") != str(points[
                list(full).index(name)]["labels"][0][1]):
            fail(f"{rid}: name {run['name']} / config {run['config']}")
        logged = {}
        for step, row in run["rows"]:
            for k, v in row.items():
                if k.startswith("_"):
                    continue
                if (step, k) in logged:
                    fail(f"{rid}: {k} at step {step} logged twice")
                logged[(step, k)] = v
        expected = {}
        for line in lines:
            e = json.loads(line)
            row = wandb_follow.history_row(e)
            for k, v in (row or {}).items():
                if not k.split("/")[0] in wandb_follow.AXES:
                    expected[(e["step"], k)] = v
        for key, v in expected.items():
            if key not in logged or abs(logged[key] - v) > 1e-12 * max(1, abs(v)):
                fail(f"{rid}: {key} expected {v}, logged {logged.get(key)}")
        for key in logged:
            if key[1].split("/")[0] in ("train", "eval") and key not in expected:
                fail(f"{rid}: {key} logged but not in metrics.jsonl")
        if run["summary"].get("status") != "finished":
            fail(f"{rid}: summary status {run['summary'].get('status')}")
        checked[name] = {"values": len(expected),
                         "train_rows": sum(1 for (s, k) in expected if k == "train/loss"),
                         "eval_rows": sum(1 for (s, k) in expected if k == "eval/val_loss")}
    print("RESULT " + json.dumps({"runs": checked, "offline_dirs": dirs}))


if __name__ == "__main__":
    main()
