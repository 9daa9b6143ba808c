"""Steps/s of the native bandit vector env against Gymnasium's SyncVectorEnv over the single env.

The peer is what ``gym.make_vec`` builds without a vector entry point: one wrapped single env per copy,
stepped in a Python loop, with SAME_STEP autoreset (the fair setting for one-step episodes). Both run the
same actions in the same process; the ratio is the number that matters, not the absolute rates.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode

import rayenvs  # noqa: F401  (registers the ids)


def _steps_per_second(envs: gym.vector.VectorEnv, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, envs.single_action_space.n, size=(steps, envs.num_envs))
    envs.reset(seed=seed)
    envs.step(actions[0])  # warm-up
    start = time.perf_counter()
    for t in range(steps):
        envs.step(actions[t])
    elapsed = time.perf_counter() - start
    return steps * envs.num_envs / elapsed


def bench_bandit(
    num_envs: int = 1024, steps: int = 200, env_id: str = "rayenvs/Bandit-K2n2-v0", seed: int = 0
) -> dict[str, float]:
    """Env steps/s of the native vector env and of SyncVectorEnv, and their ratio (native / sync)."""
    native = gym.make_vec(env_id, num_envs=num_envs)
    sync = gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
    )
    sync_steps = max(1, steps // 10)  # the peer is slow; fewer iterations give the same rate
    native_rate = _steps_per_second(native, steps, seed)
    sync_rate = _steps_per_second(sync, sync_steps, seed)
    native.close()
    sync.close()
    return {
        "env_id": env_id,
        "num_envs": num_envs,
        "native_steps_per_s": native_rate,
        "sync_steps_per_s": sync_rate,
        "ratio": native_rate / sync_rate,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--env-id", default="rayenvs/Bandit-K2n2-v0")
    args = parser.parse_args()
    print(json.dumps(bench_bandit(args.num_envs, args.steps, args.env_id), indent=2))
