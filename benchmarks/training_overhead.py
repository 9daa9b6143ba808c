"""Overhead of ``run_training`` (vector adapter, callbacks, evaluation, checkpoints, logs) vs plain SB3 PPO.

Peer: the same PPO model (``build_model("baseline", ...)``) trained with ``model.learn`` on SB3's DummyVecEnv,
no callbacks or logging, same config and budget, in the same run. Run: ``python benchmarks/training_overhead.py``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env

import rayenvs  # noqa: F401  (registers the ids)
from baselines.ppo.variants import build_model
from baselines.training.config import resolve_config, split_config
from baselines.training.loop import run_training


def plain(env_id: str, steps: int) -> float:
    run, hp = split_config(resolve_config(env_id, timesteps=steps))
    venv = make_vec_env(lambda: gym.make(env_id), n_envs=run["n_envs"], seed=0)
    model = build_model("baseline", venv, hp, seed=0, device="cpu")
    start = time.perf_counter()
    model.learn(steps)
    return time.perf_counter() - start


def ours(env_id: str, steps: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    run_training(env_id, timesteps=steps, out_dir=out, progress=False, device="cpu")
    return time.perf_counter() - start


def main() -> None:
    out = Path(tempfile.mkdtemp(prefix="rayenvs-bench-"))
    for env_id, steps in [("rayenvs/Bandit-K2n2-v0", 20480), ("rayenvs/MultiRoom-R2-v0", 20480)]:
        plain(env_id, 512)
        ours(env_id, 512, out)  # warm imports and caches
        a = min(plain(env_id, steps) for _ in range(2))
        b = min(ours(env_id, steps, out) for _ in range(2))
        print(f"{env_id}: plain SB3 {a:.2f}s, run_training {b:.2f}s, ratio {b / a:.2f}", flush=True)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
