"""Synthetic run directories for the leaderboard tests, and the tests of building bundles from them.

The other ``test_leaderboard_*`` modules import :func:`make_runs` from here. No training happens: results
follow the 2-context, 2-arm bandit's contract exactly (one-step episodes, reward 1 for the right arm,
component returns one-hot on the episode's context), with a chosen success rate per eval point.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from baselines.training.results import Curve, RunResult
from leaderboard.bundle import build_bundle
from leaderboard.weights import load_safetensors, weights_from_file

ENV = "rayenvs/Bandit-K2n2-v0"
STEPS = [0, 100, 200, 300]
EPISODES = 4


def bandit_curve(
    levels: list[float], episodes: int = EPISODES, steps: list[int] | None = None, k: int = 2
) -> Curve:
    """Eval curve whose point i has round(levels[i] * episodes) successes; contexts cycle 0, 1, ..., k-1."""
    returns, comps = [], []
    for level in levels:
        wins = round(level * episodes)
        rets = [1.0 if j < wins else 0.0 for j in range(episodes)]
        returns.append(rets)
        comps.append([[r if c == j % k else 0.0 for c in range(k)] for j, r in enumerate(rets)])
    steps = STEPS[: len(levels)] if steps is None else steps
    return Curve(steps=steps, returns=returns, component_returns=comps, episodes_per_point=episodes)


def make_run(
    run_dir: Path,
    seed: int,
    levels: list[float],
    algo: str = "ppo",
    variant: str = "baseline",
    config: dict | None = None,
    env_id: str = ENV,
    weights: dict | str | None = None,
    steps: list[int] | None = None,
) -> Path:
    """Write one run directory (results.json, and policy.safetensors when ``weights`` is given; ``"policy"``
    means the freshly initialised PPO policy of this configuration and seed, which the board can rebuild)."""
    from rayenvs.registration import env_info

    run_dir.mkdir(parents=True, exist_ok=True)
    k = env_info(env_id).num_components
    config = {"learning_rate": 3e-4, "n_steps": 64, "seed": seed} if config is None else config
    if weights == "policy":
        weights = policy_weights(env_id, config, seed, k)
    RunResult(
        env_id=env_id,
        algo=algo,
        variant=variant,
        seed=seed,
        config=config,
        component_names=[f"context_{c}" for c in range(k)],
        total_timesteps=(STEPS[len(levels) - 1] if steps is None else steps[-1]),
        eval=bandit_curve(levels, steps=steps, k=k),
        versions={"rayenvs": "0.1.0", "torch": torch.__version__},
        hardware={"device": "cpu"},
        wall_time_s=12.5,
    ).save(run_dir)
    if weights is not None:
        save_file(weights, str(run_dir / "policy.safetensors"))
    return run_dir


def policy_weights(env_id: str, config: dict, seed: int, k: int) -> dict:
    """The state_dict of the PPO policy that ``config`` builds for ``seed`` (different for every seed)."""
    from leaderboard.schema import Bundle
    from leaderboard.verify import build_policy_model

    skeleton = Bundle(
        suite_version="0",
        env_id=env_id,
        algo="ppo",
        variant="baseline",
        hyperparameters={key: v for key, v in config.items() if key != "seed"},
        component_names=[f"context_{c}" for c in range(k)],
        protocol={"deterministic": True, "episodes_per_point": EPISODES},
        seeds=[],
        wall_time_s=0.0,
    )
    return dict(build_policy_model(skeleton, seed, None).policy.state_dict())


def make_runs(root: Path, levels_per_seed: list[list[float]], tag: str = "cfg", **kwargs) -> list[Path]:
    """One run directory per seed (seeds 0, 1, ...) under ``root/tag``."""
    return [
        make_run(root / tag / f"seed{i}", i, levels, **kwargs) for i, levels in enumerate(levels_per_seed)
    ]


GOOD = [[0.5, 0.5, 0.75, 1.0], [0.5, 0.75, 1.0, 1.0], [0.25, 0.5, 0.5, 0.75]]


class _Marker:
    """A pickle payload that would create a file if it were ever unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def pickle_payload(marker: Path) -> bytes:
    return pickle.dumps({"w": _Marker(marker)})


