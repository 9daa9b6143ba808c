"""The CUDA path, end to end: run with ``python -m pytest -m gpu`` on a machine with a GPU.

Skipped by default (the ``gpu`` marker) and wherever CUDA is missing. ``RAYENVS_TEST_DEVICE=cpu python -m
pytest -m gpu tests/test_gpu.py`` runs the same tests on CPU, which checks the tests themselves.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.bandit.learners import train_bandit
from rayenvs.cli import main

DEVICE = os.environ.get("RAYENVS_TEST_DEVICE", "cuda")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        DEVICE.startswith("cuda") and not torch.cuda.is_available(), reason="needs a CUDA device"
    ),
]


def test_auto_device_picks_cuda_when_present() -> None:
    r = train_bandit(2, 2, "on-policy", 8, max_samples=20, device="auto")
    assert r.config["device"].startswith("cuda" if torch.cuda.is_available() else "cpu")


def test_bandit_learner_on_the_device_keeps_its_invariants() -> None:
    r = train_bandit(4, 4, "on-policy", 512, device=DEVICE, max_samples=8000, track_interference=True, seed=3)
    assert r.config["device"].startswith(DEVICE)
    assert r.J.shape == (len(r.updates), 512, 4) and np.isfinite(r.J).all()
    assert ((r.J > 0) & (r.J < 1)).all()
    assert 0.5 < r.solved.mean() < 1.0  # seeds stop at different times: the working batch is compacted
    for s in np.flatnonzero(r.solved)[:50]:  # stopped seeds are frozen, bit for bit
        u = r.stop_update[s]
        assert r.J[u, s].sum() >= 3.9 and r.J[u - 1, s].sum() < 3.9
        np.testing.assert_array_equal(r.J[u:, s], np.broadcast_to(r.J[u, s], r.J[u:, s].shape))
    assert r.rho.shape == (len(r.updates), 512, 4, 4) and np.isfinite(r.rho_mean).all()
    cpu = train_bandit(4, 4, "on-policy", 512, device="cpu", max_samples=8000, seed=3)
    # another random stream on CUDA: the same distribution, not the same runs
    assert abs(np.median(r.stop_update) - np.median(cpu.stop_update)) < 0.35 * np.median(cpu.stop_update)


def _train_on_device(root: Path, env_id: str, variant: str, flags: str) -> dict:
    """``rayenvs train`` one short seed on DEVICE with diagnostics every rollout; its results.json."""
    out = root / "runs"
    args = f"train {env_id} --variant {variant} --seeds 0 --timesteps 256 --device {DEVICE} --out {out} "
    assert main((args + "--metrics-every 1 --no-progress " + flags).split()) == 0
    (results,) = out.rglob("results.json")
    res = json.loads(results.read_text())
    assert res["hardware"]["device"].startswith(DEVICE)
    return res


@pytest.mark.parametrize(
    "env_id, variant",
    [
        ("rayenvs/Bandit-K2n2-v0", "pfo-all+adam-reset"),
        ("rayenvs/MultiRoom-R2-v0", "shared-trunk+pfo-last"),
    ],
)
def test_train_cli_on_the_device_with_every_diagnostic(tmp_path: Path, env_id: str, variant: str) -> None:
    flags = "--capacity-every 1 --set n_envs=4 --set n_steps=32 --set n_epochs=2 --eval-episodes 3"
    keys = set(_train_on_device(tmp_path, env_id, variant, flags)["metrics"])
    for key in ("capacity/actor_kl", "interference/mean_offdiag", "repr/actor/pca_rank", "trust/frac_above"):
        assert key in keys, (key, sorted(keys))


def test_cnn_ppo_on_atari_on_the_device(tmp_path: Path) -> None:
    pytest.importorskip("ale_py")
    flags = "--eval-episodes 1 --set n_envs=2 --set n_steps=64 --set n_epochs=1 --set batch_size=64"
    res = _train_on_device(tmp_path, "rayenvs/Atari-Phoenix-v0", "pfo-last", flags)
    assert "repr/actor/pca_rank" in res["metrics"]  # the CNN's penultimate features


def test_td_interference_measures_on_the_device() -> None:
    import gymnasium as gym
    from stable_baselines3 import DQN

    from baselines.diagnostics.td_interference import (
        collect_trajectories,
        dqn_measures,
        td_lambda_measures,
        value_mlp,
    )

    env = gym.make("CartPole-v1")
    env.action_space.seed(0)
    data = collect_trajectories(env, lambda _obs: env.action_space.sample(), num_steps=80, seed=0)
    dqn = DQN("MlpPolicy", env, seed=0, device=DEVICE, policy_kwargs={"net_arch": [16]})
    m = dqn_measures(dqn, data, num_anchors=5)
    assert m.stiffness[0] == pytest.approx(1.0) and np.isfinite(m.function_interference)
    v = value_mlp(int(np.prod(data.obs.shape[1:])), (16,), seed=0).to(DEVICE)
    m = td_lambda_measures(v, data, gamma=0.9, lr=1e-3, num_anchors=5, max_offset=4)
    assert m.stiffness[0] == pytest.approx(1.0) and 0.0 <= m.sign_variance <= 1.0


def test_leaderboard_verification_on_the_device(tmp_path: Path) -> None:
    from test_leaderboard_verify import _honest_runs

    from leaderboard.bundle import build_bundle
    from leaderboard.storage import Store
    from leaderboard.verify import verify_entry

    store = Store(tmp_path / "v.sqlite")
    sid = store.submit(build_bundle(_honest_runs(tmp_path / "honest")))
    report = verify_entry(store, sid, device=DEVICE)
    assert report.passed and store.entry(sid).tier == "verified"
