"""Plateau detection on learning curves: where progress stalls half-way (Schaul et al. 2019, Definition 2).

A plateau is a stretch where the objective is *away from both its start and its optimum* and yet barely moves.
Slow progress at the very start (nothing learned yet) or at the very end (converged) is not a plateau: those are
excluded by ``margin``. Detection works on any curve (bandit J, evaluation returns of deep-RL runs), so it is
phrased in units that need no knowledge of the learner:

1. the curve is smoothed with a centred moving average of width ``smooth`` steps (handles irregular steps);
2. progress ``p = (smoothed - start) / (optimum - start)`` (0 at the start, 1 at the optimum, either direction);
3. the rate ``d smoothed / d step`` is compared with the *reference rate* ``|optimum - start| / (step span)``,
   i.e. the constant rate that would go from start to optimum within the observed run; a point is slow if
   ``|rate| < threshold * reference``;
4. maximal runs of points that are slow and have ``margin < p < 1 - margin`` form plateaus (runs closer than
   ``smooth`` steps, or with less than ``margin / 2`` progress between them, are merged; runs shorter than
   ``min_length`` steps are dropped).

Each plateau reports its flatness, the paper's epsilon: the slowest ``|dJ/dt|`` inside it (the value of
``dJ/dt`` at the plateau's inflection point, measured at the scale of a quarter of the plateau), divided by
``step_size`` when the step size is known so that it is in the continuous-time units of the paper (one update
of step size ``lr`` advances time by ``lr``). The
largest ``|dJ/dt|`` inside is reported too (``max_rate``, an upper bound valid on the whole plateau), but it is
close to ``threshold * reference`` by construction, so it is not used for ranking. With per-component curves
(the ``J_k``), each plateau also says which components improved or regressed during it and during the stage
that led into it: the winner-take-all stages that precede ray-interference plateaus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.1
DEFAULT_MARGIN = 0.1
DEFAULT_SMOOTH_FRACTION = 0.02
DEFAULT_SMOOTH_POINTS = 5
COMPONENT_TOLERANCE = 0.01


@dataclass
class Plateau:
    """One detected plateau; steps are in the units of the ``steps`` given to :func:`detect_plateaus`."""

    start_step: float
    end_step: float
    length: float
    start_value: float  # smoothed objective at the plateau's start
    end_value: float
    flatness: float  # slowest |dJ/dt| inside (the paper's epsilon), / step_size if known
    max_rate: float  # fastest |dJ/dt| inside, / step_size if known
    component_change: list[float] | None = None  # smoothed change of each component during the plateau
    improving: list[int] = field(default_factory=list)  # components that rose during the plateau
    regressing: list[int] = field(default_factory=list)  # components that fell during the plateau
    lead_in_improving: list[int] = field(default_factory=list)  # rose in the stage leading into the plateau
    lead_in_regressing: list[int] = field(default_factory=list)  # fell in that stage (WTA losers)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PlateauReport:
    """All plateaus of one curve, plus the settings used and the slowest progress away from start/optimum."""

    plateaus: list[Plateau]
    slowest_rate: float | None  # min |dJ/dt| where margin < p < 1 - margin (the paper's Fig. 3 statistic)
    start: float
    optimum: float
    smooth: float
    threshold: float
    min_length: float
    margin: float
    step_size: float | None

    @property
    def count(self) -> int:
        return len(self.plateaus)

    @property
    def flattest(self) -> float | None:
        """The smallest flatness among the plateaus (None without plateaus)."""
        return min((p.flatness for p in self.plateaus), default=None)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["count"] = self.count
        out["flattest"] = self.flattest
        return out


def moving_average(steps: np.ndarray, values: np.ndarray, width: float) -> np.ndarray:
    """Centred moving average over ``|step - step_i| <= width / 2`` (values (T,) or (T, K); steps sorted)."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    cs = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    lo = np.searchsorted(steps, steps - width / 2, side="left")
    hi = np.searchsorted(steps, steps + width / 2, side="right")
    count = (hi - lo).reshape(-1, *([1] * (values.ndim - 1)))
    return (cs[hi] - cs[lo]) / count


def window_slope(steps: np.ndarray, values: np.ndarray, width: float) -> np.ndarray:
    """Secant slope of ``values`` across ``[step - width / 2, step + width / 2]`` (clipped at the ends).

    Taken across the whole smoothing window rather than between neighbouring points, so the sampling noise
    left after smoothing does not create spurious near-zero rates (which would fake very flat plateaus).
    """
    lo = np.clip(np.searchsorted(steps, steps - width / 2, side="left"), 0, len(steps) - 1)
    hi = np.clip(np.searchsorted(steps, steps + width / 2, side="right") - 1, 0, len(steps) - 1)
    lo = np.minimum(lo, np.maximum(hi - 1, 0))
    hi = np.maximum(hi, np.minimum(lo + 1, len(steps) - 1))
    return (values[hi] - values[lo]) / (steps[hi] - steps[lo])


