#!/usr/bin/python3
"""Figures of a sweep report: AR vs MDM per unique budget, each curve with its standard-error
band and the crossover marked where it is resolved beyond the noise.

Reads DIR/report/curves.csv and DIR/report/crossovers.csv (written by `crossover sweep report
DIR`) and writes small PNGs to DIR/report/ (and, with --docs, copies them to a docs folder):

  val_loss_<group>.png    val loss against tokens seen (log x) and against epochs
  acc_<group>.png         each multiple-choice task's accuracy against tokens seen
  delta_nll_<group>.png   each task's NLL(wrong) - NLL(right) against tokens seen
  val_loss_overview.png   every group's val loss against epochs, side by side
  annealed_u<unique>.png  where several total budgets share a unique budget (a data.total_tokens
                          axis, one cosine each): every run's val loss against epochs, and each
                          run's final (annealed) val loss against its total tokens

Run it with Debian's interpreter, which has python3-matplotlib and python3-numpy:
  /usr/bin/python3 scripts/analysis/plot-sweep.py DIR [--docs docs/figures] [--dpi 100]
"""

import argparse
import csv
import math
import os
import shutil
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"ar": "#3b6fb6", "mdm": "#d9622b"}  # two colours: AR blue, MDM orange
LABELS = {"ar": "AR", "mdm": "MDM"}


def read_csv(path):
    if not os.path.exists(path):
        sys.exit(f"{path}: not found; run `crossover sweep report` first")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def number(text):
    return float(text) if text not in ("", None) else math.nan


def load(report_dir):
    """curves[group][(objective, task, metric)] = sorted [(tokens, epoch, value)]."""
    curves = defaultdict(lambda: defaultdict(list))
    unique = {}
    for row in read_csv(os.path.join(report_dir, "curves.csv")):
        key = (row["objective"], row["task"], row["metric"])
        curves[row["group"]][key].append(
            (number(row["tokens"]), number(row["epoch"]), number(row["value"])))
        unique[row["group"]] = number(row["unique_tokens"])
    for group in curves.values():
        for points in group.values():
            points.sort()
    # Standard errors ride along as metrics of their own (val_loss_se, acc_se).
    crossings = defaultdict(list)
    for row in read_csv(os.path.join(report_dir, "crossovers.csv")):
        crossings[(row["group"], row["task"], row["metric"])].append(
            (row["kind"], number(row["tokens"]), number(row["epoch"])))
    return curves, crossings, unique


def human(n):
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def style(ax, xlabel, ylabel, log_x):
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, which="major", alpha=0.3, linewidth=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def draw(ax, group_curves, task, metric, axis, focus=False):
    """Both objectives' curves on one axes; axis 0 = tokens (log), 1 = epochs.

    focus: scale y to the points past the first 5% of the x range, so the loss at
    initialisation (about ln V) does not flatten the part where the curves cross."""
    drawn, focus_y = False, []
    for objective in ("ar", "mdm"):
        points = [p for p in group_curves.get((objective, task, metric), [])
                  if p[axis] > 0 or axis == 1]
        if not points:
            continue
        xs = [p[axis] for p in points]
        ys = [p[2] for p in points]
        ax.plot(xs, ys, color=COLORS[objective], label=LABELS[objective], linewidth=1.3,
                marker="o", markersize=2)
        # The standard-error band: MDM's Monte-Carlo error of the val loss, an accuracy's
        # binomial one (AR's val loss is exact: no band).
        se = {p[0]: p[2] for p in group_curves.get((objective, task, metric + "_se"), [])}
        if any(se.get(p[0], 0) > 0 for p in points):
            lo = [p[2] - se.get(p[0], 0) for p in points]
            hi = [p[2] + se.get(p[0], 0) for p in points]
            ax.fill_between(xs, lo, hi, color=COLORS[objective], alpha=0.2, linewidth=0)
        cut = xs[0] + 0.05 * (xs[-1] - xs[0]) if axis == 1 else xs[0] * (xs[-1] / xs[0]) ** 0.05
        focus_y += [y for x, y in zip(xs, ys) if x >= cut and math.isfinite(y)]
        drawn = True
    if focus and len(focus_y) > 1:
        lo, hi = min(focus_y), max(focus_y)
        pad = 0.08 * (hi - lo or abs(hi) or 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    return drawn


def mark(ax, marks, axis):
    """The crossover beyond the noise as a shaded interval (the report's resolved_from and
    resolved_to: AR last ahead by more than 2 combined standard errors, MDM ahead by more from
    there to the end); a crossing of the means alone is not marked. A trend crossing beyond the
    data is a dashed line."""
    kinds = {kind: (tokens if axis == 0 else epoch) for kind, tokens, epoch in marks}
    lo, hi = kinds.get("resolved_from"), kinds.get("resolved_to")
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        ax.axvspan(lo, hi, color="0.5", alpha=0.18, linewidth=0)
        label = (f"crossover {human(lo)}-{human(hi)} tok" if axis == 0
                 else f"crossover ep {lo:.3g}-{hi:.3g}")
        ax.annotate(label, (hi, 0.0), xycoords=("data", "axes fraction"), fontsize=6,
                    ha="left", va="bottom", xytext=(2, 2), textcoords="offset points")
    x = kinds.get("trend")
    if x is not None and math.isfinite(x) and x > 0:
        _, right = ax.get_xlim()
        if x <= right * 3:  # only when it is near enough to read
            ax.axvline(x, color="0.45", linestyle="--", linewidth=0.8)
            ax.annotate("trend", (x, 0.0), xycoords=("data", "axes fraction"), fontsize=6,
                        ha="right", va="bottom", xytext=(-2, 2), textcoords="offset points")


def save(fig, path, dpi, written):
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    written.append(path)


def title(group, unique):
    u = unique.get(group, math.nan)
    return f"{group}: {human(u)} unique" if math.isfinite(u) else group


def plot_group(out, group, gc, crossings, unique, dpi, written):
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.5))
    for axis, ax in enumerate(axes):
        if draw(ax, gc, "", "val_loss", axis, focus=True):
            style(ax, "tokens seen" if axis == 0 else "epochs", "val loss", axis == 0)
            mark(ax, crossings.get((group, "", "val_loss"), []), axis)
    axes[0].legend(fontsize=7, frameon=False)
    fig.suptitle(title(group, unique), fontsize=9)
    save(fig, os.path.join(out, f"val_loss_{group}.png"), dpi, written)

    tasks = sorted({task for (_, task, metric) in gc if task and metric == "acc"})
    for metric, ylabel, marks in (("acc", "accuracy", True), ("delta_nll", "ΔNLL", False)):
        if not tasks:
            break
        fig, axes = plt.subplots(1, len(tasks), figsize=(3.2 * len(tasks), 2.5), squeeze=False)
        for ax, task in zip(axes[0], tasks):
            if draw(ax, gc, task, metric, 0):
                style(ax, "tokens seen", f"{task} {ylabel}", True)
                if marks:
                    mark(ax, crossings.get((group, task, "acc"), []), 0)
        axes[0][0].legend(fontsize=7, frameon=False)
        fig.suptitle(title(group, unique), fontsize=9)
        save(fig, os.path.join(out, f"{metric}_{group}.png"), dpi, written)


