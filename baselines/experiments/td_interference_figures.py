"""The figures of ``td-interference`` (:mod:`baselines.experiments.td_interference`), pyplot-free.

Each panel's title states the paper's claim beside what it shows; lines are means over seeds, shaded bands
the per-seed range, error bars bootstrap confidence intervals of the mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.report import new_figure, save_figure
from baselines.experiments.td_interference import CI_LEVEL, FIGURES, TDSettings, per_seed


def _colours(lambdas: tuple[float, ...]) -> dict[float, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {lam: cmap(0.9 * i / max(len(lambdas) - 1, 1)) for i, lam in enumerate(lambdas)}


def _band(ax: Any, x: np.ndarray, ys: np.ndarray, colour: Any, label: str, **kw: Any) -> None:
    """Mean over seeds (rows of ``ys``) with the per-seed range shaded."""
    ax.plot(x, np.nanmean(ys, axis=0), color=colour, label=label, **kw)
    ax.fill_between(x, np.nanmin(ys, axis=0), np.nanmax(ys, axis=0), color=colour, alpha=0.15, lw=0)


def plot_over_training(settings: TDSettings, runs: list[dict[str, Any]], out: Path) -> Path:
    fig = new_figure(15.0, 4.4)
    axes = fig.subplots(1, 3)
    colours = _colours(settings.lambdas)
    epochs = np.array(settings.checkpoints)
    for lam in settings.lambdas:
        curves = [r[str(lam)]["over_training"] for r in runs]
        label = f"λ = {lam:g}" + (" (TD(0))" if lam == 0 else " (regression)" if lam == 1 else "")
        _band(axes[0], epochs, np.array([c["rho"] for c in curves]), colours[lam], label, marker="o", ms=3)
        _band(axes[1], epochs, np.array([c["loss_difference"] for c in curves]), colours[lam], label, marker="o", ms=3)
        _band(axes[2], epochs, np.array([c["test_error"] for c in curves]), colours[lam], label + " test",
              marker="o", ms=3)  # fmt: skip
        if lam in (0.0, 1.0):
            axes[2].plot(epochs, np.mean([c["train_error"] for c in curves], axis=0), color=colours[lam], ls="--",
                         label=label + " train")  # fmt: skip
    axes[0].set_yscale("log")
    axes[0].set_title("function interference ρ̄ = ∇V(u)·∇V(v) over training\n"
                      "(paper: TD gives low-interference parameters; App. D.2: flat after a few epochs)", fontsize=9)  # fmt: skip
    axes[0].set_ylabel("ρ̄ (mean over state pairs; log scale)")
    axes[1].set_yscale("symlog", linthresh=1e-5)
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[1].set_title("loss difference at offsets ±1..5 after one SGD step (lr "
                      f"{settings.probe_lr:g})\n(paper Figs. 3-4: regression ≫ TD; > 0 = the update helped)", fontsize=9)  # fmt: skip
    axes[1].set_ylabel("L before − L after (symlog)")
    axes[2].set_title("value error vs observed returns (solid: held-out test images,\n"
                      "dashed: training images; the gap is generalisation)", fontsize=9)  # fmt: skip
    axes[2].set_ylabel("mean squared error")
    for ax in axes:
        ax.set_xlabel("training epoch over the fixed dataset")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Glimpse policy evaluation, TD(λ) vs regression: mean over {len(runs)} seeds, shaded = "
                 "per-seed range", fontsize=10)  # fmt: skip
    return save_figure(fig, out / FIGURES["training"])


def plot_offsets(settings: TDSettings, runs: list[dict[str, Any]], out: Path) -> Path:
    fig = new_figure(13.0, 4.6)
    axes = fig.subplots(1, 2)
    colours = _colours(settings.lambdas)
    offsets = np.arange(-settings.max_offset, settings.max_offset + 1)
    no_zero = offsets[offsets != 0]
    for lam in settings.lambdas:
        label = f"λ = {lam:g}" + (" (TD(0))" if lam == 0 else " (regression)" if lam == 1 else "")
        stiff = np.array([[r[str(lam)]["stiffness"][str(x)] for x in offsets] for r in runs])
        _band(axes[0], offsets, stiff, colours[lam], label, marker="o", ms=2)
        ld = np.array([[r[str(lam)]["loss_difference"][str(x)] for x in no_zero] for r in runs])
        _band(axes[1], no_zero, ld, colours[lam], label, marker="o", ms=2)
    axes[0].set_title("Fig. 5 analogue: cosine of ∇V(s_t), ∇V(s_t+x)\n(paper: rises with λ)", fontsize=9)
    axes[0].set_ylabel("stiffness (gradient cosine)")
    axes[1].set_yscale("symlog", linthresh=1e-5)
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[1].set_title("Figs. 3, 4, 11 analogue: loss difference at s_t+x after an update on s_t (x = 0 excluded)\n"
                      "(paper: regression ≫ TD(0), 10x or more; grows with λ)", fontsize=9)  # fmt: skip
    axes[1].set_ylabel("L before − L after (symlog)")
    for ax in axes:
        ax.set_xlabel("temporal offset x from the update sample (same trajectory)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"After {settings.epochs} epochs: mean over {len(runs)} seeds, shaded = per-seed range",
                 fontsize=10)  # fmt: skip
    return save_figure(fig, out / FIGURES["offsets"])


def plot_lambda_summary(settings: TDSettings, runs: list[dict[str, Any]], agg: dict[str, Any], out: Path) -> Path:
    panels = [("function_interference", "ρ̄ (log)", "log", "ρ̄ (paper: lower under TD,\nhigher with less bootstrapping)"),
              ("stiffness_near", "stiffness at ±1..5", "linear", "stiffness (paper Fig. 5: rises with λ)"),
              ("loss_difference_near", "loss difference at ±1..5 (symlog)", "symlog",
               "loss difference (paper Figs. 3, 4, 11:\nrises with λ, regression ≫ TD(0))"),
              ("test_error", "test value error (MSE)", "linear",
               "held-out error (paper: TD generalises\nworse than regression)")]  # fmt: skip
    fig = new_figure(15.0, 4.3)
    axes = fig.subplots(1, len(panels))
    lams = np.array(settings.lambdas)
    for ax, (key, ylabel, scale, title) in zip(axes, panels, strict=True):
        ax.set_title(title, fontsize=9)
        for lam in lams:
            ys = per_seed(runs, lam, key)
            ax.scatter(np.full(len(ys), lam), ys, s=10, color="0.6", zorder=2)
        stats = np.array([agg["by_lambda"][str(x)][key] for x in lams])
        ax.errorbar(lams, stats[:, 0], yerr=[stats[:, 0] - stats[:, 1], stats[:, 2] - stats[:, 0]], color="tab:red",
                    marker="o", capsize=3, zorder=3, label=f"mean, {CI_LEVEL:.0%} bootstrap CI")  # fmt: skip
        if scale == "symlog":
            ax.set_yscale("symlog", linthresh=1e-5)
        else:
            ax.set_yscale(scale)
        ax.set_xlabel("λ (0: TD(0), 1: Monte-Carlo regression)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Dependence on λ after {settings.epochs} epochs (grey: one seed each)", fontsize=10)
    return save_figure(fig, out / FIGURES["lambda"])
