"""Gymnasium vector envs as SB3 VecEnvs: every family (native numpy vector envs and SyncVectorEnv) goes through
one adapter, so training and evaluation share one code path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecMonitor


def _per_env(value: Any) -> list[Any]:
    """One entry per env: Python scalars for 1-D numeric arrays, rows of a private copy for N-D ones (the
    env may overwrite its own buffers next step), the objects themselves for object arrays."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return list(value)
        return value.tolist() if value.ndim == 1 else list(value.copy())
    return list(value)


def split_infos(infos: Mapping[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's batched infos (arrays plus ``_key`` masks, nested dicts) as SB3's list of per-env dicts."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        idx = np.flatnonzero(mask).tolist() if mask is not None else range(num_envs)
        items = split_infos(value, num_envs) if isinstance(value, Mapping) else _per_env(value)
        for i in idx:
            out[i][key] = items[i]
    return out


def _copy_obs(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {k: np.array(v, copy=True) for k, v in obs.items()}
    return np.array(obs, copy=True)


class GymnasiumVecEnvAdapter(VecEnv):
    """Present a ``gymnasium.vector.VectorEnv`` with SAME_STEP autoreset as an SB3 ``VecEnv``.

    SB3 wants a list of per-env info dicts where an ending env's dict is its *terminal* step's info plus
    ``terminal_observation`` and ``TimeLimit.truncated`` (used to bootstrap truncated episodes). Gymnasium's
    SAME_STEP mode returns the next episode's first observation and puts the terminal step's obs and info in
    ``final_obs`` / ``final_info``; this adapter moves them where SB3 looks and keeps the reset info in
    ``reset_infos``. Observations are copied because native vector envs may reuse their buffers, which SB3's
    ``_last_obs`` would otherwise alias. ``env_method`` / ``get_attr`` act on the vector env as a whole.
    """

    def __init__(self, venv: Any) -> None:
        from gymnasium.vector import AutoresetMode

        mode = venv.metadata.get("autoreset_mode")
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP.value):
            raise ValueError(f"GymnasiumVecEnvAdapter needs SAME_STEP autoreset, got autoreset_mode={mode!r}")
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    def reset(self) -> Any:
        seed = self._seeds[0]
        options = self._options[0] or None
        obs, infos = self.venv.reset(seed=seed, options=options)
        self.reset_infos = split_infos(infos, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return _copy_obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        current = {
            k: v
            for k, v in infos.items()
            if k not in ("final_obs", "_final_obs", "final_info", "_final_info")
        }
        per_env = split_infos(current, self.num_envs)
        if dones.any():
            finals = split_infos(infos.get("final_info", {}), self.num_envs)
            final_obs = infos.get("final_obs")
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = per_env[i]
                info = finals[i]
                info["terminal_observation"] = _copy_obs(final_obs[i]) if final_obs is not None else None
                per_env[i] = info
        for i in range(self.num_envs):
            per_env[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return _copy_obs(obs), np.asarray(rewards, dtype=np.float32), dones, per_env

    def close(self) -> None:
        self.venv.close()

    def _count(self, indices: Any) -> int:
        return len(list(self._get_indices(indices)))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * self._count(indices)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * self._count(indices)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


def make_vector_env(
    env_id: str,
    num_envs: int,
    env_kwargs: Mapping[str, Any] | None = None,
    wrappers: Sequence[Callable[[Any], Any]] = (),
) -> Any:
    """A Gymnasium vector env with SAME_STEP autoreset: the id's native one when it has a vector entry point
    and no ``wrappers``, else ``SyncVectorEnv`` over single envs, each wrapped by ``wrappers`` in order."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from rayenvs.registration import env_info

    kwargs = dict(env_kwargs or {})
    if env_info(env_id).vector_entry_point is not None and not wrappers:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        wrappers=list(wrappers) or None,
        **kwargs,
    )


def make_train_env(
    env_id: str,
    num_envs: int,
    env_kwargs: Mapping[str, Any] | None = None,
    wrappers: Sequence[Callable[[Any], Any]] = (),
) -> VecEnv:
    """The SB3 training env: vector env -> adapter -> VecMonitor (episode stats for ``rollout/ep_rew_mean``)."""
    return VecMonitor(GymnasiumVecEnvAdapter(make_vector_env(env_id, num_envs, env_kwargs, wrappers)))


def component_names_of(
    venv: Any, env_id: str, env_kwargs: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The component names of an env, read from the vector env or, failing that, from one single env."""
    names = getattr(venv, "component_names", None)
    if names is None and hasattr(venv, "envs"):
        names = getattr(venv.envs[0].unwrapped, "component_names", None)
    if names is None:
        import gymnasium as gym

        env = gym.make(env_id, **dict(env_kwargs or {}))
        names = getattr(env.unwrapped, "component_names", None)
        env.close()
    if not names:
        raise ValueError(
            f"{env_id} has no component_names: it does not follow the rayenvs component contract"
        )
    return tuple(str(n) for n in names)
