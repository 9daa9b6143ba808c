"""What ``reproduce ppo-collapse`` writes: the per-variant figure (mean and seed band), the summary statistics
and report.md with its *paper claim / ours / in band?* table.

Every claim is read from the summary's numbers, never typed in: a claim the run's configurations cannot test
(e.g. "more epochs collapse sooner" without an epochs grid) is left out of the table rather than marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.common import metric_keys
from baselines.experiments.report import fmt, new_figure, none_if_nan, save_figure, spearman
from baselines.training.results import metric_series

RETURN_KEY = "return"
CAPACITY_KEY = "capacity/actor_kl"
#: (key, panel title, log-scale y) of the figure; capacity is added when the setting measures it.
BASE_PANELS: tuple[tuple[str, str, bool], ...] = (
    (RETURN_KEY, "training-episode return (binned mean)", False),
    (metric_keys.PCA_RANK, "actor PCA rank", False),
    (metric_keys.DEAD_FRAC, "actor dead-unit fraction", False),
    (metric_keys.PREACT_NORM, "actor pre-activation norm", True),
    (metric_keys.EXCESS_RATIO, "excess ratio", True),
    (metric_keys.repr_key("critic", "pca_rank"), "critic PCA rank", False),
)
CAPACITY_PANEL = (CAPACITY_KEY, "actor capacity loss (KL)", True)
RETURN_POINTS = 40  # training-episode returns are averaged in this many step bins per run
#: Per-seed finals kept for the correlation claim: (pre-activation norm, excess ratio, PCA rank).
CORRELATED = (metric_keys.PREACT_NORM, metric_keys.EXCESS_RATIO, metric_keys.PCA_RANK)
LATE_FRACTION = 0.1  # "final" = mean over the last 10% of a series' points (the paper: last 5% of training)


def series(run: Any, key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of one run: training-episode returns (eval if none logged; binned means, see
    :func:`smooth`) or a logged metric."""
    if key == RETURN_KEY:  # training episodes (policy sampled), as the paper reports
        curve = run.train if run.train is not None and run.train.steps else run.eval
        x, y = np.asarray(curve.steps, dtype=np.float64), np.asarray(curve.mean_returns(), dtype=np.float64)
        return smooth(x, y, RETURN_POINTS)
    steps, values = metric_series(run.metrics, key) or ([], [])
    return np.array(steps, dtype=np.float64), np.array(values, dtype=np.float64)


