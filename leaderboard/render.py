"""HTML pages and plots of the board, shared by the live app and the static export.

Templates are Jinja2 with autoescaping forced on, so every user-supplied string (submitter, algo, variant,
hyperparameters) is shown as text. Plots are PNGs whose labels hold only catalog env ids and entry numbers,
never user strings. The two front ends differ only in their :class:`Urls`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader

from leaderboard.curve_scores import SYMMETRIC_FAMILIES
from leaderboard.scoring import (
    BOOTSTRAP_REPS,
    PROFILE_TAUS,
    EntryScore,
    normalised_curves,
    performance_profile,
    seed_scores,
)
from leaderboard.storage import Entry

TIER_RANK = {"failed": -1, "self-reported": 0, "reproducible": 1, "verified": 2}
COLUMNS = (
    ("entry", "number"),
    ("env", "text"),
    ("algo", "text"),
    ("variant", "text"),
    ("submitter", "text"),
    ("tier", "number"),
    ("seeds", "number"),
    ("IQM [95% CI]", "number"),
    ("mean [95% CI]", "number"),
    ("P(> PPO)", "number"),
    ("steps to 90%", "number"),
    ("plateaus", "number"),
    ("collapse rate", "number"),
)
DASH = "\u2014"


@dataclass(frozen=True)
class Urls:
    """Where pages link to: absolute routes for the app, relative files for the static site."""

    index: Callable[[], str]
    entry: Callable[[int], str]
    curve: Callable[[int], str]
    profile: Callable[[str], str]


def _env() -> Environment:
    return Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=True)


def _ci(ci: tuple[float, float] | None) -> str:
    return DASH if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _opt(value: float | int | None, fmt: str) -> tuple[str, str]:
    """(text, sort key) of an optional number; missing values sort last."""
    if value is None:
        return DASH, ""
    return format(value, fmt), repr(float(value))


def row_view(e: Entry, s: EntryScore) -> dict[str, Any]:
    """The table row of one entry (strings are escaped by the template, not here)."""
    poi_text, poi_sort = _opt(s.prob_improvement, ".2f")
    steps_text, steps_sort = _opt(s.steps_to_90, ",d")
    plat_text, plat_sort = _opt(s.plateaus, ".2f")
    col_text, col_sort = _opt(s.collapse_rate, ".2f")
    return {
        "id": e.id,
        "env_id": e.env_id,
        "algo": e.algo,
        "variant": e.variant,
        "submitter": e.submitter,
        "tier": e.tier,
        "tier_rank": TIER_RANK.get(e.tier, 0),
        "seeds": s.num_seeds,
        "iqm": repr(s.iqm),
        "iqm_text": f"{s.iqm:.3f}",
        "iqm_ci": _ci(s.iqm_ci),
        "mean": repr(s.mean),
        "mean_text": f"{s.mean:.3f}",
        "mean_ci": _ci(s.mean_ci),
        "poi_text": poi_text,
        "poi_sort": poi_sort,
        "poi_ci": _ci(s.prob_improvement_ci) if s.prob_improvement_ci is not None else "",
        "steps_text": "not reached"
        if s.steps_to_90 is None and e.family in SYMMETRIC_FAMILIES
        else steps_text,
        "steps_sort": steps_sort,
        "plateaus_text": plat_text,
        "plateaus_sort": plat_sort,
        "collapse_text": col_text,
        "collapse_sort": col_sort,
    }


SORT_SCRIPT = "sort.js"


def sort_script() -> str:
    """The index page's table-sorting script, served as a file next to the page (no inline script)."""
    return (Path(__file__).parent / "templates" / SORT_SCRIPT).read_text(encoding="utf-8")


