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

from leaderboard.curve_scores import NORMALISATION, SYMMETRIC_FAMILIES, component_fractions
from leaderboard.scoring import (
    BOOTSTRAP_REPS,
    PROFILE_TAUS,
    EntryScore,
    detector_parameters,
    normalised_curves,
    performance_profile,
    seed_scores,
)
from leaderboard.storage import TIER_RANK, Entry

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
    ("AUC [95% CI]", "number"),
    ("budget (steps)", "number"),
)
TASK_COLUMNS = (
    ("entry", "number"),
    ("algo", "text"),
    ("variant", "text"),
    ("submitter", "text"),
    ("tier", "number"),
    ("seeds", "number"),
    ("IQM [95% CI]", "number"),
    ("AUC [95% CI]", "number"),
    ("P(> PPO)", "number"),
    ("steps to 90%", "number"),
    ("plateaus per seed", "number"),
    ("collapse rate", "number"),
)
PAGE_SIZE = 50  # rows per page of the served index and task pages
DASH = "\u2014"


@dataclass(frozen=True)
class Urls:
    """Where pages link to: absolute routes for the app, relative files for the static site."""

    index: Callable[[], str]
    entry: Callable[[int], str]
    curve: Callable[[int], str]
    profile: Callable[[str], str]
    task: Callable[[str], str]
    bundle: Callable[[int], str]
    weights: Callable[[int, int], str]
    script: Callable[[], str]


def task_slug(env_id: str) -> str:
    """A catalog env id as one path segment (``rayenvs/Bandit-K2n2-v0`` -> ``rayenvs--Bandit-K2n2-v0``)."""
    return env_id.replace("/", "--")


def env_of_slug(slug: str) -> str:
    """The catalog env id of a task slug; ValueError naming the slug when it is not a registered id."""
    from rayenvs.registration import CATALOG

    env_id = slug.replace("--", "/")
    if env_id not in CATALOG:
        raise ValueError(f"no task {slug!r}: not a registered rayenvs env id")
    return env_id


def _env() -> Environment:
    return Environment(loader=PackageLoader("leaderboard", "templates"), autoescape=True)


def _ci(ci: tuple[float, float] | None) -> str:
    return DASH if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _opt(value: float | int | None, fmt: str) -> tuple[str, str]:
    """(text, sort key) of an optional number; missing values sort last."""
    if value is None:
        return DASH, ""
    return format(value, fmt), repr(float(value))


def row_view(e: Any, s: EntryScore) -> dict[str, Any]:
    """The table row of one entry (an Entry or a listed entry; strings are escaped by the template)."""
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
        "auc": repr(s.auc),
        "auc_text": f"{s.auc:.3f}",
        "auc_ci": _ci(s.auc_ci),
        "budget": s.budget,
        "budget_text": f"{s.budget:,d}",
        "plateaus_seeds": DASH if s.plateaus_per_seed is None else ", ".join(map(str, s.plateaus_per_seed)),
    }


def _page(rows: Sequence[Any], page: int | None) -> tuple[Sequence[Any], dict[str, int] | None]:
    """One page of rows (all of them when ``page`` is None, as in the static export)."""
    if page is None:
        return rows, None
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    if not 1 <= page <= pages:
        raise ValueError(f"page={page} is outside [1, {pages}]")
    return rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE], {"page": page, "pages": pages}


SORT_SCRIPT = "sort.js"


def sort_script() -> str:
    """The index page's table-sorting script, served as a file next to the page (no inline script)."""
    return (Path(__file__).parent / "templates" / SORT_SCRIPT).read_text(encoding="utf-8")


def index_html(
    entries: Sequence[Any],
    scores: dict[int, EntryScore],
    urls: Urls,
    quarantined: Sequence[Any] = (),
    page: int | None = None,
) -> str:
    """The front page: per family, an index of its tasks (one ranking page each) and a sortable table of its
    entries, best IQM first (scores are pooled over the family's tasks here; rankings are on the task pages).
    ``page`` paginates the rows (PAGE_SIZE per page); quarantined rows are named."""
    ordered = sorted(entries, key=lambda e: (e.family, -scores[e.id].iqm, e.id))
    shown, pager = _page(ordered, page)
    tasks: dict[str, dict[str, int]] = {}
    for e in entries:
        tasks.setdefault(e.family, {}).setdefault(e.env_id, 0)
        tasks[e.family][e.env_id] += 1
    families: dict[str, list[dict[str, Any]]] = {name: [] for name in tasks}
    for e in shown:
        families[e.family].append(row_view(e, scores[e.id]))
    view = [
        {
            "name": name,
            "rows": families[name],
            "tasks": [{"env_id": t, "count": n, "slug": task_slug(t)} for t, n in sorted(tasks[name].items())],
        }
        for name in sorted(tasks)
    ]
    cols = [{"label": label, "type": kind} for label, kind in COLUMNS]
    return (
        _env()
        .get_template("index.html")
        .render(
            families=view, columns=cols, urls=urls, reps=BOOTSTRAP_REPS, quarantined=list(quarantined),
            pager=pager, normalisation=NORMALISATION, detectors=detector_parameters(),
        )
    )


