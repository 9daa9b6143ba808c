"""MultiRoom observations: the strided-window ``_Batch.observe`` vs the previous per-cell gather, same run.

The peer, :func:`previous_observe`, is a verbatim copy of the observe() this env shipped with until issue 15:
it builds an (N, window) int64 index array (one index per cell) and gathers the window cell by cell.
``tests/test_multiroom.py`` loads this module and checks the two give bit-identical observations.

Two measurements, alternated in rounds so load shifts hit both sides, best round kept (the machine is
shared; ratios are what counts):

- ``observe``: one call of each on the same batch state;
- ``step``: ``MultiRoomVectorEnv.step`` with uniform-random actions (automatic resets included), once as
  shipped and once with the previous observe swapped into its batch, so the ratio is the whole step's
  speed-up from the new observe.

Usage: ``python benchmarks/bench_multiroom_observe.py [--num-envs 1024 64] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import json
import time
import types
from collections.abc import Callable

import numpy as np

from rayenvs.envs.multiroom import _REWARD, _WALL, MultiRoomVectorEnv, _Batch


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


def _best_rate(fn: Callable[[], object], calls: int) -> float:
    """Calls per second of one timed block of ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return calls / (time.perf_counter() - start)


def bench_observe(num_envs: int, rounds: int = 7, seconds: float = 0.5, num_rooms: int = 2) -> dict:
    """Best-of-``rounds`` observe() calls/s and env steps/s, new vs previous, with their ratios."""
    if num_envs < 1 or rounds < 1 or seconds <= 0:
        raise ValueError(f"num_envs={num_envs!r} and rounds={rounds!r} must be >= 1, seconds={seconds!r} > 0")
    new = MultiRoomVectorEnv(num_envs, num_rooms=num_rooms)
    old = with_previous_observe(MultiRoomVectorEnv(num_envs, num_rooms=num_rooms))
    actions = np.random.default_rng(0).integers(0, 4, size=(64, num_envs))
    counters = {"new": 0, "old": 0}

    def stepper(name: str, env: MultiRoomVectorEnv) -> Callable[[], object]:
        def step() -> object:
            counters[name] += 1
            return env.step(actions[counters[name] % 64])

        return step

    steps = {"new": stepper("new", new), "old": stepper("old", old)}
    observes = {"new": new._batch.observe, "old": old._batch.observe}
    new.reset(seed=0)
    old.reset(seed=0)
    for _ in range(20):  # warm-up, and a batch state with collected rewards and resets behind it
        steps["new"]()
        steps["old"]()
    # Calls per timed block sized from a quick probe so each block lasts about seconds / 2.
    probe = {k: max(1, int(_best_rate(steps[k], 5) * seconds / 2)) for k in steps}
    best: dict[str, float] = {}
    for _ in range(rounds):
        for kind, fns in (("step", steps), ("observe", observes)):
            for name in ("new", "old"):
                calls = probe[name] if kind == "step" else 3 * probe[name]
                rate = _best_rate(fns[name], calls)
                key = f"{kind}_{name}"
                best[key] = max(best.get(key, 0.0), rate)
    return {
        "num_envs": num_envs,
        "num_rooms": num_rooms,
        "peer": "previous _Batch.observe (per-cell int64 index gather)",
        "observe_calls_per_s_new": best["observe_new"],
        "observe_calls_per_s_previous": best["observe_old"],
        "observe_ratio": best["observe_new"] / best["observe_old"],
        "env_steps_per_s_new": best["step_new"] * num_envs,
        "env_steps_per_s_previous": best["step_old"] * num_envs,
        "step_ratio": best["step_new"] / best["step_old"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024, 64])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--num-rooms", type=int, default=2)
    args = parser.parse_args()
    results = [bench_observe(n, args.rounds, args.seconds, args.num_rooms) for n in args.num_envs]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
