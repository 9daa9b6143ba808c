"""Scores: normalisation, rliable-consistent aggregates and CIs, probability of improvement, suite columns."""

from __future__ import annotations

import numpy as np
import pytest
from rliable import metrics as rly_metrics
from test_leaderboard_synthetic import GOOD, make_runs

from leaderboard.bundle import build_bundle
from leaderboard.scoring import (
    batched_iqm,
    batched_mean,
    batched_probability_of_improvement,
    collapse_rate,
    interval,
    normalise,
    performance_profile,
    plateau_count,
    score_board,
    seed_scores,
    steps_to_threshold,
    stratified_bootstrap_ci,
)
from leaderboard.storage import Store


def test_normalise_uses_random_and_optimal_references():
    # Bandit-K2n2: random policy 1/2, optimum 1.
    assert normalise("rayenvs/Bandit-K2n2-v0", 0.75) == pytest.approx(0.5)
    assert normalise("rayenvs/Bandit-K2n2-v0", 1.0) == 1.0
    # Issue 13 changed this deliberately: scores are no longer clipped, so worse than random is below 0.
    assert normalise("rayenvs/Bandit-K2n2-v0", 0.25) == pytest.approx(-0.5)
    assert normalise("rayenvs/Bandit-K8n16-v0", 1 / 16) == 0.0
    with pytest.raises(ValueError, match="unknown env id"):
        normalise("rayenvs/Nope-v0", 0.5)


def test_seed_scores_and_steps_to_90(tmp_path):
    b = build_bundle(make_runs(tmp_path, GOOD))
    np.testing.assert_allclose(seed_scores(b), [1.0, 1.0, 0.5])  # final means 1, 1, 0.75
    # Per component (contexts alternate): reaching 0.9 x 1/2 on both needs every episode right, i.e. level 1.0;
    # seed 0 gets there at step 300, seed 1 at 200, seed 2 never -> median 300.
    assert steps_to_threshold(b, "bandit") == 300
    assert steps_to_threshold(b, "atari") is None


def test_batched_statistics_match_rliable():
    rng = np.random.default_rng(3)
    x, y = rng.random((6, 3)), rng.random((5, 3))
    y[0, 1] = x[2, 1]  # a tie
    assert batched_iqm(x[None])[0] == pytest.approx(rly_metrics.aggregate_iqm(x))
    assert batched_mean(x[None])[0] == pytest.approx(rly_metrics.aggregate_mean(x))
    assert batched_probability_of_improvement(x[None], y[None])[0] == pytest.approx(
        rly_metrics.probability_of_improvement(x, y)
    )


def test_bootstrap_ci_is_deterministic_and_stratified():
    rng = np.random.default_rng(0)
    scores = rng.random((5, 2))
    ci = stratified_bootstrap_ci(batched_mean, scores)
    assert ci == stratified_bootstrap_ci(batched_mean, scores)  # fixed random_state
    assert scores.mean(axis=0).min() <= ci[1] and ci[0] <= scores.mean() <= ci[1]
    # Resampling stays within each task: a task of constants keeps its value in every resample.
    const = np.column_stack([np.full(4, 0.3), np.full(4, 0.7)])
    assert stratified_bootstrap_ci(batched_mean, const) == pytest.approx((0.5, 0.5))
    with pytest.raises(ValueError, match="reps=0"):
        stratified_bootstrap_ci(batched_mean, scores, reps=0)


def test_interval_iqm_and_mean():
    scores = np.array([[0.2], [0.4], [0.6], [0.8]])
    est = interval(scores)
    assert est["iqm"][0] == pytest.approx(0.5)  # trims 0.2 and 0.8
    assert est["mean"][0] == pytest.approx(0.5)
    for _, (lo, hi) in est.values():
        assert 0.2 <= lo <= 0.5 <= hi <= 0.8


def test_performance_profile_counts_runs_above_tau():
    prof = performance_profile(np.array([[0.1], [0.5], [0.9]]), taus=np.array([0.0, 0.1, 0.5, 0.95]))
    np.testing.assert_allclose(prof, [1.0, 2 / 3, 1 / 3, 0.0])


def test_board_compares_entries_with_the_ppo_baseline(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    base = store.submit(
        build_bundle(make_runs(tmp_path, [[0.5] * 4, [0.5, 0.75, 0.5, 0.75], [0.5] * 4], "base"))
    )
    better = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "better", variant="pfo-last")))
    scores = score_board(store.entries())
    assert scores[base].prob_improvement is None and scores[base].baseline_id is None
    assert scores[better].baseline_id == base
    assert scores[better].prob_improvement == pytest.approx(1.0)
    assert scores[better].iqm == pytest.approx(1.0) and scores[better].iqm_ci == pytest.approx((1.0, 1.0))
    # Baseline finals: 0.5, 0.75, 0.5 -> normalised 0, 0.5, 0.
    assert scores[base].mean == pytest.approx(1 / 6)


def test_collapse_rate_follows_the_diagnostics_rule(tmp_path):
    # Bandit-K2n2 return range (optimal - random) = 0.5; a fall of half of it for 3 points is a collapse.
    collapsed = [1.0, 0.5, 0.5, 0.5]
    b = build_bundle(make_runs(tmp_path, [GOOD[0], collapsed, GOOD[2]]))
    assert collapse_rate(b) == pytest.approx(1 / 3)
    assert collapse_rate(build_bundle(make_runs(tmp_path, GOOD, "healthy"))) == 0.0


def test_plateau_column_counts_plateaus_per_seed(tmp_path):
    steps = list(range(0, 1010, 10))
    stalled = [0.5] * 5 + [0.75] * 70 + [1.0] * 26  # stuck half-way to the optimum for 700 steps
    direct = [0.5] * 5 + [1.0] * 96
    b = build_bundle(make_runs(tmp_path, [stalled, stalled, direct], steps=steps))
    assert plateau_count(b) == pytest.approx(2 / 3)
