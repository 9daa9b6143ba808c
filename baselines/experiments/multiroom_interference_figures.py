"""The figures of ``multiroom-interference`` (:mod:`baselines.experiments.multiroom_interference`), pyplot-free.

``room_curves.png`` shows each room's return per example seed with the plateaus of J shaded, so the staged
learning and the suppressed rooms are visible run by run; ``learning_order.png`` the steps until the n-th room is
learned and J across seeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.multiroom_interference import THRESHOLD

COLOURS = {"shared": "tab:red", "separate": "darkgreen", "mixed": "tab:blue"}


def plot_room_curves(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], stats: dict[str, list[dict]],
                     out: Path, env_id: str, seeds_shown: int = 4) -> Path:
    """One row per configuration, one column per example seed: each room's return and the plateaus of J."""
    from baselines.experiments.report import new_figure, save_figure

    labels = list(curves)
    cols = min(seeds_shown, min(len(v) for v in curves.values()))
    fig = new_figure(3.3 * cols + 0.5, 2.5 * len(labels) + 0.6)
    axes = np.asarray(fig.subplots(len(labels), cols, sharex=True, sharey=True, squeeze=False))
    rooms = curves[labels[0]][0][1].shape[1]
    for row, label in enumerate(labels):
        for col in range(cols):
            ax = axes[row, col]
            steps, J = curves[label][col]
            for p in stats[label][col]["plateaus"]:
                ax.axvspan(p["start_step"], p["end_step"], color="0.85", lw=0)
            for k in range(rooms):
                ax.plot(steps, J[:, k], color=f"C{k}", lw=1.3, label=f"room {k}" if row == col == 0 else None)
            ax.plot(steps, np.nanmean(J, 1), color="k", ls="--", lw=1.2, label="J (mean of rooms)" if row == col == 0 else None)
            ax.set_ylim(-0.03, 1.03)
            ax.set_title(f"{label}, seed {col}", fontsize=9)
            if col == 0:
                ax.set_ylabel("return (sampled policy)")
            if row == len(labels) - 1:
                ax.set_xlabel("env steps (all rooms)")
    fig.legend(loc="outside lower center", ncol=rooms + 2, fontsize=8, frameon=False)
    fig.suptitle(f"{env_id.replace('rayenvs/', '')}: each room's return, per seed\n"
                 "grey spans: plateaus of J (detect_plateaus)", fontsize=10)
    return save_figure(fig, out / "room_curves.png")


def plot_order(curves: dict[str, list[tuple[np.ndarray, np.ndarray]]], summary: dict[str, Any], out: Path,
               budget: float) -> Path:
    """Left: steps until the n-th room learned (mean, 95% CI). Right: J across seeds (mean, min..max band)."""
    from baselines.experiments.report import new_figure, save_figure

    fig = new_figure(10, 3.8)
    ax, ax2 = fig.subplots(1, 2)
    for i, (label, s) in enumerate(summary.items()):
        nth = s["nth_room"]
        x = np.arange(1, len(nth) + 1) + (i - 1) * 0.08
        mean = np.array([c["mean"] for c in nth])
        err = np.array([[c["mean"] - c["lo"], c["hi"] - c["mean"]] for c in nth]).T
        ax.errorbar(x, mean, yerr=err, color=COLOURS.get(label), marker="o", capsize=3, label=f"{label} ({s['seeds']} seeds)")
        n = min(len(st) for st, _ in curves[label])
        steps = curves[label][0][0][:n]
        J = np.array([np.nanmean(j[:n], 1) for _, j in curves[label]])
        ax2.plot(steps, J.mean(0), color=COLOURS.get(label), lw=1.6, label=label)
        ax2.fill_between(steps, J.min(0), J.max(0), color=COLOURS.get(label), alpha=0.15, lw=0)
    ax.axhline(budget, color="0.5", ls=":", lw=1)
    ax.text(1, budget, " budget (never learned counts as the budget)", fontsize=7, va="bottom", color="0.4")
    ax.set_xticks(range(1, len(nth) + 1))
    ax.set_xlabel(f"n-th room to reach a return of {THRESHOLD} (in each seed's own order)")
    ax.set_ylabel("env steps (all rooms)")
    ax.set_title("rooms learned one at a time? (mean, 95% bootstrap CI)", fontsize=9)
    ax.legend(fontsize=8)
    ax2.set_ylim(-0.03, 1.03)
    ax2.set_xlabel("env steps (all rooms)")
    ax2.set_ylabel("J = mean room return")
    ax2.set_title("J across seeds (mean; band = min..max)", fontsize=9)
    ax2.legend(fontsize=8)
    return save_figure(fig, out / "learning_order.png")
