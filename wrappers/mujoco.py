"""MuJoCo locomotion tasks with the settings of Moalla et al. (2024) and their reward terms as components.

Gymnasium's v5 locomotion rewards are sums of named terms (moving forward, staying alive, control and
contact costs) reported in ``info``; these are natural components whose gradients can interfere (e.g. the
control cost pulls actions to zero while the forward reward pushes them out).
"""

from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from wrappers.component_accounting import ComponentAccounting
from wrappers.obs_normalization import FrozenObsNormalization, ObsStats

# The additive reward terms of each v5 task, in the order they become components.
REWARD_TERMS: dict[str, tuple[str, ...]] = {
    "Hopper": ("reward_forward", "reward_ctrl", "reward_survive"),
    "HalfCheetah": ("reward_forward", "reward_ctrl"),
    "Ant": ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive"),
    "Humanoid": ("reward_forward", "reward_ctrl", "reward_contact", "reward_survive"),
}
TASKS = tuple(REWARD_TERMS)
MAX_EPISODE_STEPS = 1000


class UnitActionScaling(gym.ActionWrapper):
    """Expose a ``Box`` action space as [-1, 1] and map actions affinely onto the env's bounds.

    Same map as Gymnasium's ``RescaleAction(env, -1, 1)``, which keeps a local closure and so cannot be
    pickled; the bounds are not clipped (as there).
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box) or not space.is_bounded():
            raise ValueError(f"UnitActionScaling needs a bounded Box action space, got {space!r}")
        self._low = space.low.astype(np.float64)
        self._half_range = (space.high.astype(np.float64) - self._low) / 2.0
        self.action_space = gym.spaces.Box(-1.0, 1.0, space.shape, space.dtype)

    def action(self, action: np.ndarray) -> np.ndarray:
        scaled = self._low + (np.asarray(action, dtype=np.float64) + 1.0) * self._half_range
        return scaled.astype(self.env.action_space.dtype)


def make_mujoco_env(
    task: str,
    warmup_steps: int = 4000,
    warmup_seed: int = 0,
    obs_stats: ObsStats | None = None,
    obs_stats_path: str | Path | None = None,
    render_mode: str | None = None,
    time_limit: int | None = MAX_EPISODE_STEPS,
) -> gym.Env:
    """Build a Gymnasium v5 MuJoCo task with frozen observation normalisation and reward-term components.

    Description:
        ``{task}-v5`` with its default settings (1,000-step limit), observations standardised by
        :class:`FrozenObsNormalization` with statistics from ``warmup_steps`` uniform-random steps (4,000 in
        the paper, "at least 4 episodes"), then frozen. Composition: ``gym.make("{task}-v5")`` ->
        :class:`UnitActionScaling` (Humanoid only) -> :class:`ComponentAccounting` (info keys) ->
        :class:`FrozenObsNormalization`.
    Observation:
        ``Box(-10, 10, (d,), float32)``: the v5 observation standardised and clipped at 10 std
        (d = 11 Hopper, 17 HalfCheetah, 105 Ant, 348 Humanoid).
    Actions:
        ``Box(-1, 1, (m,), float32)`` joint torques (m = 3, 6, 8, 17). Humanoid's native ±0.4 bounds are
        linearly rescaled to [-1, 1] (:class:`UnitActionScaling`), as SB3 recommends, so every task has the same
        action range; the other tasks are natively in [-1, 1] and unchanged.
    Rewards and components:
        The v5 reward, unchanged. Components are its additive terms from ``info``
        (:data:`REWARD_TERMS`), paid at every step, so ``info["component"]`` is -1. Their sum equals the
        reward up to float rounding, which goes into the first term.
    Episode end:
        Terminated when the robot is unhealthy (not HalfCheetah), truncated after 1,000 steps.
    Registered ids:
        ``rayenvs/MuJoCo-{Hopper,HalfCheetah,Ant,Humanoid}-v0``.
    Version History:
        v0 (later): ``gym.make(id, max_episode_steps=N)`` truncates at N (before, an inner 1,000-step limit
        still applied). With the default limit, observations, rewards, truncations and streams are unchanged.
    Arguments:
        task: one of :data:`TASKS`.
        warmup_steps: random steps for the normalisation statistics (>= 2).
        warmup_seed: seed of that rollout; envs built with the same seed get the same statistics.
        obs_stats: statistics to reuse (e.g. the training env's, for evaluation); skips the warmup.
        obs_stats_path: ``.npz`` written by ``FrozenObsNormalization.save_stats``; skips the warmup.
        render_mode: passed to the MuJoCo env.
        time_limit: steps after which an episode is truncated, or ``None`` for no limit inside the stack. The
            registered ids pass ``None`` and let ``gym.make``'s outer ``TimeLimit`` (1,000, or the caller's
            ``max_episode_steps``) decide; the warmup rollout always uses the 1,000-step limit, so the
            statistics never depend on it.
    """
    if task not in REWARD_TERMS:
        raise ValueError(f"task={task!r} is not supported; choose one of {TASKS}")
    if int(warmup_steps) < 2:
        raise ValueError(f"warmup_steps={warmup_steps!r} must be >= 2")
    env = gym.make(
        f"{task}-v5",
        max_episode_steps=MAX_EPISODE_STEPS,
        render_mode=render_mode,
        disable_env_checker=True,  # the outer gym.make of the rayenvs id checks the whole stack
    )
    space = env.action_space
    if not (np.all(space.low == -1.0) and np.all(space.high == 1.0)):
        env = UnitActionScaling(env)
    env = ComponentAccounting(env, REWARD_TERMS[task])
    env = FrozenObsNormalization(
        env,
        warmup_steps=warmup_steps,
        warmup_seed=warmup_seed,
        stats=obs_stats,
        stats_path=obs_stats_path,
    )
    if time_limit != MAX_EPISODE_STEPS:
        _set_time_limit(env, time_limit)
    return env


def _set_time_limit(env: gym.Env, steps: int | None) -> None:
    """Change the inner v5 ``TimeLimit`` after the warmup (no public setter; ``None``: never truncate)."""
    if steps is not None and int(steps) < 1:
        raise ValueError(f"time_limit={steps!r} must be an integer >= 1 or None")
    while not isinstance(env, gym.wrappers.TimeLimit):
        env = env.env
    env._max_episode_steps = sys.maxsize if steps is None else int(steps)
