"""Steps/s of the native bandit vector env against Gymnasium's SyncVectorEnv over the single env.

The peer is what ``gym.make_vec`` builds without a vector entry point: one wrapped single env per copy,
stepped in a Python loop, with SAME_STEP autoreset (the fair setting for one-step episodes). Both run the
same actions in the same process; the ratio is the number that matters, not the absolute rates.

``bench_bandit_bound`` compares the native env with a plain numpy lower bound of the same step (one uniform
per env, inverse-CDF context, reward compare, one-hot obs, with no infos and no per-env streams); the
target (issue 15) is >= 0.5 of the bound at N=65536 for K=2 and K=8.
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


def _bound_steps_per_second(num_envs: int, num_contexts: int, steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, num_contexts, size=(steps, num_envs))
    cdf = np.cumsum(np.full(num_contexts, 1.0 / num_contexts))
    cdf[-1] = 1.0
    eye = np.eye(num_contexts, dtype=np.float32)
    contexts = np.searchsorted(cdf, rng.random(num_envs), side="right")
    start = time.perf_counter()
    for t in range(steps):
        rewards = (actions[t] == contexts).astype(np.float64)
        contexts = np.searchsorted(cdf, rng.random(num_envs), side="right")
        obs = eye.take(contexts, axis=0)  # take: the fastest one-hot gather in numpy
    elapsed = time.perf_counter() - start
    del rewards, obs
    return steps * num_envs / elapsed


def bench_bandit_bound(num_envs: int = 65536, num_contexts: int = 2, steps: int = 1024, seed: int = 0) -> dict:
    """Env steps/s of the native vector env vs the numpy lower bound, same process, same actions
    (``bench_bandit_peers.py`` adds JAX and envpool and alternates rounds)."""
    env_id = f"rayenvs/Bandit-K{num_contexts}n{num_contexts}-v0"
    native = gym.make_vec(env_id, num_envs=num_envs)
    native_rate = _steps_per_second(native, steps, seed)
    bound_rate = _bound_steps_per_second(num_envs, num_contexts, steps, seed)
    native.close()
    return {
        "env_id": env_id,
        "num_envs": num_envs,
        "native_steps_per_s": native_rate,
        "numpy_bound_steps_per_s": bound_rate,
        "ratio_to_bound": native_rate / bound_rate,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--env-id", default="rayenvs/Bandit-K2n2-v0")
    args = parser.parse_args()
    print(json.dumps(bench_bandit(args.num_envs, args.steps, args.env_id), indent=2))
    for k in (2, 8):
        print(json.dumps(bench_bandit_bound(num_contexts=k), indent=2))
