"""The shipped configs are rl-zoo3 ``-conf`` files: a tiny rl-zoo3 train runs with each, and our own loader
still resolves exactly the hyperparameters it resolved before they were made rl-zoo3 files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

import rayenvs  # noqa: F401  (registers the ids)
from baselines.training.config import CONFIG_DIR, resolve_config
from rayenvs.registration import CATALOG

GOLDEN = Path(__file__).resolve().parent / "data" / "resolved_configs.json"
ONE_ID_PER_FILE = {
    "bandit": "rayenvs/Bandit-K2n2-v0",
    "multiroom": "rayenvs/MultiRoom-R2-v0",
    "glimpse": "rayenvs/Glimpse-v0",
    "mujoco": "rayenvs/MuJoCo-Hopper-v0",
    "atari": "rayenvs/Atari-Phoenix-v0",
}


def _typed(value):
    """JSON-comparable value that keeps int vs float apart (1e5 must stay an int budget)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_typed(v) for v in value]
    return [type(value).__name__, value]


def test_every_shipped_config_file_is_covered() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(ONE_ID_PER_FILE)


@pytest.mark.parametrize("env_id", sorted(CATALOG))
def test_our_loader_resolves_the_same_hyperparameters_as_before(env_id: str) -> None:
    """tests/data/resolved_configs.json was written by the loader and files before the rl-zoo3 layout."""
    want = json.loads(GOLDEN.read_text())[env_id]
    got = json.loads(json.dumps(resolve_config(env_id)))
    assert _typed(got) == _typed(want)


@pytest.mark.parametrize("family", sorted(ONE_ID_PER_FILE))
def test_files_are_in_the_layout_rl_zoo3_reads(family: str) -> None:
    """rl-zoo3 reads the env id's block only, with PyYAML's YAML 1.1 resolver, and passes it to SB3's PPO."""
    with open(CONFIG_DIR / f"{family}.yaml", encoding="utf-8") as f:
        data = yaml.load(f, Loader=yaml.UnsafeLoader)  # noqa: S506 - what rl-zoo3 itself does
    ids = [i for i, info in CATALOG.items() if info.family == family]
    for env_id in ids:
        block = data[env_id]
        assert block["policy"] in ("MlpPolicy", "CnnPolicy")
        assert isinstance(block["n_timesteps"], float | int) and isinstance(block["learning_rate"], float)
        assert not {"settings", "train_episodes_per_rollout"} & set(block)


@pytest.mark.parametrize("family", sorted(ONE_ID_PER_FILE))
def test_a_tiny_rl_zoo3_train_runs_with_each_shipped_config(family: str, tmp_path, monkeypatch) -> None:
    rl_zoo3_train = pytest.importorskip("rl_zoo3.train")
    env_id = ONE_ID_PER_FILE[family]
    argv = ["train", "--algo", "ppo", "--env", env_id, "-conf", str(CONFIG_DIR / f"{family}.yaml"),
            "--gym-packages", "rayenvs", "-n", "64", "--eval-freq", "-1", "-f", str(tmp_path), "--seed", "0",
            "--log-interval", "-1", "-params", "n_steps:16", "batch_size:16", "n_epochs:1"]
    if family == "mujoco":
        argv += ["--env-kwargs", "warmup_steps:20"]
    monkeypatch.setattr(sys, "argv", argv)
    rl_zoo3_train.train()
    run = tmp_path / "ppo" / f"{env_id.replace('/', '-')}_1"
    assert (run / f"{env_id.replace('/', '-')}.zip").is_file()
    saved = yaml.load((run / env_id.replace("/", "-") / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    hyper = dict(saved)
    assert hyper["n_steps"] == 16 and hyper["policy"] == CATALOG_POLICY[family]


CATALOG_POLICY = {"bandit": "MlpPolicy", "multiroom": "MlpPolicy", "glimpse": "MlpPolicy", "mujoco": "MlpPolicy",
                  "atari": "CnnPolicy"}
