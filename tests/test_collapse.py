"""The collapse rule on synthetic curves with a known collapse step, and on healthy curves."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.diagnostics.collapse import (
    CollapseParams,
    detect_collapse,
    first_sustained,
    return_collapse_index,
)

STEPS = list(range(0, 100_000, 5_000))  # 20 points


def _collapsing(at: int = 12) -> list[float]:
    """Rises to 100 by point 6, holds, then falls to ~5 from point ``at`` on."""
    up = np.minimum(np.arange(20) * 20.0, 100.0)
    up[at:] = 5.0
    return up.tolist()


def test_first_sustained():
    assert first_sustained(np.array([1, 0, 1, 1, 1, 0]), 3) == 2
    assert first_sustained(np.array([1, 1, 0, 1, 1]), 3) is None


def test_return_only_collapse_found_at_known_step():
    report = detect_collapse(STEPS, _collapsing(12))
    assert report.collapsed and report.step == STEPS[12] and report.signals == ["return"]


def test_short_dip_is_not_a_collapse():
    curve = _collapsing(25)  # never collapses
    curve[10] = curve[11] = 0.0  # two bad points < patience 3
    assert detect_collapse(STEPS, curve).step is None


def test_healthy_noisy_curve_has_no_collapse():
    rng = np.random.default_rng(0)
    curve = np.minimum(np.arange(20) * 10.0, 100.0) + rng.normal(0, 8, size=20)
    report = detect_collapse(STEPS, curve.tolist(), return_range=100.0)
    assert not report.collapsed and report.step is None and report.signals == []


def test_representation_required_when_given():
    healthy_rank = (STEPS, [50.0] * 20)
    report = detect_collapse(STEPS, _collapsing(12), pca_rank=healthy_rank)
    assert not report.collapsed and report.step is None and report.signals == ["return"]
    falling_rank = (STEPS, [50.0] * 11 + [2.0] * 9)
    report = detect_collapse(STEPS, _collapsing(12), pca_rank=falling_rank)
    assert report.collapsed and report.step == STEPS[12]
    assert report.signal_steps == {"return": STEPS[12], "pca_rank": STEPS[11]}
    relaxed = CollapseParams(require_representation=False)
    assert detect_collapse(STEPS, _collapsing(12), pca_rank=healthy_rank, params=relaxed).step == STEPS[12]


def test_dead_fraction_signal():
    dead = (STEPS, [0.0] * 13 + [0.6] * 7)
    report = detect_collapse(STEPS, _collapsing(12), dead_frac=dead)
    assert report.collapsed and report.signal_steps["dead_frac"] == STEPS[13]
    d = report.to_dict()
    assert d["step"] == STEPS[12] and d["params"]["dead_threshold"] == 0.5


def test_return_range_scales_the_drop():
    curve = np.array([0.0, 10.0, 10.0, 10.0, 6.0, 6.0, 6.0])
    assert return_collapse_index(curve, 0.5, 3) is None  # observed range 10: 6 > 10 - 5
    assert return_collapse_index(curve, 0.5, 3, return_range=4.0) == 4  # 6 <= 10 - 2
    deeper = np.array([0.0, 10.0, 10.0, 10.0, 4.0, 4.0, 4.0])
    assert return_collapse_index(deeper, 0.5, 3) == 4  # 4 <= 10 - 5
    with pytest.raises(ValueError, match="return_range"):
        return_collapse_index(curve, 0.5, 3, return_range=0.0)


def test_bad_input_rejected():
    with pytest.raises(ValueError, match="drop_frac"):
        CollapseParams(drop_frac=1.5)
    with pytest.raises(ValueError, match="patience"):
        CollapseParams(patience=0)
    with pytest.raises(ValueError, match="equal in length"):
        detect_collapse([0, 1], [1.0])
    with pytest.raises(ValueError, match="non-decreasing"):
        detect_collapse([2, 1], [1.0, 1.0])