def test_bundle_collects_seeds_config_and_hash(tmp_path):
    dirs = make_runs(tmp_path, GOOD)
    (dirs[0] / "config.yaml").write_text("algo: ppo\nlearning_rate: 0.0003\n")
    b = build_bundle(dirs, submitter="alice")
    assert [s.seed for s in b.seeds] == [0, 1, 2]
    assert b.hyperparameters == {"learning_rate": 3e-4, "n_steps": 64}  # per-seed "seed" dropped
    assert b.config_yaml == "algo: ppo\nlearning_rate: 0.0003\n"
    assert b.protocol.episodes_per_point == EPISODES and b.protocol.deterministic
    assert b.wall_time_s == pytest.approx(37.5)
    assert b.content_hash == b.compute_hash() and b.content_hash.startswith("sha256:")
    # The submitter is not part of the content: the same runs under another name are the same content.
    assert build_bundle(dirs, submitter="bob").content_hash == b.content_hash
    assert not b.has_weights()


def test_bundle_refuses_mixed_configurations(tmp_path):
    dirs = make_runs(tmp_path, GOOD[:2])
    dirs.append(make_run(tmp_path / "other", 2, GOOD[2], config={"learning_rate": 1e-3, "n_steps": 64}))
    with pytest.raises(ValueError, match="different hyperparameters"):
        build_bundle(dirs)
    dirs[-1] = make_run(tmp_path / "other2", 2, GOOD[2], variant="pfo-last")
    with pytest.raises(ValueError, match="variant='pfo-last'"):
        build_bundle(dirs)
    with pytest.raises(ValueError, match="does not exist"):
        build_bundle([tmp_path / "nope"])


def test_weights_formats_are_normalised_to_safetensors(tmp_path):
    sd = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(2)}
    torch.save(sd, tmp_path / "policy.pt")
    got = load_safetensors(weights_from_file(tmp_path / "policy.pt"))
    assert torch.equal(got["w"], sd["w"]) and torch.equal(got["b"], sd["b"])
    # SB3 archive: only policy.pth is read; the cloudpickled "data" member is never touched.
    marker = tmp_path / "pwned-zip"
    buf = io.BytesIO()
    torch.save(sd, buf)
    with zipfile.ZipFile(tmp_path / "model.zip", "w") as zf:
        zf.writestr("data", pickle_payload(marker))
        zf.writestr("policy.pth", buf.getvalue())
    got = load_safetensors(weights_from_file(tmp_path / "model.zip"))
    assert torch.equal(got["w"], sd["w"])
    assert not marker.exists()
    with pytest.raises(ValueError, match="unsupported weights file"):
        weights_from_file(_touch(tmp_path / "policy.pkl"))


def test_pickle_payload_in_run_dir_is_never_loaded(tmp_path):
    control = tmp_path / "control"
    pickle.loads(pickle_payload(control))  # the payload is live: unpickling it does create the marker
    assert control.exists()
    marker = tmp_path / "pwned"
    dirs = make_runs(tmp_path, GOOD)
    (dirs[1] / "policy.pt").write_bytes(pickle_payload(marker))
    with pytest.raises(ValueError, match="not a plain torch state_dict"):
        build_bundle(dirs)
    assert not marker.exists()


def test_bundle_carries_weights(tmp_path):
    w = {"layer.weight": torch.randn(3, 2)}
    dirs = make_runs(tmp_path, GOOD, weights=w)
    b = build_bundle(dirs)
    assert b.has_weights()
    assert torch.equal(load_safetensors(b.seeds[2].weights_bytes())["layer.weight"], w["layer.weight"])
    assert b.seeds[2].weights_sha256 == hashlib.sha256(b.seeds[2].weights_bytes()).hexdigest()
    stripped = b.without_weights()
    assert stripped.seeds[0].weights_safetensors_b64 is None
    assert stripped.compute_hash() == b.content_hash  # weights enter the hash through their digest


def _touch(p: Path) -> Path:
    p.write_bytes(b"x")
    return p