def smooth(x: np.ndarray, y: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of the values in each of ``points`` equal step bins over [0, last step], at the bin's right edge
    (single episodes are 0/1 on sparse tasks); empty bins are dropped, short series returned as they are."""
    keep = np.isfinite(y)
    x, y = x[keep], y[keep]
    if y.size <= points:
        return x, y
    edges = np.linspace(0.0, float(x.max()), points + 1)
    idx = np.clip(np.searchsorted(edges, x, side="left") - 1, 0, points - 1)
    counts = np.bincount(idx, minlength=points)
    sums = np.bincount(idx, weights=y, minlength=points)
    full = counts > 0
    return edges[1:][full], sums[full] / counts[full]


def seed_curves(runs: Sequence[Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, Y): every seed's series interpolated on the first seed's steps, Y of shape (seeds, points)."""
    curves = [series(r, key) for r in runs]
    curves = [(x, y) for x, y in curves if x.size]
    if not curves:
        return np.zeros(0), np.zeros((0, 0))
    x0 = curves[0][0]
    return x0, np.array([np.interp(x0, x, y) for x, y in curves])


def mean_series(runs: Sequence[Any], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds on the first seed's steps (all seeds share the cadence; interpolation covers gaps)."""
    x, ys = seed_curves(runs, key)
    return (x, ys.mean(axis=0)) if x.size else (x, np.zeros(0))


def _late(y: np.ndarray) -> float:
    k = max(1, math.ceil(LATE_FRACTION * y.size))
    return float(np.mean(y[-k:]))


EMPTY_STATS: dict[str, Any] = {"points": 0, "first": None, "final": None, "min": None, "max": None}


def series_stats(runs: Sequence[Any], key: str) -> dict[str, Any]:
    """first / final (mean of the last 10% of points) / min / max of the seed-mean series."""
    x, y = mean_series(runs, key)
    if not y.size:
        return dict(EMPTY_STATS)
    return {
        "points": int(x.size),
        "first": none_if_nan(float(y[0])),
        "final": none_if_nan(_late(y)),
        "min": none_if_nan(float(y.min())),
        "max": none_if_nan(float(y.max())),
    }


def _sparse_log_label(v: float, _pos: int) -> str:
    """Minor log ticks labelled at mantissas 2, 3 and 5 only, so a one-decade axis is readable, not crowded."""
    if v <= 0:
        return ""
    mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}" if mantissa in (2.0, 3.0, 5.0) else ""


def plot_variants(
    runs: dict[str, list[Any]],
    panels: Sequence[tuple[str, str, bool]],
    path: Path,
    phase_steps: int | None = None,
    random_return: float | None = None,
) -> Path:
    """One panel per signal, one line per configuration: the seed mean, and a band from the seeds' min to max;
    with ``phase_steps``, a dotted line where each new phase (a new permutation of the target) begins; with
    ``random_return``, a dashed line at a uniform-random policy's return in the return panel."""
    from matplotlib.ticker import FuncFormatter

    cols = 3
    rows = math.ceil(len(panels) / cols)
    fig = new_figure(5.0 * cols, 3.8 * rows)
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    colors = ("tab:red", "tab:blue", "tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:gray")
    for ax, (key, title, log) in zip(axes, panels, strict=False):
        for (label, rs), color in zip(runs.items(), colors, strict=False):
            x, ys = seed_curves(rs, key)
            if not x.size:
                continue
            ax.plot(x, ys.mean(axis=0), lw=1.8, color=color, label=label)
            if ys.shape[0] > 1:
                ax.fill_between(x, ys.min(axis=0), ys.max(axis=0), color=color, alpha=0.15, lw=0)
        if key == RETURN_KEY and random_return is not None and ax.has_data():
            ax.axhline(random_return, color="0.3", ls="--", lw=1.0, label="uniform random")
        low, high = ax.dataLim.y0, ax.dataLim.y1
        if phase_steps and ax.has_data():
            for b in np.arange(phase_steps, ax.dataLim.x1, phase_steps):
                ax.axvline(b, color="0.4", ls=":", lw=1.0)
        if log and ax.has_data() and low > 0 and high >= 10 * low:  # log only where it spans a decade
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 20, not 2 x 10^1
            ax.yaxis.set_minor_formatter(FuncFormatter(_sparse_log_label))
        ax.set_title(title, fontsize=12)
        ax.set_xlabel("env steps", fontsize=10)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 3))
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=11)
    return save_figure(fig, path)


def _pairs(summary: dict[str, Any], key_a: str, key_b: str) -> tuple[list[float], list[float]]:
    """Every run's (final a, final b) over all configurations, runs missing either left out."""
    a: list[float] = []
    b: list[float] = []
    for cfg in summary["configs"].values():
        finals = cfg.get("seed_finals", {})
        for u, v in zip(finals.get(key_a, []), finals.get(key_b, []), strict=True):
            if u is not None and v is not None:
                a.append(u)
                b.append(v)
    return a, b


def _get(summary: dict[str, Any], role: str, key: str, stat: str) -> float | None:
    label = summary["roles"].get(role)
    if label is None or label not in summary["configs"]:
        return None
    return summary["configs"][label][key][stat]