def index_html(
    entries: Sequence[Entry], scores: dict[int, EntryScore], urls: Urls, quarantined: Sequence[Any] = ()
) -> str:
    """The front page: one sortable table per env family, best IQM first; quarantined rows are named."""
    families: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(entries, key=lambda e: (-scores[e.id].iqm, e.id)):
        families.setdefault(e.family, []).append(row_view(e, scores[e.id]))
    view = [{"name": name, "rows": rows} for name, rows in sorted(families.items())]
    cols = [{"label": label, "type": kind} for label, kind in COLUMNS]
    return (
        _env()
        .get_template("index.html")
        .render(families=view, columns=cols, urls=urls, reps=BOOTSTRAP_REPS, quarantined=list(quarantined))
    )


def entry_html(e: Entry, score: EntryScore, verifications: list[dict[str, Any]], urls: Urls) -> str:
    """The page of one entry: summary, learning-curve plot, configuration, verifications."""
    b = e.bundle
    return (
        _env()
        .get_template("entry.html")
        .render(
            e=e,
            row=row_view(e, score),
            urls=urls,
            created=e.created_at.isoformat(),
            seeds=", ".join(str(s.seed) for s in b.seeds),
            components=", ".join(f"{i}: {name}" for i, name in enumerate(b.component_names)),
            protocol=f"{'deterministic' if b.protocol.deterministic else 'stochastic'}, "
            f"{b.protocol.episodes_per_point} episodes per point",
            wall_time=f"{b.wall_time_s:,.0f} s",
            hyperparameters=json.dumps(b.hyperparameters, indent=2, sort_keys=True, default=str),
            versions=json.dumps(b.versions, indent=2, sort_keys=True),
            hardware=json.dumps(b.hardware, indent=2, sort_keys=True),
            verifications=verifications,
        )
    )


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curve_png(e: Entry) -> bytes:
    """Normalised learning curves: every seed thin, their mean bold, per-component means (first 10) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, curves = normalised_curves(e.bundle)
    fig, ax = plt.subplots(figsize=(7.2, 4.0))
    for curve in curves:
        ax.plot(steps, curve, color="0.65", linewidth=1)
    ax.plot(steps, curves.mean(axis=0), color="tab:blue", linewidth=2.5, label="mean over seeds")
    comps = np.array(
        [
            [np.mean(np.asarray(c, dtype=np.float64), axis=0) for c in s.eval.component_returns]
            for s in e.bundle.seeds
        ]
    )  # (seeds, points, K)
    k = comps.shape[-1]
    means = comps.mean(axis=0)  # (points, K)
    if e.family in SYMMETRIC_FAMILIES:
        # Each component's share of the optimum is optimal_return / K: plot the fraction of it reached.
        from rayenvs.registration import env_info

        share = env_info(e.env_id).optimal_return / k
        comp_ax, means, what = ax, means / share, "fraction of its optimum share"
    else:
        comp_ax, what = ax.twinx(), "raw return, right axis"
        comp_ax.set_ylabel("component return")
    for i in range(min(k, 10)):
        comp_ax.plot(steps, means[:, i], linestyle="--", linewidth=1, label=f"component {i} ({what})")
    ax.set_xlabel("env steps")
    ax.set_ylabel("normalised return")
    ax.set_title(f"entry {e.id}: {e.env_id}", usetex=False)
    handles = ax.get_legend_handles_labels()
    if comp_ax is not ax:
        extra = comp_ax.get_legend_handles_labels()
        handles = (handles[0] + extra[0], handles[1] + extra[1])
    ax.legend(*handles, fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _png(fig)


def profile_png(entries: Sequence[Entry]) -> bytes:
    """rliable performance profile of a family: fraction of runs scoring above tau, one line per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.8, 3.2))
    for e in entries:
        ax.step(PROFILE_TAUS, performance_profile(seed_scores(e.bundle)), where="post", label=f"#{e.id}")
    ax.set_xlabel("normalised score \u03c4")
    ax.set_ylabel("fraction of runs > \u03c4")
    ax.set_ylim(-0.02, 1.02)
    if entries:
        ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    return _png(fig)
