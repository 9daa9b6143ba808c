"""Plateau detector on synthetic curves with known plateaus and on batched bandit learners."""

from __future__ import annotations

import json

import numpy as np
import pytest

from baselines.bandit.learners import train_bandit
from baselines.diagnostics.plateaus import (
    Plateau,
    PlateauReport,
    detect_plateaus,
    detect_plateaus_batch,
    plateau_likelihood,
    plateaus_from_bandit,
)

T = np.arange(1001, dtype=np.float64)


def _sig(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _two_stage(noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Learn half, stall on [~260, ~640], learn the rest: the plateau is where the sigmoid slopes are tiny."""
    y = _sig((T - 200) / 10) + _sig((T - 700) / 10)
    return y + np.random.default_rng(seed).normal(0, noise, T.shape)


def test_two_stage_curve_has_exactly_one_plateau() -> None:
    rep = detect_plateaus(T, _two_stage(), optimum=2.0, start=0.0)
    assert rep.count == 1
    p = rep.plateaus[0]
    # slope (1/10) s (1 - s) < 0.1 * 2/1000 where |t - c| > 10 ln(499) ~ 62, widened by the 20-step smoothing
    assert 245 <= p.start_step <= 285 and 615 <= p.end_step <= 655
    assert p.length == p.end_step - p.start_step
    assert 0.9 < p.start_value < 1.1 and 0.9 < p.end_value < 1.1
    assert p.flatness < 1e-6 < p.max_rate < 2e-4


def test_noisy_two_stage_curve_still_has_one_plateau() -> None:
    for seed in range(5):
        rep = detect_plateaus(T, _two_stage(noise=0.01, seed=seed), optimum=2.0)
        assert rep.count == 1, seed
        assert 230 <= rep.plateaus[0].start_step <= 300 and 600 <= rep.plateaus[0].end_step <= 670


def test_fast_monotone_curves_have_no_plateau() -> None:
    assert detect_plateaus(T, 2 * (1 - np.exp(-T / 50)), optimum=2.0, start=0.0).count == 0
    assert detect_plateaus(T, 2 * _sig((T - 500) / 80), optimum=2.0).count == 0
    assert detect_plateaus(T, 2 * T / 1000, optimum=2.0).count == 0


def test_flat_stretches_at_start_or_optimum_are_not_plateaus() -> None:
    late_start = 2 * _sig((T - 800) / 10)  # flat at 0 for most of the run
    assert detect_plateaus(T, late_start, optimum=2.0, start=0.0).count == 0
    early_finish = 2 * _sig((T - 100) / 10)  # flat at the optimum for most of the run
    assert detect_plateaus(T, early_finish, optimum=2.0, start=0.0).count == 0
    # ... but a stall half-way is one, and so is it for a loss going down to its optimum
    assert detect_plateaus(T, 5 - 2 * _two_stage(), optimum=1.0, start=5.0).count == 1


def test_components_tell_the_winner_take_all_stages() -> None:
    J1 = _sig((T - 200) / 10) * 0.98 + 0.01
    J2 = np.where(T < 700, 0.1 * (1 - _sig((T - 200) / 10)) + 1e-3, 0) + _sig((T - 700) / 10) * 0.99
    comps = np.stack([J1, J2], 1)
    rep = detect_plateaus(T, comps.sum(1), optimum=2.0, start=0.11, component_values=comps)
    assert rep.count == 1
    p = rep.plateaus[0]
    assert p.lead_in_improving == [0] and p.lead_in_regressing == [1]
    assert p.component_change is not None and len(p.component_change) == 2
    with pytest.raises(ValueError, match=r"component_values has shape \(1001,\); expected \(1001, K\)"):
        detect_plateaus(T, comps.sum(1), optimum=2.0, component_values=J1)


def test_step_size_scales_rates_and_reports_serialise() -> None:
    y = _two_stage()
    a = detect_plateaus(T, y, optimum=2.0, start=0.0)
    b = detect_plateaus(T, y, optimum=2.0, start=0.0, step_size=0.1)
    assert b.plateaus[0].flatness == pytest.approx(10 * a.plateaus[0].flatness)
    assert b.slowest_rate == pytest.approx(10 * a.slowest_rate)
    d = json.loads(json.dumps(b.to_dict()))
    assert d["count"] == 1 and d["plateaus"][0]["start_step"] == b.plateaus[0].start_step
    assert d["step_size"] == 0.1 and d["flattest"] == b.flattest


def test_repeated_steps_are_averaged() -> None:
    y = _two_stage()
    steps = np.repeat(T, 2)
    vals = np.stack([y - 0.05, y + 0.05], 1).ravel()  # two evaluations per step, mean = y
    comps = np.stack([vals / 2, vals / 2], 1)
    got = detect_plateaus(steps, vals, optimum=2.0, start=0.0, component_values=comps).to_dict()
    want = detect_plateaus(
        T, y, optimum=2.0, start=0.0, component_values=np.stack([y / 2, y / 2], 1)
    ).to_dict()
    assert got["count"] == want["count"] == 1
    assert got["plateaus"][0]["start_step"] == want["plateaus"][0]["start_step"]
    assert got["plateaus"][0]["flatness"] == pytest.approx(want["plateaus"][0]["flatness"], abs=1e-12)


def test_batch_matches_single_curves() -> None:
    Y = np.stack([_two_stage(), 2 * (1 - np.exp(-T / 50))], 1)
    reps = detect_plateaus_batch(T, Y, optimum=2.0, start=0.0)
    assert [r.count for r in reps] == [1, 0]
    assert reps[0].to_dict() == detect_plateaus(T, Y[:, 0], optimum=2.0, start=0.0).to_dict()


def _report(flat: float | None, slowest: float | None) -> PlateauReport:
    plats = [] if flat is None else [Plateau(0, 1, 1, 0.5, 0.5, flat, flat)]
    return PlateauReport(plats, slowest, 0.0, 2.0, 1.0, 0.1, 1.0, 0.1, None)


def test_plateau_likelihood_exact_fractions() -> None:
    reps = [_report(1e-6, 1e-6), _report(1e-3, 1e-4), _report(None, 1e-2), _report(None, None)]
    np.testing.assert_allclose(plateau_likelihood(reps, [1e-7, 1e-5, 1e-3, 1.0]), [0, 0.25, 0.5, 0.5])
    np.testing.assert_allclose(plateau_likelihood(reps, [1e-4, 1.0], statistic="slowest"), [0.5, 0.75])
    with pytest.raises(ValueError, match="statistic='max'"):
        plateau_likelihood(reps, [1.0], statistic="max")
    with pytest.raises(ValueError, match="reports is empty"):
        plateau_likelihood([], [1.0])


@pytest.mark.parametrize(
    "steps,values,kwargs,match",
    [
        ([0, 2, 1], [0, 1, 2], {}, "non-decreasing"),
        ([1, 1], [0, 1], {}, "at least 2 distinct steps"),
        ([0, 1, 2], [0, 1], {}, "steps has 3 points but values has 2"),
        ([0, 1, 2], [0, np.nan, 2], {}, "values contains non-finite"),
        ([0], [0], {}, "at least 2 points"),
        ([0, 1, 2], [0, 1, 2], {"margin": 0.5}, r"margin=0.5 is outside the allowed range \[0, 0.5\)"),
        ([0, 1, 2], [0, 1, 2], {"threshold": 0.0}, "threshold=0.0"),
        ([0, 1, 2], [0, 1, 2], {"step_size": -1.0}, "step_size=-1.0"),
        ([0, 1, 2], [0, 1, 2], {"smooth": -1.0}, "smooth=-1.0"),
    ],
)
def test_bad_inputs(steps: list, values: list, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        detect_plateaus(steps, values, optimum=2.0, **kwargs)


def test_bandit_on_policy_runs_cross_flat_plateaus_and_ablations_do_not() -> None:
    eps = 1e-4  # ~10x slower than a balanced trajectory (the paper's Fig. 8)
    on = plateaus_from_bandit(train_bandit(2, 2, "on-policy", 150, seed=1, max_samples=10_000))
    tab = plateaus_from_bandit(train_bandit(2, 2, "tabular", 150, seed=1, max_samples=10_000))
    sup = plateaus_from_bandit(train_bandit(2, 2, "supervised", 150, seed=1, max_samples=10_000))
    assert np.mean([r.count > 0 for r in on]) >= 0.7
    assert plateau_likelihood(on, [eps])[0] >= 0.35  # 0.44-0.55 over seeds; the paper has ~0.3
    assert plateau_likelihood(tab, [eps])[0] <= 0.1
    assert np.mean([r.count > 0 for r in sup]) == 0.0
    # WTA stage before the first on-policy plateau: one context improved while the other regressed
    firsts = [r.plateaus[0] for r in on if r.count and r.plateaus[0].flatness < eps]
    assert np.mean([len(p.lead_in_improving) == 1 for p in firsts]) >= 0.9
    assert np.mean([p.lead_in_regressing == [1 - k] for p in firsts for k in p.lead_in_improving[:1]]) >= 0.4