def plot_overview(out, curves, crossings, unique, dpi, written):
    groups = sorted(curves, key=lambda g: unique.get(g, math.inf))
    n = len(groups)
    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, group in zip(axes.flat, groups):
        if draw(ax, curves[group], "", "val_loss", 1, focus=True):
            style(ax, "epochs", "val loss", False)
            mark(ax, crossings.get((group, "", "val_loss"), []), 1)
        ax.set_title(title(group, unique), fontsize=8)
    axes[0][0].legend(fontsize=7, frameon=False)
    save(fig, os.path.join(out, "val_loss_overview.png"), dpi, written)


def plot_annealed(out, curves, unique, dpi, written):
    """One figure per unique budget that several groups (total budgets) share."""
    by_unique = defaultdict(list)
    for group in curves:
        by_unique[unique.get(group, math.nan)].append(group)
    for u, groups in sorted(by_unique.items()):
        if len(groups) < 2 or not math.isfinite(u):
            continue
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 2.8))
        finals = defaultdict(list)  # objective -> [(total tokens, final val loss, se)]
        lowest = math.inf
        for group in groups:
            for objective in ("ar", "mdm"):
                points = curves[group].get((objective, "", "val_loss"), [])
                if not points:
                    continue
                se = {p[0]: p[2] for p in curves[group].get((objective, "", "val_loss_se"), [])}
                epochs = [p[1] for p in points if p[1] > 0]
                values = [p[2] for p in points if p[1] > 0]
                axes[0].plot(epochs, values, color=COLORS[objective], linewidth=0.9, alpha=0.75)
                axes[0].plot(epochs[-1:], values[-1:], "o", color=COLORS[objective], markersize=4)
                lowest = min([lowest] + values)
                finals[objective].append((points[-1][0], points[-1][2], se.get(points[-1][0], 0.0)))
        for objective, rows in finals.items():
            rows.sort()
            axes[1].errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[2 * r[2] for r in rows],
                             color=COLORS[objective], label=LABELS[objective], marker="o",
                             markersize=4, linewidth=1.2, capsize=2)
        # The region where the best runs are: one nat above the lowest loss; a final beyond it
        # is written at the top edge with its value.
        if math.isfinite(lowest):
            top = lowest + 1.0
            for ax in axes:
                ax.set_ylim(lowest - 0.1, top)
            for objective, rows in finals.items():
                for tokens, value, _ in rows:
                    if value > top:
                        axes[1].annotate(f"{value:.2f} ↑", (tokens, top), fontsize=6, ha="center",
                                         va="top", color=COLORS[objective])
        axes[0].set_xlim(left=0.5)
        style(axes[0], "epochs (each run its own cosine; dots: final)", "val loss", True)
        style(axes[1], "total training tokens", "final val loss (± 2 MC se)", True)
        axes[1].legend(fontsize=7, frameon=False)
        fig.suptitle(f"{human(u)} unique tokens: annealed runs per total budget", fontsize=9)
        fig.tight_layout()
        save(fig, os.path.join(out, f"annealed_u{human(u)}.png"), dpi, written)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="sweep directory with report/curves.csv")
    parser.add_argument("--docs", help="also copy the figures into this folder")
    parser.add_argument("--dpi", type=int, default=100, help="resolution (default 100)")
    args = parser.parse_args()

    report = os.path.join(args.sweep_dir, "report")
    curves, crossings, unique = load(report)
    if not curves:
        sys.exit(f"{report}/curves.csv has no evaluations yet")
    written = []
    for group in sorted(curves, key=lambda g: unique.get(g, math.inf)):
        plot_group(report, group, curves[group], crossings, unique, args.dpi, written)
    plot_overview(report, curves, crossings, unique, args.dpi, written)
    plot_annealed(report, curves, unique, args.dpi, written)
    if args.docs:
        os.makedirs(args.docs, exist_ok=True)
        for path in written:
            shutil.copy(path, args.docs)
    for path in written:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
