"""Scores read off whole learning curves: sample efficiency (AUC) and per-component progress.

*AUC* is the trapezoidal area under a seed's normalised mean-return curve divided by the step span it covers,
so 1 is "at the optimum from the first evaluation", 0 "no better than random throughout"; it ranks sample
efficiency where the final score ties (every bandit learner stops at J >= K - 0.1).

*Per-component fraction* of a seed at an eval point: for each component, the mean over the episodes in which
that component was present (``component_present``; none recorded means every component in every episode) of
its return divided by its own optimum in that episode. In the symmetric families (bandit, multi-room, glimpse)
an optimal episode earns ``optimal_return`` split equally over the components present in it, so a component's
optimum in an episode is ``optimal_return / (components present in it)``: a solved component scores exactly
1.0 whatever the mix of starting rooms in the fixed evaluation episodes (dividing by ``optimal_return / K``
scored a solved room 1.2 when it started 6 of 20 episodes instead of 5). Other families have no
per-component optimum in the catalog and get no component scores.
"""

from __future__ import annotations

import numpy as np

from leaderboard.schema import Bundle

SYMMETRIC_FAMILIES = frozenset({"bandit", "multiroom", "glimpse"})
NORMALISATION = {
    "score": "(R - random) / (optimum - random) at the final eval point, unclipped "
    "(Atari: the usual human-normalised score)",
    "auc": "area under the normalised mean-return curve / step span, unclipped",
    "component_scores": "component return / that component's optimum, over the episodes where it is present",
}


def auc_scores(bundle: Bundle) -> np.ndarray:
    """Normalised area under every seed's learning curve, shape (num_seeds,)."""
    from leaderboard.scoring import normalised_curves

    steps, curves = normalised_curves(bundle)
    span = float(steps[-1] - steps[0])
    if span <= 0:  # one eval point (or all at one step): the area is that point's score
        return curves.mean(axis=1)
    x = steps.astype(np.float64)
    return ((curves[:, 1:] + curves[:, :-1]) / 2 * np.diff(x)).sum(axis=1) / span


def component_fractions(bundle: Bundle, family: str) -> np.ndarray | None:
    """``[seed, point, component]`` fraction of each component's own optimum (NaN where it was never
    present at that point), or None for a family without per-component optima."""
    from rayenvs.registration import env_info

    if family not in SYMMETRIC_FAMILIES:
        return None
    optimum = env_info(bundle.env_id).optimal_return
    k = len(bundle.component_names)
    out = np.full((len(bundle.seeds), len(bundle.seeds[0].eval.steps), k), np.nan)
    for i, s in enumerate(bundle.seeds):
        present_all = s.eval.component_present
        for p, rows in enumerate(s.eval.component_returns):
            comps = np.asarray(rows, dtype=np.float64).reshape(len(rows), k)
            present = (
                np.ones_like(comps, dtype=bool)
                if present_all is None
                else np.asarray(present_all[p], dtype=bool).reshape(comps.shape)
            )
            n_present = present.sum(axis=1, keepdims=True)
            share = np.where(n_present > 0, optimum / np.maximum(n_present, 1), np.nan)
            frac = np.where(present, comps / share, 0.0)
            counts = present.sum(axis=0)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[i, p] = np.where(counts > 0, frac.sum(axis=0) / np.maximum(counts, 1), np.nan)
    return out


def first_step_reached(steps: list[int], reached: np.ndarray) -> float:
    """The first step where ``reached`` (per point) holds, or inf."""
    hit = np.flatnonzero(reached)
    return float(steps[hit[0]]) if hit.size else np.inf


def median_step(hits: list[float]) -> int | None:
    """Median over seeds of the steps reached; None when half the seeds (or more) never got there."""
    median = float(np.median(hits))
    return int(median) if np.isfinite(median) else None


def component_steps_to_threshold(bundle: Bundle, family: str, threshold: float) -> dict[str, int | None]:
    """Per component, the median over seeds of the first eval step at which it reaches ``threshold`` of its
    optimum (None: not reached by half the seeds); empty for a family without per-component optima."""
    fracs = component_fractions(bundle, family)
    if fracs is None:
        return {}
    out = {}
    for c, name in enumerate(bundle.component_names):
        hits = [
            first_step_reached(s.eval.steps, fracs[i, :, c] >= threshold - 1e-12)
            for i, s in enumerate(bundle.seeds)
        ]
        out[name] = median_step(hits)
    return out
