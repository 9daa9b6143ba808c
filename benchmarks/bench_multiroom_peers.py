"""MultiRoom env steps/s against its peers, all measured in one run (issue 15).

- ``native``: ``MultiRoomVectorEnv`` (R2, room_size 5, start "random") as shipped.
- ``previous_module``: the same class from ``rayenvs/envs/multiroom.py`` at the commit before issue 15's
  MultiRoom work (``bench_multiroom_observe.PREVIOUS_COMMIT``, read with ``git show``): the issue's
  "current" env, whose observe() was 69% of a step. Target: native >= 2x its steps/s at N=1024.
- ``envpool``: envpool's C++ ``MiniGrid-MultiRoom-N2-S4-v0`` (2 rooms, the closest MultiRoom it ships; 7x7x3
  uint8 image obs), ``num_threads=1`` like ours, actions uniform over its 7 actions.

All step uniform-random actions with automatic resets. Rounds alternate the peers (short blocks, the
machine is shared) and each peer's fastest block is kept; ``/proc/loadavg`` is printed before and after.
A peer that does not import is reported as missing.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_multiroom_peers.py [--num-envs 1024] [--rounds 30]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_multiroom_observe import PREVIOUS_COMMIT, previous_vector_env_class  # noqa: E402

from rayenvs.envs.multiroom import MultiRoomVectorEnv  # noqa: E402

ENVPOOL_ID = "MiniGrid-MultiRoom-N2-S4-v0"


def _stepper(env: object, actions: np.ndarray) -> Callable[[], object]:
    count = [0]

    def step() -> object:
        count[0] += 1
        return env.step(actions[count[0] % len(actions)])

    return step


def _envpool(num_envs: int) -> Callable[[], object]:
    import envpool

    env = envpool.make(ENVPOOL_ID, env_type="gymnasium", num_envs=num_envs, num_threads=1, seed=0)
    env.reset()
    actions = np.random.default_rng(0).integers(0, env.action_space.n, size=(64, num_envs)).astype(np.int32)
    return _stepper(env, actions)


def bench(num_envs: int, rounds: int, block: int) -> dict:
    """Fastest of ``rounds`` blocks of ``block`` steps per peer: env steps/s and native / peer ratios."""
    actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
    steppers: dict[str, Callable[[], object]] = {}
    missing: dict[str, str] = {}
    for name, cls in (("native", MultiRoomVectorEnv), ("previous_module", previous_vector_env_class())):
        env = cls(num_envs, num_rooms=2)
        env.reset(seed=0)
        steppers[name] = _stepper(env, actions)
    try:
        steppers["envpool"] = _envpool(num_envs)
    except ImportError as err:
        missing["envpool"] = f"does not import: {err}"
    for step in steppers.values():  # warm-up: compiled kernels, first-touch allocations, some resets behind
        for _ in range(20):
            step()
    best = dict.fromkeys(steppers, 0.0)
    for _ in range(rounds):
        for name, step in steppers.items():
            n = max(1, block // 10) if name == "envpool" else block  # envpool is ~100x slower here
            start = time.perf_counter()
            for _ in range(n):
                step()
            best[name] = max(best[name], n * num_envs / (time.perf_counter() - start))
    return {
        "num_envs": num_envs,
        "previous_commit": PREVIOUS_COMMIT[:7],
        "envpool_id": ENVPOOL_ID,
        "steps_per_s": best,
        "native_over_peer": {k: best["native"] / v for k, v in best.items() if k != "native"},
        "missing": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--block", type=int, default=20)
    args = parser.parse_args()
    print("loadavg before:", open("/proc/loadavg").read().strip())
    for n in args.num_envs:
        print(json.dumps(bench(n, args.rounds, args.block)), flush=True)
    print("loadavg after:", open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
