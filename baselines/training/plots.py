"""curves.png of a run: total and per-component learning curves, the view that makes ray interference visible.

An averaged return can climb steadily while one component sits on a plateau; plotting each component's
evaluation return next to the total shows which part of the objective is being learned when.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from baselines.training.results import RunResult
from rayenvs.atomic import atomic_write


def plot_curves(result: RunResult, path: str | Path) -> Path:
    """Write a two-panel PNG (atomically): left, total return (eval mean with a standard-error band, and
    training-episode returns averaged in windows); right, each component's mean evaluation return over all
    evaluation episodes (a component absent from an episode counts 0 there, so with random starts the
    curves top out at the component's share of episodes)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, (ax_total, ax_comp) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    ev = result.eval
    steps = np.asarray(ev.steps, dtype=float)
    if len(steps):
        rets = [np.asarray(r, dtype=float) for r in ev.returns]
        mean = np.array([r.mean() for r in rets])
        sem = np.array([r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else 0.0 for r in rets])
        ax_total.plot(
            steps, mean, marker="o", ms=3, label=f"eval ({ev.episodes_per_point} episodes, ±1 s.e.)"
        )
        ax_total.fill_between(steps, mean - sem, mean + sem, alpha=0.2)
    if result.train is not None and result.train.steps:
        t_steps = np.asarray(result.train.steps)
        t_rets = np.asarray([r[0] if r else np.nan for r in result.train.returns], dtype=float)
        # single episodes are noisy: average them in at most 100 windows of env steps
        edges = np.linspace(t_steps[0], t_steps[-1] + 1, min(100, len(np.unique(t_steps))) + 1)
        which = np.clip(np.digitize(t_steps, edges) - 1, 0, len(edges) - 2)
        centres, means = [], []
        for b in np.unique(which):
            sel = which == b
            centres.append(t_steps[sel].mean())
            means.append(np.nanmean(t_rets[sel]))
        ax_total.plot(centres, means, alpha=0.6, lw=1, label="training episodes")
    ax_total.set_title(f"{result.env_id}  {result.variant}  seed {result.seed}")
    ax_total.set_xlabel("env steps")
    ax_total.set_ylabel("episode return")
    ax_total.legend(loc="best", fontsize=8)

    if len(steps):
        comps = [np.asarray(c, dtype=float) for c in ev.component_returns]
        for k, name in enumerate(result.component_names):
            ax_comp.plot(steps, [c[:, k].mean() if c.size else np.nan for c in comps], marker=".", label=name)
    ax_comp.set_title("per-component eval return (mean over all eval episodes)")
    ax_comp.set_xlabel("env steps")
    ax_comp.set_ylabel("component return")
    if len(result.component_names) <= 12:
        ax_comp.legend(loc="best", fontsize=8, ncol=2)

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    data = buf.getvalue()
    return atomic_write(path, lambda f: f.write(data), binary=True)
