"""Overhead of ``RepresentationMetricsCallback`` at its default cadence, relative to plain SB3 PPO.

For each env, trains PPO for the same number of steps with and without the callback (same seed, same
process, alternating order, best of ``--repeats`` per arm) and prints the ratio with / without, of both the
process CPU time (the headline: one torch thread, so it is robust to other jobs sharing the cores) and the
wall time, and the in-hook ratio: (run CPU) / (run CPU minus CPU spent inside the callback's hooks) of the
same run, which run-to-run noise on a shared machine cannot blur. The target is a ratio <= 1.10.
Peer: the same PPO run without the callback.

    OMP_NUM_THREADS=1 python benchmarks/metrics_overhead.py [--rollouts 30] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import torch

# Settings per env: (PPO kwargs, description). Default cadence of the callback in every case.
ENVS: dict[str, dict] = {
    "rayenvs/MultiRoom-R4-v0": {"n_steps": 2048, "batch_size": 64, "n_epochs": 10},
    "rayenvs/Bandit-K4n4-v0": {"n_steps": 2048, "batch_size": 64, "n_epochs": 10},
    "CartPole-v1": {"n_steps": 2048, "batch_size": 64, "n_epochs": 10},
    "Hopper-v5": {"n_steps": 2048, "batch_size": 64, "n_epochs": 10},
}


def _timed_callback() -> object:
    """The callback at its defaults, also accumulating the CPU time spent inside its hooks."""
    from baselines.diagnostics.metrics import RepresentationMetricsCallback

    class Timed(RepresentationMetricsCallback):
        inside = 0.0

        def _timed(self, hook, *args):
            start = time.process_time()
            out = hook(*args)
            self.inside += time.process_time() - start
            return out

        def _on_step(self) -> bool:
            return self._timed(super()._on_step)

        def _on_rollout_start(self) -> None:
            self._timed(super()._on_rollout_start)

        def _on_rollout_end(self) -> None:
            self._timed(super()._on_rollout_end)

        def _on_training_end(self) -> None:
            self._timed(super()._on_training_end)

    return Timed()


def _train(env_id: str, kwargs: dict, rollouts: int, with_callback: bool) -> tuple[float, float, float]:
    """(process CPU s, wall s, CPU s inside the callback's hooks) of one PPO run."""
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", gym.make(env_id), seed=0, device="cpu", **kwargs)
    callback = _timed_callback() if with_callback else None
    cpu, wall = time.process_time(), time.perf_counter()
    model.learn(rollouts * kwargs["n_steps"], callback=callback)
    return time.process_time() - cpu, time.perf_counter() - wall, callback.inside if callback else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rollouts", type=int, default=30, help="PPO rollouts per run (>= 26 includes a capacity fit)"
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--envs", nargs="*", default=list(ENVS))
    args = parser.parse_args()
    torch.set_num_threads(1)
    import rayenvs  # noqa: F401

    print(
        f"{'env':26s} {'plain cpu s':>11s} {'callback cpu s':>14s} {'cpu ratio':>9s} {'wall ratio':>10s}"
        f" {'in-hook ratio':>13s}"
    )
    for env_id in args.envs:
        try:
            gym.make(env_id).close()
        except Exception as exc:  # noqa: BLE001 - an optional env family may be missing
            print(f"{env_id:28s} skipped ({type(exc).__name__}: {exc})")
            continue
        plain, with_cb = [], []
        for rep in range(args.repeats):
            order = (False, True) if rep % 2 == 0 else (True, False)
            for flag in order:
                (with_cb if flag else plain).append(_train(env_id, ENVS[env_id], args.rollouts, flag))
        p_cpu, c_cpu = min(t[0] for t in plain), min(t[0] for t in with_cb)
        p_wall, c_wall = min(t[1] for t in plain), min(t[1] for t in with_cb)
        # In-hook ratio: CPU inside the callback over the rest of the same run (immune to run-to-run noise).
        best = min(with_cb)
        in_hook = best[0] / (best[0] - best[2])
        print(
            f"{env_id:26s} {p_cpu:11.2f} {c_cpu:14.2f} {c_cpu / p_cpu:9.3f} {c_wall / p_wall:10.3f} {in_hook:13.3f}"
        )


if __name__ == "__main__":
    main()
