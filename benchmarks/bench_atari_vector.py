"""Atari vector throughput: ``gym.make_vec("rayenvs/Atari-Phoenix-v0", N)`` vs its peers, in one run.

Contenders, all with the settings of Moalla et al. (frameskip 3, sticky actions 0.25, minimal actions, 84x84
grey, stack 4, no max-pooling, no no-op/fire reset, no episodic life), N sub-envs, uniform-random actions:

* ``ours``: the vector entry point (ale_py ``AtariVectorEnv`` + our numpy wrappers: raw return, sign
  clipping, life components, raw component returns); ``ours_masked``: the ``-Masked`` id (+ reward mask);
* ``bare``: ale_py's ``AtariVectorEnv`` alone with the same settings (SAME_STEP, raw rewards): the peer;
* ``sync``: the old path, ``gym.make_vec(id, N, vectorization_mode="sync")`` (Python wrapper stacks, cv2);
* ``envpool``: envpool's ``Phoenix-v5`` (if importable) with the same settings except that envpool always
  max-pools the last two frames (no option to turn it off) and counts no-ops from 1 (``noop_max=1``: none).

Every contender is built once and warmed up, then timed in alternating blocks (round r runs each contender
for ``--steps`` vector steps in turn, the order rotating by one each round), so load changes hit all of
them alike. Reported: median env-steps/s per contender, the median over rounds of ``ours / peer`` per round,
and the main thread's CPU time per vector step (our wrappers' cost, robust to the machine's load). Threads: ALE's and envpool's default
(one per CPU, at most N). Run un-niced: ``python benchmarks/bench_atari_vector.py``; record the printed load.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

import rayenvs  # noqa: F401  (registers the ids)

GAME, ENV_ID = "Phoenix", "rayenvs/Atari-Phoenix-v0"


def _bare(num_envs: int) -> Any:
    from ale_py.vector_env import AtariVectorEnv

    return AtariVectorEnv(
        "phoenix", num_envs, frameskip=3, repeat_action_probability=0.25, full_action_space=False,
        max_num_frames_per_episode=108_000, img_height=84, img_width=84, grayscale=True, stack_num=4,
        maxpool=False, noop_max=0, episodic_life=False, reward_clipping=False, use_fire_reset=False,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def _envpool(num_envs: int) -> Any | None:
    try:
        import envpool
    except ImportError:
        return None
    return envpool.make_gymnasium(
        "Phoenix-v5", num_envs=num_envs, frame_skip=3, repeat_action_probability=0.25, noop_max=1,
        episodic_life=False, reward_clip=False, use_fire_reset=False, img_height=84, img_width=84,
        stack_num=4, gray_scale=True, max_episode_steps=36_000, seed=0,
    )


def contenders(num_envs: int) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {
        "ours": lambda: gym.make_vec(ENV_ID, num_envs),
        "ours_masked": lambda: gym.make_vec("rayenvs/Atari-Phoenix-Masked-v0", num_envs),
        "bare": lambda: _bare(num_envs),
        "sync": lambda: gym.make_vec(ENV_ID, num_envs, vectorization_mode="sync"),
    }
    if _envpool(1) is not None:
        out["envpool"] = lambda: _envpool(num_envs)
    return out


def _run(env: Any, actions: np.ndarray) -> tuple[float, float]:
    """Env-steps/s and the calling thread's CPU microseconds per vector step (the Python-side cost: ALE's
    and envpool's emulation runs in their worker threads)."""
    start, cpu = time.perf_counter(), time.thread_time()
    for a in actions:
        env.step(a)
    wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    return actions.size / wall, 1e6 * cpu / len(actions)


def bench(num_envs: int = 8, steps: int = 300, rounds: int = 5, sync_steps: int = 100) -> dict[str, Any]:
    """Env-steps/s of each contender per round, medians and ratios (see the module docstring)."""
    envs = {name: make() for name, make in contenders(num_envs).items()}
    rng = np.random.default_rng(0)
    for i, (name, env) in enumerate(envs.items()):
        env.reset(**({} if name == "envpool" else {"seed": i}))  # envpool is seeded at make
        _run(env, rng.integers(8, size=(20, num_envs)))  # warm-up: threads started, caches filled
    per_round: dict[str, list[float]] = {name: [] for name in envs}
    cpu_us: dict[str, list[float]] = {name: [] for name in envs}
    names = list(envs)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate who goes first
            n = sync_steps if name == "sync" else steps
            sps, cpu = _run(envs[name], np.random.default_rng(r).integers(8, size=(n, num_envs)))
            per_round[name].append(sps)
            cpu_us[name].append(cpu)
        print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in per_round.items()), flush=True)
    for env in envs.values():
        env.close()
    result: dict[str, Any] = {f"{k}_sps": statistics.median(v) for k, v in per_round.items()}
    result |= {f"{k}_main_thread_cpu_us_per_step": statistics.median(v) for k, v in cpu_us.items()}
    ours = per_round["ours"]
    for peer in ("bare", "sync", "envpool"):
        if peer in per_round:
            result[f"ours/{peer}"] = statistics.median(a / b for a, b in zip(ours, per_round[peer], strict=True))
    result["ours_masked/bare"] = statistics.median(
        a / b for a, b in zip(per_round["ours_masked"], per_round["bare"], strict=True)
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300, help="vector steps per block")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sync-steps", type=int, default=100, help="vector steps per block of the slow sync path")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    with open("/proc/loadavg") as f:
        print(f"load before: {f.read().strip()}")
    res = bench(args.num_envs, args.steps, args.rounds, args.sync_steps)
    with open("/proc/loadavg") as f:
        print(f"load after: {f.read().strip()}")
    if "envpool_sps" not in res:
        print("envpool: not importable here (pip install envpool)")
    for key, value in res.items():
        unit = "" if "/" in key else (" us" if key.endswith("_us_per_step") else " env-steps/s")
        print(f"{key}: {value:,.3f}" if "/" in key else f"{key}: {value:,.0f}{unit}")


if __name__ == "__main__":
    main()