def _flatness(steps: np.ndarray, values: np.ndarray, smooth: float) -> float:
    """Slowest |rate| inside a plateau, measured at the scale ``max(smooth, length / 4)``.

    A plateau's slowest point is what the paper calls epsilon, but on a stochastic curve the slope at a short
    scale is dominated by noise and its minimum is biased towards 0 (on 2x2 REINFORCE runs, by ~10x against
    the exact dJ/dt computed from the policy). Measured over a quarter of the plateau the median error is
    about 1.3x.
    """
    if len(steps) < 2:
        return 0.0
    width = max(smooth, (steps[-1] - steps[0]) / 4)
    return float(np.abs(window_slope(steps, moving_average(steps, values, width), width)).min())


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Inclusive index ranges of the maximal runs of True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1, strict=True))


def _finite_1d(name: str, x: Any) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} has shape {arr.shape}; expected a 1-D array")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains non-finite values")
    return arr


def detect_plateaus(
    steps: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    *,
    optimum: float,
    start: float | None = None,
    smooth: float | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    min_length: float | None = None,
    margin: float = DEFAULT_MARGIN,
    component_values: np.ndarray | None = None,
    step_size: float | None = None,
) -> PlateauReport:
    """Find the plateaus of one learning curve.

    Parameters
    ----------
    steps, values: the curve, (T,) each; ``steps`` non-decreasing (updates, samples or env steps); values at a
        repeated step are averaged.
    optimum: the best achievable value (``K`` for the bandit); may be below ``start`` for a loss.
    start: the value progress is measured from; default: the smoothed first value (robust to a noisy first
        evaluation).
    smooth: moving-average width in steps; default ``max(2% of the step span, 5 step spacings)``: wide enough to
        average out sampling noise, narrow enough not to erase a plateau that lasts a few percent of the run.
    threshold: a point is slow if ``|rate| < threshold * |optimum - start| / span`` (default 0.1: ten times
        slower than the uniform pace that would reach the optimum within the run).
    min_length: shortest plateau in steps; default ``smooth`` (a shorter flat stretch cannot be told from noise).
    margin: fraction of ``|optimum - start|`` near the start and near the optimum where slowness is ignored
        (default 0.1: the paper ignores "slow progress near the start or the optimum").
    component_values: optional (T, K) per-component curves for the improving/regressing analysis.
    step_size: learning rate (or time per step); rates are divided by it to give the paper's dJ/dt.
    """
    s = _finite_1d("steps", steps)
    v = _finite_1d("values", values)
    if s.shape != v.shape:
        raise ValueError(f"steps has {s.size} points but values has {v.size}")
    if s.size < 2:
        raise ValueError(f"a curve needs at least 2 points, got {s.size}")
    if (np.diff(s) < 0).any():
        raise ValueError("steps must be non-decreasing")
    if not np.isfinite(optimum):
        raise ValueError(f"optimum={optimum!r} must be finite")
    if not 0 < threshold:
        raise ValueError(f"threshold={threshold!r} is outside the allowed range (0, inf)")
    if not 0 <= margin < 0.5:
        raise ValueError(f"margin={margin!r} is outside the allowed range [0, 0.5)")
    if step_size is not None and not step_size > 0:
        raise ValueError(f"step_size={step_size!r} is outside the allowed range (0, inf)")
    comps = None
    if component_values is not None:
        comps = np.asarray(component_values, dtype=np.float64)
        if comps.ndim != 2 or comps.shape[0] != s.size:
            raise ValueError(f"component_values has shape {comps.shape}; expected ({s.size}, K)")
        if not np.isfinite(comps).all():
            raise ValueError("component_values contains non-finite values")
    if (np.diff(s) == 0).any():  # several evaluations at one step (results.json allows it): average them
        s, inverse = np.unique(s, return_inverse=True)
        counts = np.bincount(inverse)
        v = np.bincount(inverse, weights=v) / counts
        if comps is not None:
            comps = np.stack([np.bincount(inverse, weights=c) / counts for c in comps.T], axis=1)
        if s.size < 2:
            raise ValueError("a curve needs at least 2 distinct steps")
    span = float(s[-1] - s[0])
    if smooth is None:
        smooth = max(DEFAULT_SMOOTH_FRACTION * span, DEFAULT_SMOOTH_POINTS * float(np.median(np.diff(s))))
    if not smooth >= 0:
        raise ValueError(f"smooth={smooth!r} is outside the allowed range [0, inf)")
    if min_length is None:
        min_length = smooth
    if not min_length >= 0:
        raise ValueError(f"min_length={min_length!r} is outside the allowed range [0, inf)")

    sm = moving_average(s, v, smooth)
    start_v = float(sm[0]) if start is None else float(start)
    rng = float(optimum) - start_v
    scale = 1.0 if step_size is None else float(step_size)
    settings = dict(
        start=start_v,
        optimum=float(optimum),
        smooth=float(smooth),
        threshold=float(threshold),
        min_length=float(min_length),
        margin=float(margin),
        step_size=step_size,
    )
    if rng == 0 or s.size < 3:
        return PlateauReport(plateaus=[], slowest_rate=None, **settings)
    rate = np.abs(window_slope(s, sm, smooth))
    progress = (sm - start_v) / rng
    away = (progress > margin) & (progress < 1 - margin)
    slow = rate < threshold * abs(rng) / span
    slowest = float(rate[away].min()) / scale if away.any() else None

    runs = _runs(slow & away)
    merged: list[list[int]] = []
    for i, j in runs:
        # merge runs split by noise: close in steps, or with no real progress in between
        if merged and (
            s[i] - s[merged[-1][1]] < smooth or abs(progress[i] - progress[merged[-1][1]]) < margin / 2
        ):
            merged[-1][1] = j
        else:
            merged.append([i, j])
    sm_c = moving_average(s, comps, smooth) if comps is not None else None
    tol = COMPONENT_TOLERANCE * abs(rng) / (comps.shape[1] if comps is not None else 1)
    plateaus = []
    prev_end = 0
    for i, j in merged:
        if s[j] - s[i] < min_length:
            continue
        p = Plateau(
            start_step=float(s[i]),
            end_step=float(s[j]),
            length=float(s[j] - s[i]),
            start_value=float(sm[i]),
            end_value=float(sm[j]),
            flatness=_flatness(s[i : j + 1], v[i : j + 1], smooth) / scale,
            max_rate=float(rate[i : j + 1].max()) / scale,
        )
        if sm_c is not None:
            sign = np.sign(rng)  # "improving" means moving towards the optimum
            during = (sm_c[j] - sm_c[i]) * sign
            before = (sm_c[i] - sm_c[prev_end]) * sign
            p.component_change = [float(x) for x in sm_c[j] - sm_c[i]]
            p.improving = [int(k) for k in np.flatnonzero(during > tol)]
            p.regressing = [int(k) for k in np.flatnonzero(during < -tol)]
            p.lead_in_improving = [int(k) for k in np.flatnonzero(before > tol)]
            p.lead_in_regressing = [int(k) for k in np.flatnonzero(before < -tol)]
        plateaus.append(p)
        prev_end = j
    return PlateauReport(plateaus=plateaus, slowest_rate=slowest, **settings)


