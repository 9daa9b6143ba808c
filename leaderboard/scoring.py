"""Scores the board computes from raw bundles: normalised returns, rliable aggregates and the suite's columns.

Normalisation: ``(R - random_return) / (optimal_return - random_return)``, not clipped (a policy worse than
random scores below 0, Atari's human-normalised score above 1 is kept), with the references of
:func:`rayenvs.registration.env_info` (exact for bandits and multi-room, documented constants for Atari/MuJoCo).
A seed's score is the normalised mean return at its *final* evaluation point; its ``auc`` and per-component
scores are in :mod:`leaderboard.curve_scores`.

Point estimates come from ``rliable.metrics`` (IQM, mean, probability of improvement). Intervals are rliable's
stratified percentile bootstrap (runs resampled within each task, fixed ``random_state``), re-implemented in a
few lines because ``rliable.library`` imports ``arch``, whose 7.x releases fail to import with pandas 3.

Suite columns: *steps to 90%* is the first eval step at which every component reaches 90% of its own optimum
(:func:`leaderboard.curve_scores.component_fractions`; defined for the bandit, multi-room and glimpse families,
whose components are symmetric by construction), median over seeds, or None if half the seeds never get
there; the same per component. *Plateaus* (per seed) and *collapse rate* come from the diagnostics modules when
they are installed, with their detector parameters (:func:`detector_parameters`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np
from rliable import metrics as rly_metrics
from scipy.stats import trim_mean

from leaderboard.curve_scores import (
    NORMALISATION,
    auc_scores,
    component_fractions,
    component_steps_to_threshold,
    first_step_reached,
    median_step,
)
from leaderboard.schema import Bundle

if TYPE_CHECKING:
    from leaderboard.storage import Entry

BOOTSTRAP_REPS = 2000
RANDOM_STATE = 0
CI_LEVEL = 0.95
COMPONENT_THRESHOLD = 0.9
BASELINE = ("ppo", "baseline")  # (algo, variant) every entry is compared with
PROFILE_TAUS = np.linspace(0.0, 1.0, 51)


def normalise(env_id: str, value: float | np.ndarray) -> np.ndarray:
    """Map a mean return to the normalised scale (unclipped): 0 is the uniform-random policy, 1 the optimum."""
    from rayenvs.registration import env_info

    info = env_info(env_id)
    span = info.optimal_return - info.random_return
    if span <= 0:
        raise ValueError(
            f"{env_id}: optimal_return {info.optimal_return} must exceed random_return {info.random_return}"
        )
    return (np.asarray(value, dtype=np.float64) - info.random_return) / span


def seed_scores(bundle: Bundle) -> np.ndarray:
    """Normalised final-point mean return of every seed, shape (num_seeds,)."""
    finals = [float(np.mean(s.eval.returns[-1])) for s in bundle.seeds]
    return normalise(bundle.env_id, np.array(finals))


def normalised_curves(bundle: Bundle) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, scores[seed, point])``: every seed's normalised mean-return curve (steps shared, validated)."""
    steps = np.asarray(bundle.seeds[0].eval.steps, dtype=np.int64)
    means = np.array([[float(np.mean(r)) for r in s.eval.returns] for s in bundle.seeds])
    return steps, normalise(bundle.env_id, means)


def stratified_bootstrap_ci(
    statistic: Callable[..., np.ndarray],
    *score_matrices: np.ndarray,
    reps: int = BOOTSTRAP_REPS,
    random_state: int = RANDOM_STATE,
) -> tuple[float, float]:
    """Percentile CI of a statistic; each (runs x tasks) matrix is resampled over runs within every task.

    ``statistic`` is *batched*: it receives arrays of shape (reps, runs, tasks) and returns (reps,), so the
    2,000 resamples cost one vectorised call instead of 2,000 Python calls.
    """
    if reps < 1:
        raise ValueError(f"reps={reps} must be >= 1")
    rng = np.random.RandomState(random_state)
    resampled = []
    for m in score_matrices:
        m = np.asarray(m, dtype=np.float64)
        if m.ndim != 2 or m.shape[0] < 1 or m.shape[1] < 1:
            raise ValueError(f"score matrices must be (runs >= 1) x (tasks >= 1), got shape {m.shape}")
        n_runs, n_tasks = m.shape
        idx = rng.randint(0, n_runs, size=(reps, n_runs, n_tasks))
        resampled.append(m[idx, np.arange(n_tasks)[None, None, :]])
    values = np.asarray(statistic(*resampled), dtype=np.float64)
    tail = (1.0 - CI_LEVEL) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def batched_mean(scores: np.ndarray) -> np.ndarray:
    """``rliable.metrics.aggregate_mean`` over a leading batch axis: (B, runs, tasks) -> (B,)."""
    return scores.mean(axis=(1, 2))


