#!/usr/bin/env python3
"""The judgements of the GPU bundle's check (run.sh), on crossover's own outputs.

Standard library only: it runs under whatever python3 the machine has.

  check.py agree REL RUN [RUN ...]            every step's loss equal within REL (relative)
  check.py reference write FILE RUN_AR RUN_MDM  step 1's loss and gradient norm of each run
  check.py reference check FILE REL RUN_AR RUN_MDM
  check.py resume REL STRAIGHT RESUMED        the same steps, losses within REL
  check.py bench LOG SHARDING BACKEND N       bench train's N JSON lines: backend, sharding,
                                              phases adding up, a loss that fell

Each prints one line of figures; the exit status is 0 when the check holds, 1 when it does not.
"""
import json
import math
import sys


def train_events(run):
    path = f"{run}/metrics.jsonl"
    events = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                e = json.loads(line)
                if e.get("kind") == "train":
                    events.append(e)
    if not events:
        raise SystemExit(f"{path}: no train events")
    return events


def rel_diff(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def agree(rel, runs):
    series = [[e["loss"] for e in train_events(r)] for r in runs]
    worst = 0.0
    for r, s in zip(runs[1:], series[1:]):
        if len(s) != len(series[0]):
            print(f"{r}: {len(s)} steps, {runs[0]}: {len(series[0])}")
            return 1
        worst = max([worst] + [rel_diff(a, b) for a, b in zip(s, series[0])])
    first, last = series[0][0], series[0][-1]
    print(f"{len(series[0])} steps, loss {first:.5f} -> {last:.5f}, "
          f"largest relative difference {worst:.2e} (limit {rel:g})")
    return 0 if worst <= rel and all(map(math.isfinite, series[0])) else 1


def first_step(run):
    e = train_events(run)[0]
    return {"step": e["step"], "loss": e["loss"], "grad_norm": e["grad_norm"]}


def reference(args):
    mode, file = args[0], args[1]
    if mode == "write":
        runs = dict(zip(("ar", "mdm"), args[2:4]))
        out = {k: first_step(v) for k, v in runs.items()}
        with open(file, "w") as f:
            json.dump(out, f, indent=1)
        print(" ".join(f"{k} loss {v['loss']:.6f} grad norm {v['grad_norm']:.6f}" for k, v in out.items()))
        return 0
    rel = float(args[2])
    runs = dict(zip(("ar", "mdm"), args[3:5]))
    with open(file) as f:
        want = json.load(f)
    parts, ok = [], True
    for k, run in runs.items():
        got = first_step(run)
        for key in ("loss", "grad_norm"):
            d = rel_diff(got[key], want[k][key])
            ok = ok and d <= rel
            parts.append(f"{k} {key} {got[key]:.6f} vs {want[k][key]:.6f} ({d:.1e})")
    print("step 1 against the CPU reference: " + ", ".join(parts) + f" (limit {rel:g})")
    return 0 if ok else 1


def resume(rel, straight, resumed):
    a = [(e["step"], e["loss"]) for e in train_events(straight)]
    b = [(e["step"], e["loss"]) for e in train_events(resumed)]
    if [s for s, _ in a] != [s for s, _ in b]:
        print(f"steps differ: straight {[s for s, _ in a]}, resumed {[s for s, _ in b]}")
        return 1
    worst = max(rel_diff(y, x) for (_, x), (_, y) in zip(a, b))
    print(f"resumed run logs steps 1-{a[-1][0]}, final loss {b[-1][1]:.5f} vs {a[-1][1]:.5f}, "
          f"largest relative difference {worst:.2e} (limit {rel:g})")
    return 0 if worst <= rel else 1


def bench(log, sharding, backend, objectives):
    rows = []
    with open(log) as f:
        for line in f:
            if line.startswith("{"):
                rows.append(json.loads(line))
    if len(rows) != objectives:
        print(f"expected {objectives} result lines, got {len(rows)}")
        return 1
    out, ok = [], True
    for r in rows:
        good = (r["backend"] == backend and r["sharding"] == sharding and r["world_size"] == 1
                and math.isfinite(r["last_loss"]) and r["last_loss"] < r["first_loss"])
        phases = {k: v for k, v in r["time"].items() if k != "step_s"}
        # The step's time by phase must add up to the step.
        good = good and abs(sum(phases.values()) - r["step_seconds"]) <= 1e-6 * r["step_seconds"]
        ok = ok and good
        out.append(("" if good else "NOT OK: ") +
                   f"{r['objective']} loss {r['first_loss']:.4f}->{r['last_loss']:.4f} "
                   f"{r['tok_per_s']:.0f} tok/s MFU {100 * r['mfu']:.1f}% "
                   f"peak {r['peak_memory_mib'] / 1024:.1f} GiB "
                   f"(model/memory.h counts {r['counted_memory_mib'] / 1024:.1f}) "
                   f"step {r['step_seconds']:.3f} s "
                   f"({r['time_shares']})")
    print("; ".join(out))
    return 0 if ok else 1


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    what, args = argv[0], argv[1:]
    if what == "agree":
        return agree(float(args[0]), args[1:])
    if what == "reference":
        return reference(args)
    if what == "resume":
        return resume(float(args[0]), args[1], args[2])
    if what == "bench":
        return bench(args[0], args[1], args[2], int(args[3]))
    raise SystemExit(f"check.py: unknown check {what}\n{__doc__}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
