"""Issue 13's scores: per-component scores by each component's own optimum, AUC, budgets, stored round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_leaderboard_synthetic import GOOD, make_runs

from baselines.bandit.runs import run_bandit_job
from baselines.training.results import Curve, RunResult
from leaderboard.bundle import build_bundle
from leaderboard.curve_scores import auc_scores, component_fractions
from leaderboard.scoring import EntryScore, score_entry, steps_to_threshold

ROOMS = "rayenvs/MultiRoom-R4-v0"


def _multiroom_runs(tmp_path, starts, solved, name="mr"):
    """Three seeds of MultiRoom-R4 (random start): the fixed eval episodes start ``starts[e]``; a solved
    room earns its reward 1 in every episode that starts there, an unsolved one earns 0."""
    from rayenvs.registration import env_info

    assert env_info(ROOMS).num_components == 4
    dirs = []
    for seed in range(3):
        returns, comps, present = [], [], []
        for _ in range(3):  # three eval points
            rets = [1.0 if solved[r] else 0.0 for r in starts]
            returns.append(rets)
            comps.append([[rets[e] if c == r else 0.0 for c in range(4)] for e, r in enumerate(starts)])
            present.append([[c == r for c in range(4)] for r in starts])
        curve = Curve(steps=[0, 50, 100], returns=returns, component_returns=comps, component_present=present,
                      episodes_per_point=len(starts))
        d = tmp_path / f"{name}{seed}"
        d.mkdir()
        RunResult(env_id=ROOMS, algo="ppo", variant="baseline", seed=seed, config={"seed": seed},
                  component_names=[f"room_{i}" for i in range(4)], total_timesteps=100, eval=curve,
                  versions={"rayenvs": "0.1.0"}, wall_time_s=1.0).save(d)
        dirs.append(d)
    return build_bundle(dirs)


def test_a_solved_component_scores_exactly_one_whatever_its_share_of_episodes(tmp_path):
    # The case: 20 fixed eval episodes start 4/6/6/4 times in the four rooms.
    starts = [0] * 4 + [1] * 6 + [2] * 6 + [3] * 4
    score = score_entry(_multiroom_runs(tmp_path, starts, [True] * 4), "multiroom")
    assert score.component_scores == {f"room_{i}": 1.0 for i in range(4)}  # was 0.8, 1.2, 1.2, 0.8
    assert score.component_ci["room_1"] == (1.0, 1.0)
    assert score.component_steps_to_90 == {f"room_{i}": 0 for i in range(4)}
    assert score.steps_to_90 == 0 and score.auc == pytest.approx(1.0)
    half = score_entry(_multiroom_runs(tmp_path, starts, [True, False, True, False], "half"), "multiroom")
    assert half.component_scores == {"room_0": 1.0, "room_1": 0.0, "room_2": 1.0, "room_3": 0.0}
    assert half.component_steps_to_90["room_1"] is None and half.steps_to_90 is None
    assert half.seed_component_scores[0] == [1.0, 0.0, 1.0, 0.0]


def test_a_component_never_present_has_no_score(tmp_path):
    b = _multiroom_runs(tmp_path, [0, 1, 2], [True] * 4)
    fr = component_fractions(b, "multiroom")
    assert fr.shape == (3, 3, 4) and np.isnan(fr[:, :, 3]).all()
    s = score_entry(b, "multiroom")
    assert s.component_scores["room_3"] is None and s.component_ci["room_3"] is None
    assert s.component_steps_to_90["room_3"] is None


def test_auc_is_the_normalised_area_and_no_score_is_clipped(tmp_path):
    # K2n2: random 0.5, optimum 1. Levels 0.5, 0.5, 1, 1 at steps 0..300 -> normalised 0, 0, 1, 1.
    b = build_bundle(make_runs(tmp_path, [[0.5, 0.5, 1.0, 1.0]] * 2 + [[0.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(auc_scores(b), [0.5, 0.5, -1.0])  # (0 + 50 + 100) / 300
    s = score_entry(b, "bandit")
    assert min(s.seed_scores) == -1.0  # worse than random: below 0, not clipped to 0
    assert s.budget == 300
    assert steps_to_threshold(b, "bandit") == 200


def test_family_without_component_optima_gets_no_component_scores(tmp_path):
    b = build_bundle(make_runs(tmp_path, GOOD))
    s = score_entry(b, "atari")
    assert s.component_scores == {} and s.component_steps_to_90 == {}


def test_stored_score_round_trips_through_json(tmp_path):
    s = score_entry(build_bundle(make_runs(tmp_path, GOOD)), "bandit")
    d = json.loads(json.dumps(s.as_dict()))
    assert d["normalisation"]["auc"].startswith("area under")
    assert d["detectors"]["collapse"]["patience"] == 3 and d["detectors"]["plateaus"]["threshold"] == 0.1
    assert EntryScore.from_dict(d) == s


def test_bandit_learners_differ_on_auc_as_the_paper_predicts(tmp_path):
    """Real batched learner, equal budgets (no early stop): on-policy REINFORCE learns slower than the tabular
    and supervised learners (Schaul et al. 2019, ray interference), so its AUC is lower though all end high."""
    auc = {}
    for mode in ("on-policy", "tabular", "supervised"):
        dirs = [tmp_path / mode / str(s) for s in range(16)]  # batched: 16 seeds cost ~1 s
        run_bandit_job("rayenvs/Bandit-K2n2-v0", mode, list(range(16)), dirs, max_samples=4000, stop_at=2.0)
        s = score_entry(build_bundle(dirs), "bandit")
        assert s.budget == 4000 and set(s.component_scores) == {"context_0", "context_1"}
        auc[mode] = s
    assert auc["on-policy"].auc_ci[1] < auc["tabular"].auc_ci[0]
    assert auc["on-policy"].auc_ci[1] < auc["supervised"].auc_ci[0]
    assert auc["tabular"].component_scores["context_0"] > 0.95