def batched_iqm(scores: np.ndarray) -> np.ndarray:
    """``rliable.metrics.aggregate_iqm`` (25% trimmed mean over runs and tasks) over a leading batch axis."""
    return trim_mean(scores.reshape(scores.shape[0], -1), proportiontocut=0.25, axis=1)


def batched_probability_of_improvement(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``rliable.metrics.probability_of_improvement`` over a leading batch axis: P(X > Y) + P(X = Y) / 2
    per task (the Mann-Whitney U statistic over all run pairs, divided by their number), averaged over tasks.
    """
    diff = x[:, :, None, :] - y[:, None, :, :]  # (B, runs_x, runs_y, tasks)
    per_task = ((diff > 0) + 0.5 * (diff == 0)).mean(axis=(1, 2))
    return per_task.mean(axis=1)


def performance_profile(scores: np.ndarray, taus: np.ndarray = PROFILE_TAUS) -> np.ndarray:
    """rliable's run-score distribution: the fraction of runs (over all tasks) scoring above each tau."""
    flat = np.asarray(scores, dtype=np.float64).ravel()
    return np.array([(flat > tau).mean() for tau in taus])


def steps_to_threshold(bundle: Bundle, family: str, threshold: float = COMPONENT_THRESHOLD) -> int | None:
    """Median over seeds of the first eval step with every component >= threshold x its own optimum."""
    fracs = component_fractions(bundle, family)
    if fracs is None:
        return None
    hits = [
        first_step_reached(s.eval.steps, np.all(np.nan_to_num(fracs[i], nan=np.inf) >= threshold - 1e-12, axis=1))
        for i, s in enumerate(bundle.seeds)
    ]
    return median_step(hits)


def detector_parameters() -> dict[str, dict[str, object]]:
    """The settings the plateau and collapse columns are computed with (shown on the pages), or {} where the
    diagnostics modules are missing."""
    try:
        from baselines.diagnostics.collapse import CollapseParams
        from baselines.diagnostics.plateaus import (
            DEFAULT_MARGIN,
            DEFAULT_SMOOTH_FRACTION,
            DEFAULT_SMOOTH_POINTS,
        )
        from baselines.diagnostics.plateaus import DEFAULT_THRESHOLD as PLATEAU_THRESHOLD
    except ImportError:
        return {}
    return {
        "plateaus": {
            "curve": "mean eval return per seed",
            "threshold": PLATEAU_THRESHOLD,
            "margin": DEFAULT_MARGIN,
            "smooth": f"max({DEFAULT_SMOOTH_FRACTION:.0%} of the step span, {DEFAULT_SMOOTH_POINTS} eval spacings)",
            "min_length": "the smoothing width",
        },
        "collapse": asdict(CollapseParams()),
    }


def plateau_counts(bundle: Bundle) -> list[int] | None:
    """Number of plateaus of every seed's mean-return eval curve, as ``rayenvs analyze`` counts them
    (``baselines.diagnostics.plateaus`` with the catalog's optimum), or None where that module is missing."""
    try:
        from baselines.diagnostics.analysis import references
        from baselines.diagnostics.plateaus import detect_plateaus
    except ImportError:
        return None
    counts = []
    for s in bundle.seeds:
        totals = [float(np.mean(r)) for r in s.eval.returns]
        if len(totals) < 2:  # the detector needs a curve; one point has no plateau
            counts.append(0)
            continue
        optimum, _, _ = references(bundle.env_id, max(totals))
        counts.append(detect_plateaus(s.eval.steps, totals, optimum=optimum).count)
    return counts


def plateau_count(bundle: Bundle) -> float | None:
    """Mean of :func:`plateau_counts` over seeds."""
    counts = plateau_counts(bundle)
    return None if counts is None else float(np.mean(counts))


def collapse_rate(bundle: Bundle) -> float | None:
    """Fraction of seeds that collapse by the rule of ``rayenvs analyze`` (``baselines.diagnostics.collapse``), or None
    where that module is missing: same return curve, representation metrics and return range."""
    try:
        from baselines.diagnostics.analysis import DEAD_FRAC_KEY, PCA_RANK_KEY, references
        from baselines.diagnostics.collapse import detect_collapse
        from baselines.training.results import metric_series as series
    except ImportError:
        return None

    flags = []
    for s in bundle.seeds:
        totals = [float(np.mean(r)) for r in s.eval.returns]
        _, span, _ = references(bundle.env_id, max(totals))
        report = detect_collapse(
            s.eval.steps,
            totals,
            pca_rank=series(s.metrics, PCA_RANK_KEY),
            dead_frac=series(s.metrics, DEAD_FRAC_KEY),
            return_range=span,
        )
        flags.append(report.collapsed)
    return float(np.mean(flags))


@dataclass(frozen=True)
class EntryScore:
    """The numbers shown for one entry; CIs are (low, high); per-component values are keyed by name."""

    num_seeds: int
    iqm: float
    iqm_ci: tuple[float, float]
    mean: float
    mean_ci: tuple[float, float]
    steps_to_90: int | None
    plateaus: float | None
    collapse_rate: float | None
    baseline_id: int | None = None
    prob_improvement: float | None = None
    prob_improvement_ci: tuple[float, float] | None = None
    budget: int = 0
    auc: float = 0.0
    auc_ci: tuple[float, float] = (0.0, 0.0)
    component_scores: dict[str, float | None] = field(default_factory=dict)
    component_ci: dict[str, tuple[float, float] | None] = field(default_factory=dict)
    component_steps_to_90: dict[str, int | None] = field(default_factory=dict)
    plateaus_per_seed: list[int] | None = None
    seeds: list[int] = field(default_factory=list)
    seed_scores: list[float] = field(default_factory=list)
    seed_auc: list[float] = field(default_factory=list)
    seed_component_scores: list[list[float | None]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready values, with what each score is normalised by and the detectors' settings."""
        return asdict(self) | {"normalisation": NORMALISATION, "detectors": detector_parameters()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> EntryScore:
        """The score stored by :meth:`as_dict` (JSON turned its tuples into lists)."""
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in data.items() if k in names}
        for key in ("iqm_ci", "mean_ci", "auc_ci", "prob_improvement_ci"):
            if kw.get(key) is not None:
                kw[key] = tuple(kw[key])  # type: ignore[arg-type]
        kw["component_ci"] = {k: None if v is None else tuple(v) for k, v in dict(kw.get("component_ci", {})).items()}
        return cls(**kw)  # type: ignore[arg-type]


def interval(scores: np.ndarray) -> dict[str, tuple[float, tuple[float, float]]]:
    """IQM and mean of a (runs x tasks) score matrix with their stratified bootstrap CIs."""
    return {
        "iqm": (float(rly_metrics.aggregate_iqm(scores)), stratified_bootstrap_ci(batched_iqm, scores)),
        "mean": (float(rly_metrics.aggregate_mean(scores)), stratified_bootstrap_ci(batched_mean, scores)),
    }


def iqm_with_ci(per_seed: np.ndarray) -> tuple[float, tuple[float, float]]:
    """IQM over seeds (one task) and its stratified bootstrap CI."""
    m = np.asarray(per_seed, dtype=np.float64)[:, None]
    return float(rly_metrics.aggregate_iqm(m)), stratified_bootstrap_ci(batched_iqm, m)


def _components(bundle: Bundle, family: str) -> tuple[dict, dict, list[list[float | None]]]:
    """Per-component IQM and CI over the seeds where it was present at the final point, and per-seed values."""
    fracs = component_fractions(bundle, family)
    if fracs is None:
        return {}, {}, []
    final = fracs[:, -1, :]  # (seeds, K)
    scores: dict[str, float | None] = {}
    cis: dict[str, tuple[float, float] | None] = {}
    for c, name in enumerate(bundle.component_names):
        col = final[:, c][np.isfinite(final[:, c])]
        if col.size == 0:
            scores[name] = cis[name] = None
            continue
        scores[name], cis[name] = iqm_with_ci(col)
    per_seed = [[None if not np.isfinite(v) else float(v) for v in row] for row in final]
    return scores, cis, per_seed


def score_entry(
    bundle: Bundle, family: str, baseline: Bundle | None = None, baseline_id: int | None = None
) -> EntryScore:
    """Every column of one entry; ``baseline`` (same env) adds the probability of improvement over it."""
    per_seed = seed_scores(bundle)
    scores = per_seed[:, None]
    est = interval(scores)
    poi = poi_ci = None
    if baseline is not None:
        base = seed_scores(baseline)[:, None]
        poi = float(rly_metrics.probability_of_improvement(scores, base))
        poi_ci = stratified_bootstrap_ci(batched_probability_of_improvement, scores, base)
    aucs = auc_scores(bundle)
    auc, auc_ci = iqm_with_ci(aucs)
    comp_scores, comp_ci, comp_seed = _components(bundle, family)
    plateaus = plateau_counts(bundle)
    return EntryScore(
        num_seeds=len(bundle.seeds),
        iqm=est["iqm"][0],
        iqm_ci=est["iqm"][1],
        mean=est["mean"][0],
        mean_ci=est["mean"][1],
        steps_to_90=steps_to_threshold(bundle, family),
        plateaus=None if plateaus is None else float(np.mean(plateaus)),
        collapse_rate=collapse_rate(bundle),
        baseline_id=baseline_id if baseline is not None else None,
        prob_improvement=poi,
        prob_improvement_ci=poi_ci,
        budget=budget_of(bundle),
        auc=auc,
        auc_ci=auc_ci,
        component_scores=comp_scores,
        component_ci=comp_ci,
        component_steps_to_90=component_steps_to_threshold(bundle, family, COMPONENT_THRESHOLD),
        plateaus_per_seed=plateaus,
        seeds=[s.seed for s in bundle.seeds],
        seed_scores=[float(x) for x in per_seed],
        seed_auc=[float(x) for x in aucs],
        seed_component_scores=comp_seed,
    )


def budget_of(bundle: Bundle) -> int:
    """The entry's training budget: the largest ``total_timesteps`` of its seeds (entries are ranked only
    against entries of the same budget)."""
    return max(s.total_timesteps for s in bundle.seeds)


def pick_baselines(entries: Sequence[Entry]) -> dict[str, Entry]:
    """Per env id, the reference PPO-baseline entry: the highest tier, then the most seeds, then the oldest."""
    from leaderboard.storage import TIER_RANK

    best: dict[str, Entry] = {}
    for e in entries:
        if (e.algo.lower(), e.variant.lower()) != BASELINE:
            continue
        key = (TIER_RANK.get(e.tier, 0), len(e.bundle.seeds), -e.id)
        cur = best.get(e.env_id)
        if cur is None or key > (TIER_RANK.get(cur.tier, 0), len(cur.bundle.seeds), -cur.id):
            best[e.env_id] = e
    return best


def pinned_baselines(entries: Sequence[Entry], pins: Mapping[str, int]) -> dict[str, Entry]:
    """Per env id, the operator-pinned baseline entry, kept only while it is present and verified."""
    by_id = {e.id: e for e in entries}
    out = {}
    for env_id, sid in pins.items():
        e = by_id.get(sid)
        if e is not None and e.env_id == env_id and e.tier == "verified":
            out[env_id] = e
    return out


SCORE_CACHE_SIZE = 4096  # scored entries kept by a served board (cleared when full)


def score_board(
    entries: Sequence[Entry],
    pins: Mapping[str, int] | None = None,
    cache: MutableMapping[tuple, EntryScore] | None = None,
) -> dict[int, EntryScore]:
    """Scores of every stored entry, each compared with its env's PPO-baseline entry.

    A served or exported board passes ``pins`` (:meth:`Store.pinned_baselines`): only an operator-pinned,
    verified entry is a baseline, so nobody becomes the reference by naming a submission ``ppo/baseline``.
    Without ``pins`` (offline analysis of a list of entries) the best-ranked ``ppo/baseline`` entry is used.

    ``cache`` (a served board's) maps ``(hash, family, baseline id, baseline hash)`` to the score: a score
    depends only on those, and rescoring every entry's bootstrap CIs on every page view made the front page of
    200 entries take seconds (benchmarks/bench_leaderboard_load.py)."""
    baselines = pick_baselines(entries) if pins is None else pinned_baselines(entries, pins)
    out = {}
    for e in entries:
        base = baselines.get(e.env_id)
        if base is not None and base.id == e.id:
            base = None
        key = (e.content_hash, e.family, base.id if base else None, base.content_hash if base else None)
        if cache is not None and key in cache:
            out[e.id] = cache[key]
            continue
        out[e.id] = score_entry(
            e.bundle,
            e.family,
            base.bundle if base is not None else None,
            base.id if base is not None else None,
        )
        if cache is not None:
            if len(cache) >= SCORE_CACHE_SIZE:
                cache.clear()
            cache[key] = out[e.id]
    return out
