"""Observation standardisation with statistics measured once and then frozen.

Moalla et al. (2024, Table 3) standardise MuJoCo observations with the mean and std of an initial
uniform-random rollout (4,000 steps) and never update them. Running statistics (SB3's VecNormalize) would
make the input distribution itself non-stationary, a confound when studying representation collapse; frozen
ones keep the network's input map fixed for the whole run and identical between training and evaluation.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from rayenvs.atomic import atomic_write


@dataclass(frozen=True, eq=False)
class ObsStats:
    """Per-dimension mean and variance of observations, and how many observations they come from."""

    mean: np.ndarray
    var: np.ndarray
    count: int

    def __eq__(self, other: object) -> bool:
        # Value equality (dataclass equality would compare arrays elementwise): Gymnasium compares the
        # wrapper kwargs of specs, which may hold these statistics.
        return (
            isinstance(other, ObsStats)
            and self.count == other.count
            and np.array_equal(self.mean, other.mean)
            and np.array_equal(self.var, other.var)
        )

    __hash__ = None  # type: ignore[assignment]

    def save(self, path: str | Path) -> Path:
        """Write the statistics to an ``.npz`` file atomically (never half-written)."""
        return atomic_write(
            path,
            lambda f: np.savez(f, mean=self.mean, var=self.var, count=np.int64(self.count)),
            binary=True,
        )

    @classmethod
    def load(cls, path: str | Path) -> ObsStats:
        """Read statistics written by :meth:`save`."""
        try:
            with np.load(Path(path)) as data:
                return cls(mean=data["mean"].copy(), var=data["var"].copy(), count=int(data["count"]))
        except FileNotFoundError as exc:
            raise ValueError(f"no observation statistics file at {path}") from exc
        except KeyError as exc:
            raise ValueError(f"{path} is not an observation statistics file (missing {exc})") from exc


def random_rollout_stats(env: gym.Env, steps: int, seed: int) -> ObsStats:
    """Mean/variance of the observations (reset ones included) of ``steps`` uniform-random actions."""
    if steps < 2:
        raise ValueError(f"warmup_steps={steps!r} must be >= 2 to estimate a variance")
    actions = copy.deepcopy(env.action_space)  # seeding a copy leaves the env's own sampler untouched
    actions.seed(seed)
    obs, _ = env.reset(seed=seed)
    observations = [np.asarray(obs, dtype=np.float64)]
    for _ in range(steps):
        obs, _, terminated, truncated, _ = env.step(actions.sample())
        observations.append(np.asarray(obs, dtype=np.float64))
        if terminated or truncated:
            obs, _ = env.reset()
            observations.append(np.asarray(obs, dtype=np.float64))
    data = np.stack(observations)
    return ObsStats(mean=data.mean(axis=0), var=data.var(axis=0), count=len(data))


class FrozenObsNormalization(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Standardise observations with statistics frozen after an initial uniform-random rollout.

    ``obs -> clip((obs - mean) / sqrt(var + epsilon), -clip_obs, clip_obs)`` as float32, the same formula
    and defaults (clip_obs=10, epsilon=1e-8) as SB3's ``VecNormalize`` but without its running updates.
    Clipping at 10 std bounds the inputs of rarely-visited states, which a short random rollout measures
    poorly (e.g. velocities of a running robot).

    The statistics come from, in order of precedence: ``stats`` (an :class:`ObsStats`), ``stats_path`` (an
    ``.npz`` written by :meth:`save_stats`), or a rollout of ``warmup_steps`` uniform-random actions on
    the wrapped env itself, seeded with ``warmup_seed`` (actions and resets), so two envs built with the
    same arguments get identical statistics. Pass the training env's statistics to the evaluation env to
    be explicit. After the warmup the env is mid-episode; call ``reset`` as usual.

    Arguments:
        env: an env with a ``Box`` observation space.
        warmup_steps: random steps to measure the statistics on (>= 2; the paper uses 4,000).
        warmup_seed: seed of the warmup rollout.
        clip_obs: clipping bound in standard deviations (> 0).
        epsilon: added to the variance (> 0), so constant dimensions map to 0 rather than dividing by 0.
        stats: statistics to use instead of a warmup.
        stats_path: ``.npz`` file of statistics to use instead of a warmup.
    """

    def __init__(
        self,
        env: gym.Env,
        warmup_steps: int = 4000,
        warmup_seed: int = 0,
        clip_obs: float = 10.0,
        epsilon: float = 1e-8,
        stats: ObsStats | None = None,
        stats_path: str | Path | None = None,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self,
            warmup_steps=warmup_steps,
            warmup_seed=warmup_seed,
            clip_obs=clip_obs,
            epsilon=epsilon,
            stats=stats,
            stats_path=stats_path,
        )
        gym.ObservationWrapper.__init__(self, env)
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"FrozenObsNormalization needs a Box observation space, got {space!r}")
        if not clip_obs > 0:
            raise ValueError(f"clip_obs={clip_obs!r} must be > 0")
        if not epsilon > 0:
            raise ValueError(f"epsilon={epsilon!r} must be > 0")
        if stats is None and stats_path is not None:
            stats = ObsStats.load(stats_path)
        if stats is None:
            stats = random_rollout_stats(env, int(warmup_steps), int(warmup_seed))
        mean = np.asarray(stats.mean, dtype=np.float64)
        var = np.asarray(stats.var, dtype=np.float64)
        if mean.shape != space.shape or var.shape != space.shape:
            raise ValueError(
                f"statistics have shapes mean={mean.shape}, var={var.shape}; observations have {space.shape}"
            )
        if np.any(var < 0) or not (np.all(np.isfinite(mean)) and np.all(np.isfinite(var))):
            raise ValueError("statistics must be finite with non-negative variances")
        self.obs_stats = ObsStats(mean=mean, var=var, count=int(stats.count))
        self.clip_obs = float(clip_obs)
        self.epsilon = float(epsilon)
        self._scale = 1.0 / np.sqrt(var + self.epsilon)
        self.observation_space = gym.spaces.Box(-self.clip_obs, self.clip_obs, space.shape, np.float32)

    @property
    def obs_mean(self) -> np.ndarray:
        return self.obs_stats.mean

    @property
    def obs_var(self) -> np.ndarray:
        return self.obs_stats.var

    def save_stats(self, path: str | Path) -> Path:
        """Write the frozen statistics to ``path`` (``.npz``) for an evaluation env's ``stats_path``."""
        return self.obs_stats.save(path)

    def observation(self, observation: Any) -> np.ndarray:
        z = (np.asarray(observation, dtype=np.float64) - self.obs_stats.mean) * self._scale
        return np.clip(z, -self.clip_obs, self.clip_obs).astype(np.float32)
