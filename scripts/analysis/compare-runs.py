#!/usr/bin/python3
"""Side-by-side table of finished crossover runs, from their metrics.jsonl.

usage: compare-runs.py RUN_DIR [RUN_DIR ...]
Columns: objective, steps, tokens, epochs, final train loss, final val loss (± Monte-Carlo
standard error for mdm), tokens/s (mean of the logged windows), wall time.
"""
import json
import os
import sys


def summarise(run):
    path = os.path.join(run, "metrics.jsonl")
    events = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                events.append(json.loads(line))
    start = next((e for e in events if e["kind"] == "run"), {})
    train = [e for e in events if e["kind"] == "train"]
    evals = [e for e in events if e["kind"] == "eval"]
    end = next((e for e in reversed(events) if e["kind"] == "end"), None)
    if not train:
        raise SystemExit(f"{path}: no train events (has the run started?)")
    last = train[-1]
    val = evals[-1] if evals else None
    return {
        "run": os.path.basename(os.path.normpath(run)),
        "objective": start.get("objective", "?"),
        "steps": last["step"],
        "tokens": last["tokens"],
        "epochs": last["epoch"],
        "train_loss": last["loss"],
        "val_loss": val["val_loss"] if val else float("nan"),
        "val_se": val.get("val_loss_se", 0.0) if val else 0.0,
        "tok_s": sum(e["tok_per_s"] for e in train) / len(train),
        "time_s": last["elapsed_s"],
        "status": end["status"] if end else "running",
    }


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    rows = [summarise(r) for r in sys.argv[1:]]
    header = f"{'run':<14} {'obj':<4} {'steps':>6} {'tokens':>9} {'epochs':>6} {'train loss':>10} {'val loss':>16} {'tok/s':>8} {'time':>7}  status"
    print(header)
    print("-" * len(header))
    for r in rows:
        val = f"{r['val_loss']:.4f}" + (f" ± {r['val_se']:.4f}" if r["val_se"] > 0 else "")
        print(f"{r['run']:<14} {r['objective']:<4} {r['steps']:>6} {r['tokens'] / 1e6:>8.2f}M "
              f"{r['epochs']:>6.2f} {r['train_loss']:>10.4f} {val:>16} {r['tok_s']:>8.0f} "
              f"{r['time_s'] / 60:>6.1f}m  {r['status']}")
    print("\nval loss: ar = exact NLL per token; mdm = Monte-Carlo ELBO bound per token (± its standard error).")


if __name__ == "__main__":
    main()
