"""Verification re-evaluates submitted weights: an honest entry becomes verified, a tampered one fails.

Nothing is trained: each seed's "submitted" policy is the freshly built model of the bundle's configuration,
its weights saved with safetensors and its reported final evaluation computed from it on training's fixed
evaluation seeds. Tampering then raises the reported returns, and verification must catch it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import save_file

from baselines.training.callbacks import evaluate_components
from baselines.training.loop import EVAL_SEED
from baselines.training.results import Curve, RunResult
from baselines.training.vec_env import make_vector_env
from leaderboard.bundle import build_bundle
from leaderboard.schema import Bundle
from leaderboard.storage import Store
from leaderboard.verify import build_policy_model, evaluate_episodes, verify_entry
from rayenvs.cli import main

ENV = "rayenvs/Bandit-K4n4-v0"
EPISODES = 24


def _config() -> dict:
    from baselines.training.config import resolve_config

    return resolve_config(ENV, overrides={"batch_size": 16}, timesteps=64, n_envs=1)


def _honest_runs(root: Path, tamper: bool = False) -> list[Path]:
    config = _config()
    dirs = []
    for seed in range(3):
        skeleton = Bundle(
            suite_version="0",
            env_id=ENV,
            algo="ppo",
            variant="baseline",
            hyperparameters=config,
            component_names=[f"context_{k}" for k in range(4)],
            protocol={"deterministic": True, "episodes_per_point": EPISODES},
            seeds=[],
            wall_time_s=0.0,
        )
        model = build_policy_model(skeleton, seed, None)
        env = make_vector_env(ENV, EPISODES)
        out = evaluate_components(model, env, EVAL_SEED, 4, deterministic=True)
        env.close()
        comps = out.component_returns
        # The board's re-evaluation plays exactly training's evaluation episodes.
        np.testing.assert_allclose(evaluate_episodes(model, skeleton, EPISODES), out.returns)
        final_rets = [1.0] * EPISODES if tamper else list(out.returns)
        final_comps = [[1.0, 0.0, 0.0, 0.0]] * EPISODES if tamper else comps
        run = root / f"seed{seed}"
        run.mkdir(parents=True)
        RunResult(
            env_id=ENV,
            algo="ppo",
            variant="baseline",
            seed=seed,
            config=config,
            component_names=skeleton.component_names,
            total_timesteps=64,
            eval=Curve(
                steps=[0, 64],
                returns=[list(out.returns), final_rets],
                component_returns=[comps, final_comps],
                deterministic=True,
                episodes_per_point=EPISODES,
            ),
            versions={"rayenvs": "0.1.0"},
            wall_time_s=1.0,
        ).save(run)
        save_file(model.policy.state_dict(), str(run / "policy.safetensors"))
        dirs.append(run)
    return dirs


def test_verify_passes_for_honest_and_fails_for_tampered_results(tmp_path, capsys):
    board = tmp_path / "v.sqlite"
    store = Store(board)
    honest = store.submit(build_bundle(_honest_runs(tmp_path / "honest")))
    assert store.entry(honest).tier == "reproducible"
    report = verify_entry(store, honest)
    assert report.passed and report.episodes == EPISODES
    assert report.reevaluated_mean == pytest.approx(report.reported_mean)
    for seed in report.per_seed.values():
        assert seed["reevaluated"] == pytest.approx(seed["reported"])
    assert store.entry(honest).tier == "verified"
    assert store.verifications(honest)[-1]["passed"] is True

    tampered = store.submit(build_bundle(_honest_runs(tmp_path / "tampered", tamper=True)))
    assert main(["leaderboard", "verify", str(tampered), "--board", str(board)]) == 1
    assert "FAILED verification" in capsys.readouterr().out
    bad = store.verifications(tampered)[-1]
    assert bad["passed"] is False and bad["report"]["reported_mean"] == pytest.approx(1.0)
    assert bad["report"]["mismatched_episodes"] > 0
    assert store.entry(tampered).tier == "failed"  # issue 11: a failed verification is shown as failed


def test_verify_needs_weights(tmp_path):
    from test_leaderboard_synthetic import GOOD, make_runs

    store = Store(tmp_path / "n.sqlite")
    sid = store.submit(build_bundle(make_runs(tmp_path, GOOD)))
    with pytest.raises(ValueError, match="submitted without weights"):
        verify_entry(store, sid)
    with pytest.raises(ValueError, match="no leaderboard entry with id 99"):
        verify_entry(store, 99)


def test_verification_runs_without_tf32_and_restores_the_setting() -> None:
    import torch

    from leaderboard.verify import _full_precision

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        with _full_precision():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
