"""GPU path: PPO Atari env frames/s with and without the diagnostics callback, and bandit seed-updates/s.

Peers, measured in the same run: PPO without ``RepresentationMetricsCallback`` (for the metrics overhead), and
``train_bandit`` on the CPU (for the GPU speed-up). The paper's rate is about 2,800 env frames/s per A100
(Moalla et al. 2024); the target is to reach it with metrics on. The Atari envs step in ``SubprocVecEnv``
workers (8 envs, the paper's setting), so frames/s counts emulator frames (3 per agent step).

Run on a machine with a GPU (``--device auto`` picks CUDA when present; it also runs on CPU, only slowly)::

    python benchmarks/gpu.py --ppo-steps 40960 --bandit-seeds 65536
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

import rayenvs  # noqa: F401  (registers the ids)
from baselines.common.devices import resolve_device

FRAMESKIP = 3


def ppo_atari_fps(env_id: str, steps: int, device: str, metrics: bool, n_envs: int = 8) -> float:
    """Env frames per second of a PPO run with the shipped Atari config (after one warm-up rollout)."""
    import gymnasium as gym
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from baselines.diagnostics.metrics import RepresentationMetricsCallback
    from baselines.ppo.variants import build_model
    from baselines.training.config import resolve_config, split_config

    run, hp = split_config(resolve_config(env_id, n_envs=n_envs))
    venv = make_vec_env(lambda: gym.make(env_id), n_envs=run["n_envs"], seed=0, vec_env_cls=SubprocVecEnv)
    try:
        model = build_model("baseline", venv, hp, seed=0, device=device)
        rollout = run["n_envs"] * hp["n_steps"]
        callback = RepresentationMetricsCallback() if metrics else None
        model.learn(rollout, callback=callback)  # warm-up: CUDA context, cuDNN autotune, env start
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        model.learn(steps, callback=callback, reset_num_timesteps=False)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return steps * FRAMESKIP / (time.perf_counter() - start)
    finally:
        venv.close()


def bandit_seed_updates_per_s(k: int, seeds: int, updates: int, device: str) -> float:
    """Seed-updates per second of the batched on-policy learner (no seed stops early: stop_at = K)."""
    from baselines.bandit.learners import train_bandit

    def run() -> float:
        start = time.perf_counter()
        train_bandit(k, k, "on-policy", seeds, max_samples=updates * k, device=device, stop_at=float(k),
                     log_every=max(1, updates // 10))
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    run()  # warm-up
    return seeds * updates / run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--env", default="rayenvs/Atari-Phoenix-v0")
    parser.add_argument("--ppo-steps", type=int, default=40_960, help="agent steps timed per configuration")
    parser.add_argument("--bandit-seeds", type=int, default=65_536)
    parser.add_argument("--bandit-updates", type=int, default=300)
    args = parser.parse_args()
    device = str(resolve_device(args.device))
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") else "none"
    print(f"machine: {platform.platform()}, {torch.get_num_threads()} torch threads, device {device} ({gpu}), "
          f"torch {torch.__version__}")
    off = ppo_atari_fps(args.env, args.ppo_steps, device, metrics=False)
    on = ppo_atari_fps(args.env, args.ppo_steps, device, metrics=True)
    print(f"PPO {args.env}: {off:,.0f} env frames/s without metrics, {on:,.0f} with metrics "
          f"(ratio {on / off:.3f}; target >= 2,800 frames/s with metrics)")
    for k in (2, 8):
        here = bandit_seed_updates_per_s(k, args.bandit_seeds, args.bandit_updates, device)
        cpu = here if device == "cpu" else bandit_seed_updates_per_s(k, args.bandit_seeds, args.bandit_updates, "cpu")
        print(f"bandit K=n={k}, {args.bandit_seeds} seeds: {here:,.0f} seed-updates/s on {device}, "
              f"{cpu:,.0f} on cpu (ratio {here / cpu:.1f})")


if __name__ == "__main__":
    main()