def task_html(env_id: str, entries: Sequence[Any], scores: dict[int, EntryScore], urls: Urls,
              page: int | None = None) -> str:
    """One task's ranking page: only ``env_id``'s entries, one table per training budget (entries are ranked
    only against equal budgets), with per-component scores and filters by algo and tier."""
    mine = sorted((e for e in entries if e.env_id == env_id), key=lambda e: (-scores[e.id].budget,
                                                                           -scores[e.id].iqm, e.id))
    shown, pager = _page(mine, page)
    names = list(scores[mine[0].id].component_scores) if mine else []
    budgets: dict[int, list[dict[str, Any]]] = {}
    for e in shown:
        s = scores[e.id]
        row = row_view(e, s)
        row["components"] = [_opt(s.component_scores.get(n), ".3f") for n in names]
        budgets.setdefault(s.budget, []).append(row)
    cols = [{"label": label, "type": kind} for label, kind in TASK_COLUMNS]
    cols += [{"label": f"{n} (of its optimum)", "type": "number"} for n in names]
    return (
        _env()
        .get_template("task.html")
        .render(
            env_id=env_id, budgets=sorted(budgets.items(), reverse=True), columns=cols, urls=urls,
            algos=sorted({e.algo for e in mine}), tiers=[t for t in TIER_RANK if any(e.tier == t for e in mine)],
            pager=pager, reps=BOOTSTRAP_REPS, normalisation=NORMALISATION, detectors=detector_parameters(),
            count=len(mine),
        )
    )


def entry_html(
    e: Entry,
    score: EntryScore,
    verifications: list[dict[str, Any]],
    urls: Urls,
    weights_seeds: Sequence[int] = (),
    is_baseline: bool = False,
) -> str:
    """The page of one entry: summary, per-seed and per-component tables, learning curves, downloads (bundle
    JSON, and the weights of ``weights_seeds``), the baseline it is compared with, configuration, verifications."""
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
            seed_rows=_seed_rows(e, score),
            task_slug=task_slug(e.env_id),
            baseline_id=score.baseline_id,
            is_baseline=is_baseline,
            component_rows=[
                {
                    "name": n,
                    "score": _opt(score.component_scores.get(n), ".3f")[0],
                    "ci": _ci(score.component_ci.get(n)) if score.component_ci.get(n) else "",
                    "steps": "not reached" if score.component_steps_to_90.get(n, 0) is None
                    else _opt(score.component_steps_to_90.get(n), ",d")[0],
                }
                for n in (score.component_scores or {})
            ],
            component_names=list(score.component_scores),
            weights_seeds=list(weights_seeds),
            normalisation=NORMALISATION,
            detectors=detector_parameters(),
        )
    )


def _seed_rows(e: Entry, score: EntryScore) -> list[dict[str, Any]]:
    """Per seed: final score, AUC, plateaus, budget and per-component scores."""
    rows = []
    for i, s in enumerate(e.bundle.seeds):
        comps = score.seed_component_scores[i] if i < len(score.seed_component_scores) else []
        rows.append({
            "seed": s.seed,
            "score": f"{score.seed_scores[i]:.3f}" if i < len(score.seed_scores) else DASH,
            "auc": f"{score.seed_auc[i]:.3f}" if i < len(score.seed_auc) else DASH,
            "plateaus": DASH if score.plateaus_per_seed is None else str(score.plateaus_per_seed[i]),
            "steps": f"{s.total_timesteps:,d}",
            "components": [DASH if c is None else f"{c:.3f}" for c in comps],
        })
    return rows


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def curve_png(e: Entry) -> bytes:
    """Learning curves on two axes: the normalised total (every seed thin, their mean bold) above, and each
    component's mean over seeds (first 10) below, as the fraction of its own optimum where one is defined
    (raw return otherwise), with the legend beside the plot so it never hides a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, curves = normalised_curves(e.bundle)
    fig, (ax, comp_ax) = plt.subplots(2, 1, figsize=(7.2, 6.4), sharex=True)
    for curve in curves:
        ax.plot(steps, curve, color="0.65", linewidth=1)
    ax.plot(steps, curves.mean(axis=0), color="tab:blue", linewidth=2.5, label="mean over seeds")
    ax.plot([], [], color="0.65", linewidth=1, label="one seed")
    ax.set_ylabel("normalised return")
    ax.set_title(f"entry {e.id}: {e.env_id}", usetex=False)
    fracs = component_fractions(e.bundle, e.family)
    if fracs is not None:
        with np.errstate(invalid="ignore"):
            means = np.nanmean(fracs, axis=0)  # (points, K)
        comp_ax.set_ylabel("fraction of its optimum")
    else:
        comps = np.array(
            [[np.mean(np.asarray(c, dtype=np.float64), axis=0) for c in s.eval.component_returns]
             for s in e.bundle.seeds]
        )
        means = comps.mean(axis=0)
        comp_ax.set_ylabel("component return (raw)")
    for i in range(min(means.shape[-1], 10)):
        comp_ax.plot(steps, means[:, i], linewidth=1.5, label=f"component {i}")
    comp_ax.set_xlabel("env steps")
    for a in (ax, comp_ax):
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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
