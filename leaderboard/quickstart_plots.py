"""The quickstart's figures: across-seed mean and band per configuration, one legend per figure.

Individual seeds drawn as thin lines of one colour per variant could not be told apart or read against each
other; a mean with a band (the seeds' min..max: with 3 seeds, the band *is* the data) shows both the trend and
the spread. Bandit curves use a log sample axis: plateaus of on-policy learning sit at different scales.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _aligned(runs: Sequence[tuple[Sequence[int], Sequence[float]]]) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values[seed, point]) on the points every seed has (the shortest common prefix)."""
    n = min(len(steps) for steps, _ in runs)
    steps = np.asarray(runs[0][0][:n], dtype=float)
    return steps, np.array([np.asarray(v[:n], dtype=float) for _, v in runs])


def mean_band(ax: Any, runs: Sequence[tuple[Sequence[int], Sequence[float]]], color: str, label: str | None,
              positive_x: bool = False) -> None:
    """Plot the across-seed mean of ``runs`` and a band from the seeds' min to max (NaN points skipped)."""
    if not runs:
        return
    steps, values = _aligned(runs)
    keep = steps > 0 if positive_x else np.ones_like(steps, dtype=bool)
    steps, values = steps[keep], values[:, keep]
    with warnings.catch_warnings():  # a point where every seed is NaN (component never present) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, lo, hi = np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)
    n = len(runs)
    ax.plot(steps, mean, color=color, lw=1.6, label=None if label is None else f"{label} (mean of {n})")
    if n > 1:
        ax.fill_between(steps, lo, hi, color=color, alpha=0.2, lw=0)


def write_quickstart_plots(out: Path, groups: Mapping[tuple[str, str], list], bandit_envs: Sequence[str],
                           bandit_modes: Sequence[str], ppo_env: str, ppo_variants: Sequence[str]) -> list[Path]:
    """``bandit_curves.png`` (J per K, one curve per learner mode) and ``ppo_multiroom_curves.png`` (total and
    per-room evaluation return, each room's curve over the episodes that started in it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rayenvs.atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, axes = plt.subplots(1, len(bandit_envs), figsize=(5 * len(bandit_envs), 3.8), squeeze=False)
    for ax, env_id in zip(axes[0], bandit_envs, strict=True):
        k = None
        for mi, mode in enumerate(bandit_modes):
            rs = groups.get((env_id, mode), [])
            k = len(rs[0].component_names) if rs else k
            runs = [(r.eval.steps, np.array(r.eval.mean_returns()) * len(r.component_names)) for r in rs]
            mean_band(ax, runs, f"C{mi}", mode if ax is axes[0][0] else None, positive_x=True)
        ax.set_xscale("log")
        ax.set_title(env_id.replace("rayenvs/", ""))
        ax.set_xlabel("samples (log scale)")
        if k is not None:
            ax.set_ylim(-0.05 * k, 1.05 * k)
            ax.set_ylabel(f"J = sum of the {k} J_k (max {k})")
    fig.legend(loc="lower center", ncol=len(bandit_modes), fontsize=8, frameon=False)
    fig.suptitle("Bandit learners: across-seed mean, band = min..max over seeds", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    paths.append(atomic_write(out / "bandit_curves.png", lambda f: fig.savefig(f, format="png", dpi=110),
                              binary=True))
    plt.close(fig)

    ppo = {v: groups.get((ppo_env, v), []) for v in ppo_variants}
    if any(ppo.values()):
        names = next(r for rs in ppo.values() for r in rs).component_names
        fig, axes = plt.subplots(1, 1 + len(names), figsize=(3.6 * (1 + len(names)), 3.6), squeeze=False,
                                 sharey=True)
        for vi, (variant, rs) in enumerate(ppo.items()):
            mean_band(axes[0][0], [(r.eval.steps, r.eval.mean_returns()) for r in rs], f"C{vi}", variant)
            comps = [np.array(r.eval.mean_component_returns(present_only=True)) for r in rs]
            for c in range(len(names)):
                mean_band(axes[0][c + 1], [(r.eval.steps, x[:, c]) for r, x in zip(rs, comps, strict=True)],
                          f"C{vi}", None)
        env = ppo_env.replace("rayenvs/", "")
        axes[0][0].set_title(f"{env}: total return")
        axes[0][0].set_ylabel("evaluation return (max 1)")
        for c, name in enumerate(names):
            axes[0][c + 1].set_title(f"{name}: episodes starting there")
        for ax in axes[0]:
            ax.set_xlabel("env steps")
            ax.set_ylim(-0.05, 1.05)
        fig.legend(loc="lower center", ncol=len(ppo_variants), fontsize=8, frameon=False)
        fig.suptitle("PPO on MultiRoom: across-seed mean, band = min..max over seeds; per room: return of the "
                     "evaluation episodes that started in that room", fontsize=9)
        fig.tight_layout(rect=(0, 0.08, 1, 0.93))
        paths.append(atomic_write(out / "ppo_multiroom_curves.png",
                                  lambda f: fig.savefig(f, format="png", dpi=110), binary=True))
        plt.close(fig)
    return paths
