"""``crossover-wandb``: follow crossover runs' metrics.jsonl into Weights & Biases.

    crossover-wandb RUN_DIR | SWEEP_DIR [--project P] [--entity E] [--once] [--interval S]

A sweep directory (its manifest.json) is followed run by run: one W&B run per sweep point, named
after the point (`mdm-t48M-seed0`), grouped by the sweep's name, with the point's axis labels,
objective and group in its config. A run directory is one W&B run named after the directory.

Every event of metrics.jsonl becomes a history row at its `step`: `train/loss`, `train/lr`, ...,
`train/time/step_s`, `eval/val_loss`, `eval/tasks/NAME/acc`, and the shared
axes `tokens`, `unique_tokens`, `epoch`, `flops`. `run` events go to the config, `checkpoint` and
`end` to the summary (`checkpoint/step`, `checkpoint/seconds`, `status`, `reason`), and a finished or failed run is closed.

It resumes where it left off: the W&B run id is fixed by the sweep and point names, and
DIR/wandb/crossover-follow.json records how many bytes of each metrics.jsonl were logged, so a
new pass logs only new complete lines (a run that resumed from a checkpoint rewrites its file:
the follower then skips the steps it has already logged). --once makes one pass; otherwise it
polls every --interval seconds until every run has ended.

Offline (WANDB_MODE=offline, e.g. on a cluster without network) it writes
DIR/wandb/offline-run-*; upload them later with `wandb sync DIR/wandb/offline-run-*`.
"""
import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

from crossover_lm.manifest import sweep_points


def flatten(prefix, value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}/{k}" if prefix else str(k), v, out)
    elif isinstance(value, bool):
        pass  # flags (checkpoint/background) are not curves
    elif isinstance(value, (int, float)):
        out[prefix] = value
    return out


AXES = ("tokens", "unique_tokens", "epoch", "flops")


def history_row(event):
    """The W&B history row of a train/eval/checkpoint event (None for other kinds)."""
    kind = event.get("kind")
    if kind not in ("train", "eval") or "step" not in event:
        return None
    row = {k: event[k] for k in AXES if isinstance(event.get(k), (int, float))}
    fields = {k: v for k, v in event.items() if k not in (*AXES, "kind", "step", "path")}
    return flatten(kind, fields, row)


def safe_id(text):
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:120]


class Followed:
    """One crossover run and the W&B run it goes to."""

    def __init__(self, run_dir, name, group, config):
        self.run_dir, self.name, self.group, self.config = Path(run_dir), name, group, config
        self.id = safe_id(f"{group}-{name}" if group else name)
        self.offset, self.last_step, self.ended = 0, -1, False
        self.floor = -1  # after a rewrite: steps up to here were logged before
        self.wandb_run = None

    def state(self):
        return {"id": self.id, "offset": self.offset, "last_step": self.last_step,
                "ended": self.ended}


def points_of(path):
    """[(run_dir, name, group, config)] of a sweep directory or a run directory."""
    path = Path(path).resolve()
    manifest = path / "manifest.json"
    if manifest.is_file():
        out = []
        for run_dir, p in sweep_points(path):
            config = {"objective": p.get("objective"), "group": p.get("group"),
                      "family": p.get("family"), "sweep": path.name}
            config.update({k: v for k, v in p.get("labels", {}).items()}
                          if isinstance(p.get("labels"), dict)
                          else {l[0]: l[1] for l in p.get("labels", [])})
            out.append((run_dir, p["name"], path.name, config))
        if not out:
            raise SystemExit(f"{manifest}: no points")
        return out
    if (path / "metrics.jsonl").is_file() or (path / "config.yaml").is_file():
        return [(path, path.name, None, {})]
    raise SystemExit(f"{path}: neither a sweep directory (manifest.json) nor a run directory "
                     "(metrics.jsonl or config.yaml)")


class Follower:
    def __init__(self, target, project, entity, wandb_dir):
        import wandb

        self.wandb = wandb
        self.project, self.entity = project, entity
        self.dir = Path(wandb_dir)  # W&B writes under DIR/wandb
        (self.dir / "wandb").mkdir(parents=True, exist_ok=True)
        self.state_path = self.dir / "wandb" / "crossover-follow.json"
        saved = json.loads(self.state_path.read_text()) if self.state_path.is_file() else {}
        self.runs = [Followed(*p) for p in points_of(target)]
        for r in self.runs:
            s = saved.get(str(r.run_dir))
            if s:
                r.offset, r.last_step, r.ended = s["offset"], s["last_step"], s["ended"]

    def save(self):
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({str(r.run_dir): r.state() for r in self.runs}, indent=1))
        os.replace(tmp, self.state_path)

    def open(self, r):
        if r.wandb_run is None:
            r.wandb_run = self.wandb.init(
                project=self.project, entity=self.entity, id=r.id, name=r.name, group=r.group,
                config=r.config, dir=str(self.dir), resume="allow", reinit="create_new")
        return r.wandb_run

    def close(self, r):
        if r.wandb_run is not None:
            r.wandb_run.finish()
            r.wandb_run = None

    def new_lines(self, r):
        metrics = r.run_dir / "metrics.jsonl"
        if not metrics.is_file():
            return []
        size = metrics.stat().st_size
        if size < r.offset:  # rewritten on resume: read again, skip what was logged
            r.offset, r.floor = 0, r.last_step
        with open(metrics, "rb") as f:
            f.seek(r.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # complete lines only: the trainer may be mid-line
        r.offset += end
        return [l for l in data[:end].decode().splitlines() if l.strip()]

    def pass_once(self):
        """Logs every run's new events; returns the number logged."""
        logged = 0
        for r in self.runs:
            for line in self.new_lines(r):
                event = json.loads(line)
                kind, step = event.get("kind"), event.get("step")
                if kind == "run":
                    self.open(r).config.update(
                        {k: v for k, v in event.items() if k not in ("kind", "step", *AXES)},
                        allow_val_change=True)
                elif kind == "checkpoint":  # written after later steps when in the background
                    run = self.open(r)
                    run.summary["checkpoint/step"] = step
                    run.summary["checkpoint/seconds"] = event.get("seconds")
                elif kind == "end":
                    run = self.open(r)
                    run.summary["status"] = event.get("status")
                    run.summary["reason"] = event.get("reason")
                    r.ended = event.get("status") in ("finished", "failed")
                else:
                    row = history_row(event)
                    if row is None or step < r.last_step or step <= r.floor:
                        continue  # W&B steps only grow; <= floor: logged before the rewrite
                    self.open(r).log(row, step=step)
                    r.last_step = step
                    logged += 1
            self.close(r)  # one W&B run open at a time; the next pass resumes it
            self.save()
        return logged


def main(argv=None):
    p = argparse.ArgumentParser(prog="crossover-wandb", description=__doc__.split("\n\n")[0])
    p.add_argument("path", help="a run directory or a sweep directory (manifest.json)")
    p.add_argument("--project", default=None, help="W&B project (default: the directory's name)")
    p.add_argument("--entity", default=None, help="W&B entity (default: yours)")
    p.add_argument("--dir", default=None, help="W&B writes DIR/wandb (default: PATH)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--interval", type=float, default=60, help="seconds between passes")
    a = p.parse_args(argv)
    path = Path(a.path).resolve()
    f = Follower(path, a.project or path.name, a.entity, a.dir or path)
    while True:
        n = f.pass_once()
        print(f"crossover-wandb: logged {n} events", file=sys.stderr)
        if a.once or all(r.ended for r in f.runs):
            return 0
        time.sleep(a.interval)


if __name__ == "__main__":
    sys.exit(main())
