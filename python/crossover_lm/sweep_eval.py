"""Scores every checkpoint of a sweep with lm-evaluation-harness, where `sweep report` reads it.

    python -m crossover_lm.sweep_eval SWEEP_DIR --tasks hellaswag,arc_easy,piqa [--points REGEX]
        [--model_args mc_num=128,threads=8] [--force] [--dry-run] [-- LM_EVAL_ARGS...]

For each point of SWEEP_DIR/manifest.json and each of its checkpoints RUN_DIR/checkpoints/step_N
this runs

    crossover-lm-eval --model crossover --model_args run=RUN_DIR,step=N[,...] --tasks TASKS
        --output_path RUN_DIR/lm_eval/step_N LM_EVAL_ARGS...

one after another. A checkpoint whose RUN_DIR/lm_eval/step_N already holds a results_*.json is
skipped unless --force, so the command can be run again while the sweep trains. The runs keep
only `checkpoint.keep_last` checkpoints: raise it in the sweep's `set:` to score more of them.
"""
import argparse
import re
import shlex
import subprocess
import sys

from crossover_lm.manifest import sweep_points


def _step(name):
    """N of a checkpoint folder step_N (as the checkpointer names them: no '.' in the name)."""
    m = re.fullmatch(r"step_(\d+)", name)
    return int(m.group(1)) if m else None


def commands(sweep_dir, tasks, points=None, model_args="", force=False, extra=()):
    """[(run_dir, step, argv)] of the checkpoints still to score, in manifest and step order."""
    out = []
    for run_dir, point in sweep_points(sweep_dir):
        if points and not re.search(points, point["name"]):
            continue
        checkpoints = run_dir / "checkpoints"
        if not checkpoints.is_dir():
            continue
        steps = sorted(s for s in (_step(d.name) for d in checkpoints.iterdir() if d.is_dir())
                       if s is not None)
        for step in steps:
            target = run_dir / "lm_eval" / f"step_{step}"
            if not force and any(target.rglob("results_*.json")):
                continue
            args = f"run={run_dir},step={step}" + (f",{model_args}" if model_args else "")
            out.append((run_dir, step,
                        [sys.executable, "-m", "crossover_lm.lm_eval_cli", "--model", "crossover",
                         "--model_args", args, "--tasks", tasks, "--output_path", str(target),
                         *extra]))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python -m crossover_lm.sweep_eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir")
    p.add_argument("--tasks", required=True, help="lm-eval's --tasks")
    p.add_argument("--points", help="only points whose name matches this regular expression")
    p.add_argument("--model_args", default="", help="more model_args (mc_num=K, threads=N, ...)")
    p.add_argument("--force", action="store_true", help="score checkpoints that have results")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    a = p.parse_args(argv)
    todo = commands(a.sweep_dir, a.tasks, a.points, a.model_args, a.force, extra)
    for run_dir, step, cmd in todo:
        if a.dry_run:
            print(shlex.join(cmd))
            continue
        print(f"lm-eval: {run_dir} step {step}", file=sys.stderr, flush=True)
        r = subprocess.run(cmd)
        if r.returncode != 0:
            print(f"lm-eval failed on {run_dir} step {step} (exit {r.returncode})", file=sys.stderr)
            return r.returncode
    if not todo:
        print("no checkpoint left to score", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
