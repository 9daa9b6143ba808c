"""Throughput of the Atari/MuJoCo presets relative to named peers measured in the same run.

* Atari: ``rayenvs/Atari-Phoenix-Masked-v0`` vs the same ALE settings composed from Gymnasium wrappers only
  (no reward clipping, components or mask) -> the cost of our reward bookkeeping; and vs SB3's
  ``AtariWrapper`` + 4-frame stack (frameskip 4 with max-pooling, the common default).
* MuJoCo: ``rayenvs/MuJoCo-Hopper-v0`` (frozen normalisation + components) vs ``Hopper-v5`` in SB3's
  ``DummyVecEnv`` + ``VecNormalize`` (running normalisation), and vs bare ``Hopper-v5``.

Usage: ``python benchmarks/atari_mujoco_wrappers.py [--steps N] [--repeats R]``. Prints steps/s and ratios.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import rayenvs  # noqa: F401  (registers the ids)


def _steps_per_second(make: Callable[[], gym.Env], steps: int, repeats: int) -> float:
    """Best of ``repeats`` timed runs of ``steps`` uniform-random steps (construction not timed)."""
    best = 0.0
    for r in range(repeats):
        env = make()
        env.reset(seed=r)
        env.action_space.seed(r)
        actions = [env.action_space.sample() for _ in range(steps)]
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        best = max(best, steps / (time.perf_counter() - start))
        env.close()
    return best


def _vec_steps_per_second(make_vec: Callable[[], object], steps: int, repeats: int) -> float:
    best = 0.0
    for r in range(repeats):
        venv = make_vec()
        venv.seed(r)
        venv.reset()
        space = venv.action_space
        space.seed(r)
        actions = [np.array([space.sample()]) for _ in range(steps)]
        start = time.perf_counter()
        for a in actions:
            venv.step(a)  # auto-resets
        best = max(best, steps / (time.perf_counter() - start))
        venv.close()
    return best


def atari(steps: int, repeats: int) -> dict[str, float]:
    import ale_py
    from stable_baselines3.common.atari_wrappers import AtariWrapper

    gym.register_envs(ale_py)

    def gymnasium_only() -> gym.Env:
        env = gym.make("ALE/Phoenix-v5", obs_type="grayscale", frameskip=3, repeat_action_probability=0.25)
        env = gym.wrappers.AtariPreprocessing(env, noop_max=0, frame_skip=1, screen_size=84)
        return gym.wrappers.FrameStackObservation(env, 4)

    def sb3_atari() -> gym.Env:
        env = gym.make("ALE/Phoenix-v5", frameskip=1, repeat_action_probability=0.25)
        return gym.wrappers.FrameStackObservation(AtariWrapper(env), 4)

    ours = _steps_per_second(lambda: gym.make("rayenvs/Atari-Phoenix-Masked-v0"), steps, repeats)
    peer = _steps_per_second(gymnasium_only, steps, repeats)
    sb3 = _steps_per_second(sb3_atari, steps, repeats)
    return {"ours_sps": ours, "gymnasium_only_sps": peer, "sb3_atariwrapper_sps": sb3}


def mujoco(steps: int, repeats: int) -> dict[str, float]:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    ours = _steps_per_second(lambda: gym.make("rayenvs/MuJoCo-Hopper-v0"), steps, repeats)
    bare = _steps_per_second(lambda: gym.make("Hopper-v5"), steps, repeats)
    vecnorm = _vec_steps_per_second(
        lambda: VecNormalize(DummyVecEnv([lambda: gym.make("Hopper-v5")]), norm_reward=False), steps, repeats
    )
    start = time.perf_counter()
    gym.make("rayenvs/MuJoCo-Humanoid-v0")
    warmup_s = time.perf_counter() - start
    return {"ours_sps": ours, "bare_sps": bare, "sb3_vecnormalize_sps": vecnorm, "humanoid_make_s": warmup_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    a = atari(args.steps, args.repeats)
    print(
        f"Atari Phoenix-Masked: ours {a['ours_sps']:.0f} steps/s, gymnasium-only {a['gymnasium_only_sps']:.0f} "
        f"(ratio {a['ours_sps'] / a['gymnasium_only_sps']:.2f}), SB3 AtariWrapper {a['sb3_atariwrapper_sps']:.0f} "
        f"(ratio {a['ours_sps'] / a['sb3_atariwrapper_sps']:.2f}; frames/s ratio "
        f"{3 * a['ours_sps'] / (4 * a['sb3_atariwrapper_sps']):.2f})"
    )
    m = mujoco(args.steps, args.repeats)
    print(
        f"MuJoCo Hopper: ours {m['ours_sps']:.0f} steps/s, SB3 VecNormalize {m['sb3_vecnormalize_sps']:.0f} "
        f"(ratio {m['ours_sps'] / m['sb3_vecnormalize_sps']:.2f}), bare Hopper-v5 {m['bare_sps']:.0f} "
        f"(ratio {m['ours_sps'] / m['bare_sps']:.2f}); Humanoid make incl. 4,000-step warmup "
        f"{m['humanoid_make_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
