"""MultiRoom observations: the strided-window ``_Batch.observe`` vs the previous per-cell gather, same run.

The peer, :func:`previous_observe`, is a verbatim copy of the observe() this env shipped with until issue 15:
it builds an (N, window) int64 index array (one index per cell) and gathers the window cell by cell.
``tests/test_multiroom.py`` loads this module and checks the two give bit-identical observations.

Two measurements, alternated in many short blocks so load shifts hit every side, fastest block kept (the
machine is shared and heavily loaded: a long block always includes other processes' time slices, the
fastest of many short ones estimates the unloaded cost; ratios are what counts):

- ``observe``: one call of each on the same batch state;
- ``step``: ``MultiRoomVectorEnv.step`` with uniform-random actions (automatic resets included), once as
  shipped, once with the previous observe swapped into its batch (the step's speed-up from observe alone),
  and once as the previous module, ``rayenvs/envs/multiroom.py`` at commit :data:`PREVIOUS_COMMIT` read
  with ``git show`` (the whole env as it was: per-cell gather, stacked reset draws, arithmetic room_of).

Usage: ``python benchmarks/bench_multiroom_observe.py [--num-envs 1024 64] [--rounds 200] [--block 5]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rayenvs.envs.multiroom import _REWARD, _WALL, MultiRoomVectorEnv, _Batch

# main before issue 15's MultiRoom work: the previous MultiRoom env module is read from this commit.
PREVIOUS_COMMIT = "628eec16ce6abb0166e5436f3b48beea7b6061df"


def previous_observe(self: _Batch, rows: np.ndarray | None = None) -> np.ndarray:
    """The observe() of ``_Batch`` before issue 15 (kept unchanged as the reference and the peer)."""
    rows = self.rows if rows is None else rows
    pos = self.pos[rows]
    flat = (rows * self.grid.shape[1] + pos)[:, None] + self.offsets
    win = self.grid.ravel()[flat]
    m, w = len(rows), self.window
    obs = np.empty((m, self.obs_size), dtype=np.float32)
    obs[:, :w] = win == _WALL
    obs[:, w : 2 * w] = win == _REWARD
    room = self.room_of(pos)
    obs[:, 2 * w : 2 * w + self.r] = room[:, None] == np.arange(self.r)
    obs[:, 2 * w + self.r :] = self.pending[rows]
    return obs


def with_previous_observe(env: MultiRoomVectorEnv) -> MultiRoomVectorEnv:
    """``env`` with :func:`previous_observe` bound to its batch in place of the new one."""
    env._batch.observe = types.MethodType(previous_observe, env._batch)  # type: ignore[method-assign]
    return env


def previous_vector_env_class() -> type:
    """``MultiRoomVectorEnv`` as it was at :data:`PREVIOUS_COMMIT` (needs the repository's git history)."""
    repo = Path(__file__).resolve().parents[1]
    source = subprocess.run(
        ["git", "show", f"{PREVIOUS_COMMIT}:rayenvs/envs/multiroom.py"],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("previous_multiroom", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, f"{PREVIOUS_COMMIT[:7]}:multiroom.py", "exec"), module.__dict__)
    return module.MultiRoomVectorEnv


def _rate(fn: Callable[[], object], calls: int) -> float:
    """Calls per second of one timed block of ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - start)


def bench_observe(num_envs: int, rounds: int = 200, block: int = 5, num_rooms: int = 2) -> dict:
    """Fastest of ``rounds`` blocks of ``block`` calls: observe() calls/s and env steps/s of each side."""
    if num_envs < 1 or rounds < 1 or block < 1:
        raise ValueError(f"num_envs={num_envs!r}, rounds={rounds!r} and block={block!r} must be >= 1")
    envs = {
        "new": MultiRoomVectorEnv(num_envs, num_rooms=num_rooms),
        "old_observe": with_previous_observe(MultiRoomVectorEnv(num_envs, num_rooms=num_rooms)),
        "old_module": previous_vector_env_class()(num_envs, num_rooms=num_rooms),
    }
    actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
    counters = dict.fromkeys(envs, 0)

    def stepper(name: str) -> Callable[[], object]:
        def step() -> object:
            counters[name] += 1
            return envs[name].step(actions[counters[name] % 64])

        return step

    steps = {name: stepper(name) for name in envs}
    observes = {"new": envs["new"]._batch.observe, "old_observe": envs["old_observe"]._batch.observe}
    for name, env in envs.items():  # warm-up, and a batch state with collected rewards and resets behind it
        env.reset(seed=0)
        for _ in range(20):
            steps[name]()
    best: dict[str, float] = {}
    for _ in range(rounds):
        for kind, fns in (("step", steps), ("observe", observes)):
            for name, fn in fns.items():
                key = f"{kind}_{name}"
                best[key] = max(best.get(key, 0.0), _rate(fn, block))
    return {
        "num_envs": num_envs,
        "num_rooms": num_rooms,
        "rounds": rounds,
        "block": block,
        "peer": f"previous _Batch.observe / MultiRoomVectorEnv at {PREVIOUS_COMMIT[:7]}",
        "observe_calls_per_s_new": best["observe_new"],
        "observe_calls_per_s_previous": best["observe_old_observe"],
        "observe_ratio": best["observe_new"] / best["observe_old_observe"],
        "env_steps_per_s_new": best["step_new"] * num_envs,
        "env_steps_per_s_previous_observe": best["step_old_observe"] * num_envs,
        "env_steps_per_s_previous_module": best["step_old_module"] * num_envs,
        "step_ratio_vs_previous_observe": best["step_new"] / best["step_old_observe"],
        "step_ratio_vs_previous_module": best["step_new"] / best["step_old_module"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024, 64])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--block", type=int, default=5)
    parser.add_argument("--num-rooms", type=int, default=2)
    args = parser.parse_args()
    results = [bench_observe(n, args.rounds, args.block, args.num_rooms) for n in args.num_envs]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
