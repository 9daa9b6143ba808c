"""Env steps per second: rayenvs' native MultiRoom vector env vs Minigrid's MultiRoom, in the same run.

The peer is Minigrid's ``MiniGrid-MultiRoom-N6-v0`` (a single env, the way Minigrid is usually stepped;
``SyncVectorEnv`` over it is no faster per step). Both run uniform-random actions with automatic resets,
so reset cost is included on both sides. Minigrid is a benchmark-only dependency (``pip install minigrid``).

Usage: ``python benchmarks/bench_multiroom_env.py [--num-envs 1024] [--seconds 5]``
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np

from rayenvs.envs.multiroom import MultiRoomVectorEnv

PEER_ID = "MiniGrid-MultiRoom-N6-v0"


class _Ours:
    def __init__(self, num_envs: int, env_kwargs: dict) -> None:
        self.env = MultiRoomVectorEnv(num_envs, **env_kwargs)
        self.env.reset(seed=0)
        self.actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
        self.steps = 0

    def run(self, seconds: float) -> tuple[int, float]:
        """Step for ``seconds``; returns (env steps, elapsed seconds)."""
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            self.env.step(self.actions[self.steps % 64])
            self.steps += 1
            n += 1
        return n * self.env.num_envs, time.perf_counter() - start


class _Peer:
    def __init__(self) -> None:
        import minigrid  # noqa: F401  (registers the MiniGrid ids)

        self.env = gym.make(PEER_ID)
        self.env.reset(seed=0)
        self.rng = np.random.default_rng(0)
        self.n_actions = int(self.env.action_space.n)

    def run(self, seconds: float) -> tuple[int, float]:
        """Step for ``seconds`` with automatic resets; returns (env steps, elapsed seconds)."""
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            _, _, terminated, truncated, _ = self.env.step(int(self.rng.integers(self.n_actions)))
            n += 1
            if terminated or truncated:
                self.env.reset()
        return n, time.perf_counter() - start


def bench_multiroom(num_envs: int = 1024, seconds: float = 5.0, rounds: int = 5, **env_kwargs) -> dict:
    """Alternate ``rounds`` short runs of both envs (``seconds`` each in total) so load shifts hit both.

    Returns each side's steps/s over all rounds, their ratio (ours / peer), and the median per-round ratio.
    """
    if num_envs < 1 or seconds <= 0 or rounds < 1:
        raise ValueError(
            f"num_envs={num_envs!r} must be >= 1, seconds={seconds!r} > 0 and rounds={rounds!r} >= 1"
        )
    kwargs = {"num_rooms": 2, **env_kwargs}
    ours, peer = _Ours(num_envs, kwargs), _Peer()
    ours.run(0.2)  # warm-up: first-touch allocations
    peer.run(0.2)
    totals = np.zeros((2, 2))
    ratios = []
    for _ in range(rounds):
        o, p = np.array(ours.run(seconds / rounds)), np.array(peer.run(seconds / rounds))
        totals += [o, p]
        ratios.append((o[0] / o[1]) / (p[0] / p[1]))
    ours_sps, peer_sps = totals[0, 0] / totals[0, 1], totals[1, 0] / totals[1, 1]
    return {
        "ours": f"MultiRoomVectorEnv(num_envs={num_envs}, {kwargs})",
        "peer": PEER_ID,
        "ours_steps_per_s": ours_sps,
        "peer_steps_per_s": peer_sps,
        "ratio": ours_sps / peer_sps,
        "median_round_ratio": float(np.median(ratios)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=1024)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--num-rooms", type=int, default=2)
    parser.add_argument("--start", default="random", choices=["random", "first"])
    args = parser.parse_args()
    result = bench_multiroom(
        args.num_envs, args.seconds, args.rounds, num_rooms=args.num_rooms, start=args.start
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