def detect_plateaus_batch(
    steps: Sequence[float] | np.ndarray,
    values: np.ndarray,
    *,
    optimum: float,
    start: float | Sequence[float] | np.ndarray | None = None,
    component_values: np.ndarray | None = None,
    **kwargs: Any,
) -> list[PlateauReport]:
    """:func:`detect_plateaus` on each column of ``values`` (T, B); ``component_values`` is (T, B, K)."""
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim != 2:
        raise ValueError(f"values has shape {vals.shape}; expected (T, B)")
    B = vals.shape[1]
    starts = [None] * B if start is None else list(np.broadcast_to(np.asarray(start, dtype=np.float64), (B,)))
    return [
        detect_plateaus(
            steps,
            vals[:, b],
            optimum=optimum,
            start=starts[b],
            component_values=None if component_values is None else component_values[:, b],
            **kwargs,
        )
        for b in range(B)
    ]


def plateaus_from_bandit(result: Any, **kwargs: Any) -> list[PlateauReport]:
    """Per-seed plateau reports of a ``train_bandit`` result (steps = updates, step_size = lr, optimum = K).

    Each seed's curve is cut at the update where it stopped, so frozen tails do not dilute the reference rate.
    Keyword arguments are passed on to :func:`detect_plateaus`.
    """
    J = np.asarray(result.J, dtype=np.float64)
    updates = np.asarray(result.updates)
    K = J.shape[2]
    kwargs.setdefault("step_size", float(result.config.get("lr", 1.0)))
    reports = []
    for seed in range(J.shape[1]):
        last = int(np.searchsorted(updates, result.stop_update[seed], side="left"))
        rows = slice(0, min(last, len(updates) - 1) + 1)
        reports.append(
            detect_plateaus(
                updates[rows],
                J[rows, seed].sum(1),
                optimum=float(K),
                start=float(J[0, seed].sum()),
                component_values=J[rows, seed],
                **kwargs,
            )
        )
    return reports


def plateau_likelihood(
    reports: Iterable[PlateauReport], eps: Sequence[float] | np.ndarray, statistic: str = "plateau"
) -> np.ndarray:
    """Fraction of runs with a plateau at least as flat as each ``eps`` (the paper's Figure 3 curve).

    ``statistic='plateau'`` uses the flattest detected plateau (runs without one never count);
    ``statistic='slowest'`` uses the slowest progress away from start and optimum, as in the paper's figure,
    whether or not a plateau was detected there.
    """
    if statistic not in ("plateau", "slowest"):
        raise ValueError(f"statistic={statistic!r} is not one of ('plateau', 'slowest')")
    reps = list(reports)
    if not reps:
        raise ValueError("reports is empty")
    flat = np.array([(r.flattest if statistic == "plateau" else r.slowest_rate) for r in reps], dtype=object)
    vals = np.array([np.inf if x is None else float(x) for x in flat])
    e = np.asarray(eps, dtype=np.float64)
    return (vals[None, :] <= e.reshape(-1, 1)).mean(axis=1).reshape(e.shape)
