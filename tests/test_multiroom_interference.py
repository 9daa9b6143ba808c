"""``multiroom-interference``: the epsilon-mixture behaviour policy, the per-seed statistics, the verdicts, and a
tiny end-to-end run (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch as th

from baselines.experiments.multiroom_interference import (
    _jobs,
    claims,
    diff_ci,
    mean_ci,
    reproduce_multiroom_interference,
    seed_stats,
    steps_to_threshold,
    summarise,
    suppressed,
)


def _model(eps: float):
    import gymnasium as gym

    import rayenvs  # noqa: F401
    from baselines.ppo.variants import build_model
    from baselines.training.vec_env import make_train_env

    env = make_train_env("rayenvs/MultiRoom-R2-Doors-v0", 2)
    assert isinstance(env.observation_space, gym.spaces.Box)
    hp = {"policy": "EpsilonMixtureMlpPolicy", "policy_kwargs": {"behaviour_epsilon": eps}, "n_steps": 64,
          "batch_size": 64}  # fmt: skip
    return build_model("baseline", env, hp, seed=0, device="cpu")


def test_mixture_policy_samples_the_mixture_and_stores_its_log_prob() -> None:
    model = _model(0.5)
    policy = model.policy
    obs = th.zeros((20_000, *model.observation_space.shape))
    with th.no_grad():
        pi = policy.get_distribution(obs[:1]).distribution.probs[0]
        actions, _, log_mu = policy(obs)
    mix = 0.5 * pi + 0.5 / 4
    freq = np.bincount(actions.numpy(), minlength=4) / len(actions)
    np.testing.assert_allclose(freq, mix.numpy(), atol=0.015)  # ~4.5 sd of a 20k-sample frequency
    np.testing.assert_allclose(log_mu.numpy(), th.log(mix[actions]).numpy(), rtol=1e-6)
    # the update's log-probs are pi's (the ratio pi / mu is the importance weight); predict() follows pi
    _, logp_pi, _ = policy.evaluate_actions(obs[:50], actions[:50])
    np.testing.assert_allclose(logp_pi.detach().numpy(), th.log(pi[actions[:50]]).numpy(), rtol=1e-5)
    det, _, _ = policy(obs[:3], deterministic=True)
    assert (det == int(pi.argmax())).all()


def test_mixture_policy_rejects_bad_epsilon() -> None:
    with pytest.raises(ValueError, match=r"behaviour_epsilon=1.0 is outside the allowed range \[0, 1\)"):
        _model(1.0)


def test_jobs_give_each_room_network_its_share_and_as_many_updates(tmp_path: Path) -> None:
    jobs = _jobs("rayenvs/MultiRoom-R4-Doors-v0", 4, 2, 100_000, tmp_path, "cpu")
    assert len(jobs) == 2 * (1 + 4 + 1)
    assert [Path(j[3]).relative_to(tmp_path).as_posix() for j in jobs[:6]] == [
        "shared/seed_0", "separate/seed_0/room_0", "separate/seed_0/room_1", "separate/seed_0/room_2",
        "separate/seed_0/room_3", "mixed/seed_0"]  # fmt: skip
    shared, room2, mixed = jobs[0], jobs[3], jobs[5]
    assert shared[2] == 100_000 and shared[4] == {} and shared[5] == {} and shared[6] == 64
    # a quarter of the steps, envs, minibatch and evaluation episodes: same number of updates per network
    assert room2[2] == 25_000 and room2[4] == {"n_envs": 2, "batch_size": 64} and room2[5] == {"tasks": [2]}
    assert room2[6] == 16
    assert mixed[4]["policy"] == "EpsilonMixtureMlpPolicy" and mixed[4]["policy_kwargs"] == {"behaviour_epsilon": 0.1}


def test_steps_to_threshold_smooths_three_points() -> None:
    steps = np.arange(6) * 10.0
    assert steps_to_threshold(steps, [0, 0, 1, 0, 1, 1], 0.8) == 50.0  # a single spike is not enough
    assert steps_to_threshold(steps, [0, 0, 0, 1, 1, 1], 0.8) == 40.0
    assert steps_to_threshold(steps, [0, 0.5, 0.5, 0.5, 0.5, 0.5], 0.8) is None
    assert steps_to_threshold(steps, [0, 0.5, 0.5, 0.5, 0.5, 0.5]) == 20.0  # the default: half-solved


def test_suppressed_needs_five_zero_evaluations_before_the_room_is_learned() -> None:
    steps = np.arange(12) * 10.0
    five = [0.1, 0, 0, 0, 0, 0, 0.1, 0.5, 1, 1, 1, 1]
    assert suppressed(steps, five, learned=90.0)
    assert not suppressed(steps, five, learned=50.0)  # the zeros after it was learned do not count
    assert not suppressed(steps, [0.1, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 1, 1], learned=None)  # runs of 4
    assert not suppressed(steps, [0, 0, 0, 0, 0, 0.1, 1, 1, 1, 1, 1, 1], learned=None)  # the untrained point
    steps_, J = _staged()
    J[25:40, 1] = 0.0  # room 1 pushed to zero while room 0 is learned: suppressed
    assert seed_stats(steps_, J, 0.07)["suppressed_rooms"] == [1]


def _staged(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """Room 0 learned early, room 1 only after a long flat stretch: two stages and a plateau between."""
    steps = np.arange(n) * 1000.0
    J = np.full((n, 2), 0.07)
    J[10:20, 0] = np.linspace(0.07, 1.0, 10)
    J[20:, 0] = 1.0
    J[90:100, 1] = np.linspace(0.07, 1.0, 10)
    J[100:, 1] = 1.0
    return steps, J


def test_seed_stats_sees_stages_and_the_plateau_between() -> None:
    steps, J = _staged()
    s = seed_stats(steps, J, start=0.07)
    assert s["order"] == [0, 1]
    assert s["first"] == 15_000.0 and s["last"] == 95_000.0 and s["stagger"] == 80_000.0
    assert s["total_plateaus"] == 1
    p = s["plateaus"][0]
    assert p["start_step"] < 30_000 and p["end_step"] > 80_000 and p["improving"] == []
    together = np.repeat(J[:, :1], 2, axis=1)
    assert seed_stats(steps, together, start=0.07)["stagger"] == 0.0


def test_summary_intervals_and_verdicts() -> None:
    rng = np.random.default_rng(0)
    c = mean_ci([1.0, 2.0, 3.0, None], rng)
    assert c["n"] == 3 and c["mean"] == 2.0 and 1.0 <= c["lo"] < 2.0 < c["hi"] <= 3.0
    d = diff_ci([1.0, 1.0], [3.0, 3.0], rng)
    assert d == {"mean": -2.0, "lo": -2.0, "hi": -2.0}
    steps, J = _staged()
    staged = seed_stats(steps, J, 0.07)
    fast = seed_stats(steps, np.repeat(J[:, :1], 2, axis=1), 0.07)
    summary = summarise({"shared": [staged] * 3, "separate": [fast] * 3, "mixed": [staged] * 3}, 120_000.0)
    assert summary["shared"]["frac_with_plateau"] == 1.0 and summary["separate"]["frac_with_plateau"] == 0.0
    assert summary["separate"]["last_minus_shared"]["mean"] == -80_000.0
    verdicts = [b for _, _, b in claims(summary, 0.07, 0.33)]
    assert verdicts == [True, True, True, False]  # mixed is no faster than shared here


@pytest.mark.slow
def test_tiny_run_writes_figures_report_and_summary(tmp_path: Path) -> None:
    s = reproduce_multiroom_interference(tmp_path, quick=True, seeds=2, timesteps=4096, progress=False)
    for name in ("room_curves.png", "learning_order.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (tmp_path / "report.md").read_text()
    assert "| paper claim | ours | in band? |" in report and "Quick run" in report
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["configs"].keys() == {"shared", "separate", "mixed"} and len(saved["claims"]) == 4
    assert s["rooms"] == 2 and len(list((tmp_path / "runs-quick" / "separate" / "seed_1").iterdir())) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"env_id": "rayenvs/MultiRoom-R4-v0"}, "must be a MultiRoom-R.*-Doors-v0 id"),
     ({"seeds": 0}, "seeds"), ({"timesteps": 100}, "timesteps")],
)
def test_bad_arguments_fail_before_training(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        reproduce_multiroom_interference(tmp_path / "out", progress=False, **kwargs)
    assert not (tmp_path / "out").exists()
