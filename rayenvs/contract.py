"""The component contract every rayenvs environment follows.

Ray interference (Schaul et al., 2019) is only visible when the objective is split into the parts that
compete for the same parameters. Every env in the suite therefore decomposes its objective into K named
components, ``J = sum_k J_k``, and reports the split in its ``info`` dict:

``env.unwrapped.component_names``
    tuple of K strings, e.g. ``("context_0", "context_1")`` or ``("room_0", ..., "room_3")``.

every step's ``info``
    ``"component_rewards"``: float64 array of shape (K,) summing exactly to the step's reward;
    ``"component"``: int, the component active at this step (-1 if none);
    ``"component_returns"``: float64 (K,), the running sums of ``component_rewards`` over the episode so
    far (this step included), so on the last step (terminated or truncated) they are the episode's totals;
    ``"component_present"``: bool (K,), which components could be earned in this episode (constant within
    an episode; nothing is ever earned on an absent one).

Why every step and not only the last: an episode can be ended from outside the env. ``gym.make(id,
max_episode_steps=N)`` never passes N to the env but wraps it in ``gymnasium.wrappers.TimeLimit``, as do SB3
users, and the truncating step then carries the env's ordinary step info. Because every step already holds
the running sums, whichever step ends the episode holds its totals. The reset info need not hold them.

Every rayenvs env emits all four keys on every step. Consumers should read the two episode keys on the last
step only, which is all :func:`check_component_info` requires: wrappers that retrofit the contract onto
third-party envs may add them only there (see :class:`ComponentTracker`). Wherever present they must be
well-formed.

No env emits an ``"episode"`` key (``RecordEpisodeStatistics`` and SB3's ``Monitor`` own it), and infos are
deterministic (no wall-clock values), so ``check_env``'s seeded-determinism check covers them.

:class:`ComponentTracker` implements the bookkeeping for single envs; vector envs keep the same arrays with
a leading batch axis (SAME_STEP autoreset: an ending sub-env's keys go to ``final_info``).
:func:`check_component_info` validates one step's info against the contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

COMPONENT_REWARDS = "component_rewards"
COMPONENT = "component"
COMPONENT_RETURNS = "component_returns"
COMPONENT_PRESENT = "component_present"
NO_COMPONENT = -1


class ComponentTracker:
    """Accumulates per-component returns over one episode of a single env.

    ``every_step=True`` puts the running ``component_returns``/``component_present`` in every step's info,
    as the contract asks of envs so that an outer ``TimeLimit``'s truncation still carries them. The default
    (``False``) adds them on the last step only, for wrappers whose outer layers rewrite them at episode end
    (e.g. a reward mask rebuilding the returns from masked rewards).
    """

    def __init__(self, num_components: int, every_step: bool = False) -> None:
        if num_components < 1:
            raise ValueError(f"num_components={num_components!r} must be >= 1")
        self.num_components = int(num_components)
        self.every_step = bool(every_step)
        self.returns = np.zeros(self.num_components, dtype=np.float64)
        self.present = np.zeros(self.num_components, dtype=bool)

    def reset(self, present: Sequence[bool] | np.ndarray | None = None) -> None:
        """Start a new episode; ``present`` marks the components that can be earned in it (default all)."""
        self.returns = np.zeros(self.num_components, dtype=np.float64)
        if present is None:
            self.present = np.ones(self.num_components, dtype=bool)
        else:
            present = np.asarray(present, dtype=bool)
            if present.shape != (self.num_components,):
                raise ValueError(f"present has shape {present.shape}, expected ({self.num_components},)")
            self.present = present.copy()

    def step_info(
        self,
        component_rewards: np.ndarray,
        component: int,
        done: bool,
        info: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add one step's component rewards and return ``info`` extended with the contract's keys."""
        rewards = np.asarray(component_rewards, dtype=np.float64)
        self.returns = self.returns + rewards
        out = {} if info is None else info
        out[COMPONENT_REWARDS] = rewards.copy()
        out[COMPONENT] = int(component)
        if done or self.every_step:
            out[COMPONENT_RETURNS] = self.returns.copy()
            out[COMPONENT_PRESENT] = self.present.copy()
        return out


def one_hot_reward(num_components: int, component: int, reward: float) -> np.ndarray:
    """Component rewards for a step whose whole reward belongs to one component (or none if -1)."""
    out = np.zeros(num_components, dtype=np.float64)
    if component != NO_COMPONENT:
        out[component] = reward
    return out


def check_component_info(info: dict[str, Any], reward: float, num_components: int, done: bool) -> None:
    """Raise AssertionError if one step's ``info`` breaks the contract (used by tests and users' own envs).

    ``component_returns``/``component_present`` are required when ``done`` and checked whenever present
    (both or neither, right dtype and shape, nothing earned on an absent component). That the returns are
    the running sums needs the episode's history, which the caller holds.
    """
    assert "episode" not in info, "envs must not emit an 'episode' key"
    cr = info[COMPONENT_REWARDS]
    assert isinstance(cr, np.ndarray) and cr.dtype == np.float64 and cr.shape == (num_components,), cr
    assert np.isclose(cr.sum(), reward, rtol=0, atol=1e-9), (cr, reward)
    comp = info[COMPONENT]
    assert isinstance(comp, int) and NO_COMPONENT <= comp < num_components, comp
    has_returns, has_present = COMPONENT_RETURNS in info, COMPONENT_PRESENT in info
    if done:
        assert has_returns and has_present, (
            f"the last step of an episode needs {COMPONENT_RETURNS!r} and {COMPONENT_PRESENT!r}; "
            f"info keys were {sorted(info)}"
        )
    assert has_returns == has_present, f"{COMPONENT_RETURNS!r} and {COMPONENT_PRESENT!r} come together"
    if has_returns:
        ret = info[COMPONENT_RETURNS]
        pres = info[COMPONENT_PRESENT]
        assert isinstance(ret, np.ndarray) and ret.dtype == np.float64, ret
        assert ret.shape == (num_components,), ret
        assert isinstance(pres, np.ndarray) and pres.dtype == np.bool_, pres
        assert pres.shape == (num_components,), pres
        assert np.all(ret[~pres] == 0.0), f"returns {ret} earned on absent components (present={pres})"
