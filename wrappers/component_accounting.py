"""Retrofit the component contract onto an env that does not report its reward's parts.

Ray interference is measured per component, so every env the baselines and diagnostics consume must split
its reward as :mod:`rayenvs.contract` specifies. Third-party envs (ALE, MuJoCo) either expose the terms in
``info`` (MuJoCo v5: ``reward_forward``, ``reward_ctrl``, ...) or need a rule that assigns each reward to a
component (ALE: the life it was earned in); this wrapper turns either into the contract's info keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rayenvs.contract import NO_COMPONENT, ComponentTracker

RESIDUAL = "residual"
ComponentFn = Callable[[Any, float, dict[str, Any]], tuple[int, np.ndarray]]


class ComponentAccounting(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Add ``component_rewards``/``component``/``component_returns``/``component_present`` to ``info``.

    Two ways to define the components:

    * ``components`` is a sequence of info keys, each holding one additive reward term (MuJoCo v5's
      ``reward_forward``, ``reward_ctrl``, ``reward_survive``, ``reward_contact``). The component names are
      the keys. All terms are paid at every step, so ``info["component"]`` is -1 (no single active one).
    * ``components`` is a callable ``(obs, reward, info) -> (component_index, component_rewards)`` and
      ``component_names`` names its K outputs. If the callable has a ``reset(obs, info)`` method it is called
      at every env reset, so stateful rules (e.g. counting lives) can restart.

    The component rewards must sum exactly to the reward. Our choice when they do not:
    a gap up to ``atol`` is floating-point rounding and is added to the first component (so the sum is
    exact to float precision); a larger gap raises ``ValueError`` naming the terms, unless
    ``residual=True``, which appends a ``"residual"`` component holding ``reward - sum(terms)`` at every
    step. Raising is the default because a silent residual usually means a term was forgotten.

    ``component_names`` is exposed on the wrapper and also set on ``env.unwrapped`` (where the contract
    says consumers find it) unless the base env already follows the contract, which is refused.

    Arguments:
        env: the env to extend; must not already define ``component_names``.
        components: a non-empty sequence of info keys, or a component callable.
        component_names: the names of the callable's K components (only with a callable).
        residual: add a ``"residual"`` component instead of raising on a sum mismatch.
        atol: largest mismatch treated as rounding, >= 0.
    """

    def __init__(
        self,
        env: gym.Env,
        components: Sequence[str] | ComponentFn,
        component_names: Sequence[str] | None = None,
        residual: bool = False,
        atol: float = 1e-6,
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, components=components, component_names=component_names, residual=residual, atol=atol
        )
        gym.Wrapper.__init__(self, env)
        if hasattr(env.unwrapped, "component_names"):
            raise ValueError(
                f"{env.unwrapped!r} already follows the component contract "
                f"(component_names={env.unwrapped.component_names!r}); ComponentAccounting would shadow it"
            )
        if atol < 0:
            raise ValueError(f"atol={atol!r} must be >= 0")
        if callable(components):
            if not component_names:
                raise ValueError("component_names must list the callable's components (got none)")
            self._fn: ComponentFn | None = components
            self._keys: tuple[str, ...] = ()
            names = tuple(str(n) for n in component_names)
        else:
            if component_names is not None:
                raise ValueError("component_names is only used with a callable; info keys name themselves")
            keys = tuple(components)
            if not keys or not all(isinstance(k, str) for k in keys):
                raise ValueError(
                    f"components={components!r} must be a non-empty sequence of info keys or a callable"
                )
            self._fn = None
            self._keys = keys
            names = keys
        if len(set(names)) != len(names):
            raise ValueError(f"component names {names!r} are not unique")
        self.residual = bool(residual)
        self.atol = float(atol)
        self.component_names: tuple[str, ...] = names + ((RESIDUAL,) if self.residual else ())
        self._tracker = ComponentTracker(len(self.component_names), every_step=True)
        env.unwrapped.component_names = self.component_names

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Envs pickled by constructor arguments (EzPickle: ALE, MuJoCo) come back without the attribute.
        self.__dict__.update(state)
        self.env.unwrapped.component_names = self.component_names

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        obs, info = self.env.reset(seed=seed, options=options)
        if self._fn is not None and hasattr(self._fn, "reset"):
            self._fn.reset(obs, info)
        self._tracker.reset()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = float(reward)
        if self._fn is not None:
            component, terms = self._fn(obs, reward, info)
            terms = np.asarray(terms, dtype=np.float64).reshape(-1)
            component = int(component)
        else:
            missing = [k for k in self._keys if k not in info]
            if missing:
                raise ValueError(f"info has no reward term(s) {missing}; keys present: {sorted(info)}")
            terms = np.array([float(info[k]) for k in self._keys], dtype=np.float64)
            component = NO_COMPONENT
        expected = len(self.component_names) - int(self.residual)
        if terms.shape != (expected,):
            raise ValueError(f"component rewards have shape {terms.shape}, expected ({expected},)")
        gap = reward - float(terms.sum())
        if self.residual:
            terms = np.append(terms, gap)
        elif abs(gap) <= self.atol:
            terms[0] += gap
        else:
            raise ValueError(
                f"components {self.component_names} sum to {terms.sum()!r} but the reward is {reward!r} "
                f"(gap {gap!r} > atol={self.atol}); list every reward term or pass residual=True"
            )
        info = self._tracker.step_info(terms, component, terminated or truncated, info)
        return obs, reward, terminated, truncated, info