def _lt(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and a < b


def _both(first: bool, second: bool, first_name: str, second_name: str) -> str:
    if first and second:
        return "yes"
    if first or second:
        return f"partly ({first_name if first else second_name} only)"
    return "no"


def _row(claim: str, ours: str, ok: bool | str) -> tuple[str, str, str]:
    return claim, ours, ok if isinstance(ok, str) else ("yes" if ok else "no")


def claims(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The paper's claims this run tests, each with our numbers and whether they agree (see module docstring)."""
    roles, cfgs = summary["roles"], summary["configs"]
    rank, dead, norm, exc = (metric_keys.PCA_RANK, metric_keys.DEAD_FRAC, metric_keys.PREACT_NORM,
                             metric_keys.EXCESS_RATIO)  # fmt: skip
    base = cfgs[roles["baseline"]]
    seeds = base["seeds"]
    out = []
    r = base[RETURN_KEY]
    out.append(_row(
        "Baseline PPO collapses: the return falls far below its peak and does not recover (Figs. 1-2)",
        f"`{roles['baseline']}`: {base['collapsed_runs']}/{seeds} seeds collapsed (detector); seed-mean training "
        f"return peak {fmt(r['max'])}, final {fmt(r['final'])}",
        base["collapsed_runs"] * 2 > seeds,
    ))  # fmt: skip
    moved = [
        _lt(base[rank]["final"], base[rank]["first"]),
        _lt(base[dead]["first"], base[dead]["final"]),
        _lt(base[norm]["first"], base[norm]["final"]),
    ]
    out.append(_row(
        "The collapse comes with a degrading representation: PCA rank down, dead units up, pre-activation norm up",
        f"baseline first → final: rank {fmt(base[rank]['first'])} → {fmt(base[rank]['final'])}, dead "
        f"{fmt(base[dead]['first'])} → {fmt(base[dead]['final'])}, norm {fmt(base[norm]['first'])} → "
        f"{fmt(base[norm]['final'])}",
        "yes" if all(moved) else f"partly ({sum(moved)}/3)" if any(moved) else "no",
    ))  # fmt: skip
    norm_a, exc_b = _pairs(summary, norm, exc)
    rank_a, exc_c = _pairs(summary, rank, exc)
    rho_norm, rho_rank = spearman(norm_a, exc_b), spearman(rank_a, exc_c)
    if rho_norm is not None:
        out.append(_row(
            "Across runs, a larger pre-activation norm and a lower PCA rank go with a larger excess ratio (the "
            "representation and the trust region degrade together, Fig. 6)",
            f"Spearman correlation of the runs' final values over {len(norm_a)} runs: norm vs excess ratio "
            f"{fmt(rho_norm, '.2f')}, PCA rank vs excess ratio {fmt(rho_rank, '.2f')}",
            _both(rho_norm > 0, rho_rank is not None and rho_rank < 0, "norm", "rank"),
        ))  # fmt: skip
    if "fewer_epochs" in roles:
        few = cfgs[roles["fewer_epochs"]]
        out.append(_row(
            "More epochs per rollout degrade the representation more (Fig. 1; Hopper: 10 → 15 → 20 epochs)",
            f"`{roles['fewer_epochs']}` vs `{roles['baseline']}` final rank {fmt(few[rank]['final'])} vs "
            f"{fmt(base[rank]['final'])}, norm {fmt(few[norm]['final'])} vs {fmt(base[norm]['final'])}, "
            f"collapsed {few['collapsed_runs']} vs {base['collapsed_runs']}",
            _lt(base[rank]["final"], few[rank]["final"]) and _lt(few[norm]["final"], base[norm]["final"]),
        ))  # fmt: skip
    if "pfo" in roles:
        pfo = cfgs[roles["pfo"]]
        out.append(_row(
            "PFO keeps the representation (norm, dead units) near its start and mitigates the collapse",
            f"PFO vs baseline final: norm {fmt(pfo[norm]['final'])} vs {fmt(base[norm]['final'])}, dead "
            f"{fmt(pfo[dead]['final'])} vs {fmt(base[dead]['final'])}, return {fmt(pfo[RETURN_KEY]['final'])} vs "
            f"{fmt(base[RETURN_KEY]['final'])}; collapsed {pfo['collapsed_runs']} vs {base['collapsed_runs']}",
            _lt(pfo[norm]["final"], base[norm]["final"]) and _lt(pfo[dead]["final"], base[dead]["final"])
            and pfo["collapsed_runs"] <= base["collapsed_runs"],
        ))  # fmt: skip
        out.append(_row(
            "The trust region fails with the representation: the excess ratio is higher without PFO",
            f"final excess ratio baseline {fmt(base[exc]['final'])} vs PFO {fmt(pfo[exc]['final'])}",
            _lt(pfo[exc]["final"], base[exc]["final"]),
        ))  # fmt: skip
    if "shared_trunk" in roles:
        sh = cfgs[roles["shared_trunk"]]
        out.append(_row(
            "A shared actor-critic trunk lowers the feature rank, and with sparse rewards it is detrimental (Fig. 6, "
            "Gravitar, masked Phoenix; this suite's " + summary["reward_kind"] + " reward)",
            f"shared vs baseline final: rank {fmt(sh[rank]['final'])} vs {fmt(base[rank]['final'])}, return "
            f"{fmt(sh[RETURN_KEY]['final'])} vs {fmt(base[RETURN_KEY]['final'])}; collapsed {sh['collapsed_runs']} "
            f"vs {base['collapsed_runs']}",
            _both(
                _lt(sh[rank]["final"], base[rank]["final"]),
                summary["reward_kind"] != "sparse" or not _lt(base[RETURN_KEY]["final"], sh[RETURN_KEY]["final"]),
                "rank",
                "return",
            ),
        ))  # fmt: skip
    if "adam_reset" in roles:
        ad = cfgs[roles["adam_reset"]]
        out.append(_row(
            "Resetting Adam lowers the feature norm and raises the rank, but does not prevent collapse by itself",
            f"Adam reset vs baseline final: norm {fmt(ad[norm]['final'])} vs {fmt(base[norm]['final'])}, rank "
            f"{fmt(ad[rank]['final'])} vs {fmt(base[rank]['final'])}; collapsed {ad['collapsed_runs']} vs "
            f"{base['collapsed_runs']}",
            _both(
                _lt(ad[norm]["final"], base[norm]["final"]), _lt(base[rank]["final"], ad[rank]["final"]), "norm", "rank"
            ),
        ))  # fmt: skip
    return out


def report_text(summary: dict[str, Any], description: str, tried: str) -> str:
    """report.md: the run, the claim table, the per-configuration table and what was tried to find collapse."""
    quick = summary["quick"]
    lines = [
        f"# PPO representation collapse (Moalla et al. 2024): setting `{summary['setting']}`",
        "",
        f"{'Quick' if quick else 'Full'} run: {summary['timesteps']} env steps per run, {summary['seeds']} seed(s) "
        f"per configuration, env `{summary['env_id']}`; {summary['wall_time_s']:.1f} s wall time for this call, "
        f"{summary['train_time_s']:.0f} s of training summed over the runs (reused runs included).",
        "",
        description,
        "",
        "Figure: `ppo_collapse.png` (one panel per signal; line: mean over seeds, band: the seeds' min to max). "
        "Returns are those of *training* episodes (policy sampled), as the paper reports; the collapse detector "
        "(`baselines.diagnostics.collapse`, via `rayenvs analyze`'s rule) reads the deterministic evaluation curve "
        "and the actor's rank and dead units. \"final\" is the mean over the last 10% of a series' points.",
        "",
        "| paper claim | ours | in band? |",
        "|---|---|---|",
    ]
    lines += [f"| {c['claim']} | {c['ours']} | {c['in_band']} |" for c in summary["claims"]]
    lines += [
        "",
        "| configuration | variant | training return peak → final | PCA rank first → final | dead frac first → "
        "final | preact norm first → final | excess ratio final | critic PCA rank first → final | collapsed runs |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, s in summary["configs"].items():
        r, pr, df, pn, er, cr = (s.get(k, EMPTY_STATS) for k, _, _ in BASE_PANELS)
        lines.append(
            f"| {label} | {s['variant']} | {fmt(r['max'])} → {fmt(r['final'])} | {fmt(pr['first'])} → "
            f"{fmt(pr['final'])} | {fmt(df['first'])} → {fmt(df['final'])} | {fmt(pn['first'])} → "
            f"{fmt(pn['final'])} | {fmt(er['final'])} | {fmt(cr['first'])} → {fmt(cr['final'])} "
            f"| {s['collapsed_runs']}/{s['seeds']} |"
        )
    lines += ["", "## What we tried to make baseline PPO collapse on this suite", "", tried, ""]
    lines.append(
        f"Run directories (results.json, curves.png, TensorBoard logs) are under `{summary['runs_dir']}/`."
        + (
            " A quick run is a short budget: it checks the pipeline, and its verdicts are weak."
            if quick
            else ""
        )
    )
    lines.append("")
    return "\n".join(lines)
