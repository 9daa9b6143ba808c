"""The figures of :mod:`baselines.experiments.td_generalisation` (Bengio et al. 2020, Figs. 1, 2, 6, 8), pyplot-free."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.report import new_figure, save_figure
from baselines.experiments.td_generalisation import (
    CI_LEVEL,
    CLASSIFIERS,
    LABELS,
    METHODS,
    GeneralisationSettings,
    log_rho,
)

COLOURS = {"td0": "tab:blue", "regression": "tab:orange", "classification": "tab:green", "classification_es": "tab:purple"}


def _sizes(hidden: np.ndarray, units: tuple[int, ...]) -> np.ndarray:
    """Marker areas growing with capacity (rank-based, so 16 and 256 units both stay visible)."""
    rank = np.searchsorted(np.asarray(units), hidden)
    return 18.0 + 40.0 * rank


def plot_fig1(gen: GeneralisationSettings, grid: list[dict[str, Any]], agg: dict[str, Any], path: Path) -> Path:
    """Left: r(log rho_bar, gap) against training-set size per method (Fig. 1); right: gap against size (Fig. 8)."""
    fig = new_figure(16.0, 8.0)
    axd = fig.subplot_mosaic([["fig1", "fig1", METHODS[0], METHODS[1]], ["fig1", "fig1", METHODS[2], METHODS[3]]])
    ax1, gap_axes = axd["fig1"], [axd[m] for m in METHODS]
    sizes = np.array(gen.sizes)
    for m, ax in zip(METHODS, gap_axes, strict=True):
        stats = np.array([agg["by_method"][m]["r_by_size"][str(n)] for n in gen.sizes])
        ax1.plot(sizes, stats[:, 0], marker="o", color=COLOURS[m], label=LABELS[m])
        ax1.fill_between(sizes, stats[:, 1], stats[:, 2], color=COLOURS[m], alpha=0.1, lw=0)
        runs = [r for r in grid if r["method"] == m]
        ax.scatter([r["size"] for r in runs], [r["gap"] for r in runs], color=COLOURS[m], alpha=0.6, edgecolor="k",
                   lw=0.3, s=_sizes(np.array([r["hidden"] for r in runs]), gen.hidden_units))  # fmt: skip
        ax.plot(sizes, [agg["by_method"][m]["mean_gap_by_size"][str(n)] for n in gen.sizes], color=COLOURS[m],
                label="mean gap (vs observed returns)" if m not in CLASSIFIERS else "mean gap")
        if m not in CLASSIFIERS:
            ax.plot(sizes, [agg["by_method"][m]["mean_gap_true_value_by_size"][str(n)] for n in gen.sizes], ls="--",
                    color="k", label="mean gap vs the exact V^π")  # fmt: skip
        ax.legend(fontsize=7)
        r = agg["by_method"][m]["r_size_gap"]
        ax.set_title(f"App. Fig. 8 analogue, {LABELS[m]}:\nr(log n, gap) = {r[0]:+.2f} [{r[1]:+.2f}, {r[2]:+.2f}] "
                     "(paper < -0.91)", fontsize=8)  # fmt: skip
        ax.set_ylabel("test − train " + ("cross-entropy" if m in CLASSIFIERS else "value MSE"))
    ax1.axhline(0, color="0.5", lw=0.8)
    ax1.set_ylim(-1.05, 1.05)
    ax1.set_title("Fig. 1 analogue: r(log ρ̄, generalisation gap) over capacities x seeds\n"
                  f"(shaded: bootstrapped {CI_LEVEL:.0%} CI; paper: classification > 0, TD < 0 given data)",
                  fontsize=9)  # fmt: skip
    ax1.set_ylabel("Pearson r")
    ax1.legend(fontsize=7)
    for ax in (ax1, *gap_axes):
        ax.set_xscale("log")
        ax.set_xticks(sizes, [str(n) for n in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training-set size (Glimpse images)")
        ax.grid(alpha=0.3)
    fig.suptitle("Interference vs generalisation on Glimpse (right: marker size = hidden units, line = mean over runs)",
                 fontsize=10)  # fmt: skip
    return save_figure(fig, path)


def plot_fig2(gen: GeneralisationSettings, grid: list[dict[str, Any]], agg: dict[str, Any], path: Path) -> Path:
    """Gap against log rho_bar, each min-max normalised per method, every run; one least-squares line per method."""
    from matplotlib import colormaps

    fig = new_figure(11.0, 9.0)
    axes = list(fig.subplots(2, (len(METHODS) + 1) // 2, sharex=True, sharey=True).flat)
    cmap = colormaps["plasma"]
    colour = {n: cmap(0.85 * i / max(len(gen.sizes) - 1, 1)) for i, n in enumerate(gen.sizes)}
    for ax, m in zip(axes, METHODS, strict=True):
        runs = [r for r in grid if r["method"] == m]
        x, y = log_rho(runs), np.array([r["gap"] for r in runs])
        keep = np.isfinite(x)
        x, y, runs = x[keep], y[keep], [r for r, k in zip(runs, keep, strict=True) if k]

        def norm(v: np.ndarray) -> np.ndarray:
            span = v.max() - v.min()
            return (v - v.min()) / span if span > 0 else np.zeros_like(v)

        xn, yn = norm(x), norm(y)
        for n in gen.sizes:
            sel = np.array([r["size"] == n for r in runs])
            ax.scatter(xn[sel], yn[sel], s=_sizes(np.array([r["hidden"] for r in runs])[sel], gen.hidden_units),
                       color=colour[n], alpha=0.75, edgecolor="k", lw=0.3, label=f"{n} images")  # fmt: skip
        if len(xn) >= 2 and np.ptp(xn) > 0:
            a, b = np.polyfit(xn, yn, 1)
            ax.plot([0, 1], [b, a + b], color="k", lw=1.2, label="least squares")
        ax.set_title(f"{LABELS[m]}\nr(log ρ̄, gap) = {agg['by_method'][m]['r_all'][0]:+.2f} over {len(runs)} runs",
                     fontsize=9)  # fmt: skip
        ax.set_xlabel("log10 ρ̄, normalised to [0, 1] per method")
        ax.grid(alpha=0.3)
    for ax in axes[:: (len(METHODS) + 1) // 2]:
        ax.set_ylabel("generalisation gap, normalised to [0, 1] per method")
    axes[0].legend(fontsize=7, title="colour: training set; size: capacity", title_fontsize=7)
    fig.suptitle("Fig. 2 analogue: gap vs interference for every run\n(paper: classification r > 0.9; value-based "
                 "and regression negative, weak)", fontsize=10)  # fmt: skip
    return save_figure(fig, path)


def plot_fig6(gen: GeneralisationSettings, runs: list[dict[str, Any]], agg: dict[str, Any], path: Path) -> Path:
    """Held-out value error (top) and rho_bar (bottom) against the TD(0) sign variance, per learning rate."""
    from matplotlib import colormaps

    fig = new_figure(7.5, 7.5)
    top, bottom = fig.subplots(2, 1, sharex=True)
    cmap = colormaps["viridis"]
    lrs = sorted(gen.fig6_lrs)
    for i, lr in enumerate(lrs):
        sub = [r for r in runs if r["lr"] == lr]
        sv = np.array([r["sign_variance"] for r in sub])
        size = _sizes(np.array([r["hidden"] for r in sub]), gen.hidden_units)
        kw = {"s": size, "color": cmap(0.85 * i / max(len(lrs) - 1, 1)), "edgecolor": "k", "lw": 0.3, "alpha": 0.8}
        top.scatter(sv, [r["test_error"] for r in sub], label=f"lr {lr:g}", **kw)
        bottom.scatter(sv, [r["rho"] for r in sub], **kw)
    f6 = agg["fig6"]
    top.set_title("Fig. 6 analogue, TD(0) policy evaluation: held-out value error (paper: reward)\n"
                  f"r(sign variance, error) = {f6['r_sign_variance_error'][0]:+.2f}; marker size = hidden units",
                  fontsize=9)  # fmt: skip
    top.set_ylabel("held-out value error (MSE to returns)")
    top.legend(fontsize=7)
    bottom.set_yscale("log")
    bottom.set_title(f"ρ̄ after training: r(log ρ̄, sign variance) = {f6['r_rho_sign_variance'][0]:+.2f} "
                     "(paper: 0.71)", fontsize=9)  # fmt: skip
    bottom.set_ylabel("ρ̄ (log scale)")
    bottom.set_xlabel("sign variance of the TD(0) error over windows of 5 steps")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    return save_figure(fig, path)
