"""Performance-collapse detection from a return curve and, when logged, representation metrics.

Moalla et al. (2024) describe the collapse signature (return falls while the actor's PCA rank goes to ~0 and
its dead units grow) but give no numeric threshold, so this module defines one. The rule, per signal:

- ``return``: the return is at or below ``running_best - drop_frac * range`` at ``patience`` consecutive
  points, where ``range`` is ``return_range`` (e.g. the env's optimal minus random return) or, if not given,
  the observed max minus min of the curve. Default ``drop_frac = 0.5``: losing half of the attainable range
  is far outside evaluation noise on the suite's envs yet catches partial collapses (the paper's collapsed
  agents lose most of their return).
- ``pca_rank``: the actor's PCA rank is at or below ``rank_frac`` times its first logged value at
  ``patience`` consecutive points. Default ``rank_frac = 0.2``: healthy runs in the paper vary their rank by a
  factor < 2, collapsed ones fall to a handful of dimensions.
- ``dead_frac``: the actor's dead-unit fraction is at or above ``dead_threshold`` at ``patience``
  consecutive points. Default 0.5: most of the penultimate layer no longer carries information.

Default ``patience = 3`` points: one bad evaluation is noise, three in a row is a trend. A run *collapsed*
when the return signal fires and, if representation metrics are given and ``require_representation`` is true,
at least one representation signal fires anywhere in the run (the critic's or actor's rank can fall after
the return). The collapse step is the return signal's first point. The range and the initial rank are read
from the whole curve: the detector is meant for finished runs, not for early stopping.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass(frozen=True)
class CollapseParams:
    """Thresholds of the rule (see the module docstring for why these defaults)."""

    drop_frac: float = 0.5
    rank_frac: float = 0.2
    dead_threshold: float = 0.5
    patience: int = 3
    require_representation: bool = True

    def __post_init__(self) -> None:
        for name in ("drop_frac", "rank_frac", "dead_threshold"):
            value = getattr(self, name)
            if not 0.0 < value < 1.0:
                raise ValueError(f"{name}={value!r} must lie in (0, 1)")
        if self.patience < 1:
            raise ValueError(f"patience={self.patience!r} must be >= 1")


@dataclass(frozen=True)
class CollapseReport:
    """The verdict: ``step`` of collapse (None if none), the signals that fired and each one's first step."""

    collapsed: bool
    step: int | None
    signals: list[str]
    signal_steps: dict[str, int]
    params: CollapseParams = field(default_factory=CollapseParams)

    def to_dict(self) -> dict[str, object]:
        return {
            "collapsed": self.collapsed,
            "step": self.step,
            "signals": list(self.signals),
            "signal_steps": dict(self.signal_steps),
            "params": asdict(self.params),
        }


def _series(steps: Sequence[int], values: Sequence[float], name: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.shape != v.shape:
        raise ValueError(f"{name}: steps ({s.shape}) and values ({v.shape}) must be 1-D and equal in length")
    if np.any(np.diff(s) < 0):
        raise ValueError(f"{name}: steps must be non-decreasing")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name}: values must be finite")
    return s, v


def first_sustained(condition: np.ndarray, patience: int) -> int | None:
    """Index of the first run of ``patience`` consecutive true entries, or None."""
    run = 0
    for i, c in enumerate(np.asarray(condition, dtype=bool)):
        run = run + 1 if c else 0
        if run == patience:
            return i - patience + 1
    return None


def return_collapse_index(
    values: np.ndarray, drop_frac: float, patience: int, return_range: float | None = None
) -> int | None:
    """First index where the return sits ``drop_frac * range`` below its running best for ``patience`` points."""
    span = float(values.max() - values.min()) if return_range is None else float(return_range)
    if return_range is not None and not span > 0:
        raise ValueError(f"return_range={return_range!r} must be > 0")
    if span <= 0:
        return None
    running_best = np.maximum.accumulate(values)
    return first_sustained(values <= running_best - drop_frac * span, patience)


def detect_collapse(
    steps: Sequence[int],
    returns: Sequence[float],
    *,
    pca_rank: tuple[Sequence[int], Sequence[float]] | None = None,
    dead_frac: tuple[Sequence[int], Sequence[float]] | None = None,
    return_range: float | None = None,
    params: CollapseParams | None = None,
) -> CollapseReport:
    """Apply the documented rule to a return curve and optional (steps, values) representation series."""
    p = params or CollapseParams()
    s, v = _series(steps, returns, "returns")
    fired: dict[str, int] = {}
    if len(v):
        i = return_collapse_index(v, p.drop_frac, p.patience, return_range)
        if i is not None:
            fired["return"] = int(s[i])
    representation_given = False
    if pca_rank is not None and len(pca_rank[0]):
        representation_given = True
        rs, rv = _series(*pca_rank, "pca_rank")
        i = first_sustained(rv <= p.rank_frac * rv[0], p.patience) if rv[0] > 0 else None
        if i is not None:
            fired["pca_rank"] = int(rs[i])
    if dead_frac is not None and len(dead_frac[0]):
        representation_given = True
        ds, dv = _series(*dead_frac, "dead_frac")
        i = first_sustained(dv >= p.dead_threshold, p.patience)
        if i is not None:
            fired["dead_frac"] = int(ds[i])
    representation_ok = (
        not representation_given
        or not p.require_representation
        or any(k in fired for k in ("pca_rank", "dead_frac"))
    )
    collapsed = "return" in fired and representation_ok
    return CollapseReport(
        collapsed=collapsed,
        step=fired["return"] if collapsed else None,
        signals=sorted(fired),
        signal_steps=fired,
        params=p,
    )
