"""The K x n contextual bandit of Schaul et al. (2019), as a single env and as a native (numba) vector env.

The bandit is the smallest setting where ray interference shows: every context is one component of the
objective and all of them compete for a shared bias. Its episodes last one step, so Gymnasium's generic
vectorisation (one Python env object per copy, and with NEXT_STEP autoreset a wasted reset step after every
episode) would dominate the cost of training; :class:`ContextualBanditVectorEnv` steps all copies in one numba
pass while producing exactly the streams the single env produces under the same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rayenvs.contract import COMPONENT, COMPONENT_PRESENT, COMPONENT_RETURNS, COMPONENT_REWARDS
from rayenvs.envs import bandit_kernels
from rayenvs.validation import is_int


def _as_int(value: Any, name: str, allowed: str) -> int:
    if not is_int(value):
        raise ValueError(f"{name}={value!r} must be an integer {allowed}")
    return int(value)


def validate_bandit_config(
    num_contexts: int, num_arms: int, context_probs: Sequence[float] | np.ndarray | None
) -> tuple[int, int, np.ndarray]:
    """Check the bandit's arguments; return ``(K, n, probs)`` with ``probs`` a float64 vector summing to 1.

    Shared by the single and the vector env so both reject the same inputs with the same messages.
    """
    k = _as_int(num_contexts, "num_contexts", ">= 1")
    if k < 1:
        raise ValueError(f"num_contexts={num_contexts!r} must be >= 1")
    n = _as_int(num_arms, "num_arms", f">= num_contexts={k}")
    if n < k:
        raise ValueError(
            f"num_arms={num_arms!r} must be >= num_contexts={k} (every context needs its own arm)"
        )
    if context_probs is None:
        return k, n, np.full(k, 1.0 / k)
    try:
        probs = np.asarray(context_probs, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"context_probs={context_probs!r} must be a sequence of {k} numbers") from err
    if probs.shape != (k,):
        raise ValueError(
            f"context_probs={context_probs!r} must have length num_contexts={k}, got shape {probs.shape}"
        )
    if not np.all(np.isfinite(probs)) or np.any(probs < 0):
        raise ValueError(f"context_probs={context_probs!r} must be finite and >= 0")
    total = float(probs.sum())
    if abs(total - 1.0) > 1e-8:
        raise ValueError(f"context_probs={context_probs!r} must sum to 1 (within 1e-8), sums to {total!r}")
    return k, n, probs / total


def _cdf(probs: np.ndarray) -> np.ndarray:
    """Cumulative probabilities with an exact 1 at the end, so every uniform in [0, 1) maps to a context."""
    cdf = np.cumsum(probs)
    cdf[-1] = 1.0
    return cdf


def context_from_uniform(cdf: np.ndarray, u: np.ndarray | float) -> np.ndarray:
    """Map uniforms in [0, 1) to contexts by inverse CDF (a zero-probability context is never drawn)."""
    return np.searchsorted(cdf, u, side="right")


class ContextualBanditEnv(gym.Env[np.ndarray, np.int64]):
    """
    ## Description

    The K x n contextual bandit of Schaul et al. (2019, "Ray Interference", Section 2). Each episode shows
    one of K contexts and asks for one of n >= K arms; arm k is the right answer to context k. With a
    softmax policy whose bias is shared across contexts, learning one context slows the others, which makes
    on-policy learning go through plateaus. Each context is one component of the objective
    (``J = sum_k J_k`` with ``J_k`` the probability of answering context k correctly).

    ## Observation

    ``Box(0, 1, (K,), float32)``: the one-hot encoding of the episode's context.

    ## Actions

    ``Discrete(n)``: the arm to pull.

    ## Rewards and components

    Reward 1 if the arm equals the context index, else 0. ``component_names`` is
    ``("context_0", ..., "context_{K-1}")``. Every step's info holds ``component_rewards`` (float64 (K,),
    the reward at the context's index) and ``component`` (the context index); the step ends the episode, so
    it also holds ``component_returns`` (equal to ``component_rewards``) and ``component_present`` (True only
    at the context). The reset info holds ``component`` (the context) as well, so wrappers know the active
    component before the first step; it holds no other key.

    ## Episode end

    Every step terminates the episode (``terminated=True``); episodes are never truncated. The observation
    returned by the step is the episode's (unchanged) context. Stepping again without ``reset()`` raises
    ``gymnasium.error.ResetNeeded``.

    ## Registered ids

    - ``rayenvs/ContextualBandit-v0``: K=2, n=2 by default, all arguments configurable.
    - ``rayenvs/Bandit-K2n2-v0``, ``rayenvs/Bandit-K4n4-v0``, ``rayenvs/Bandit-K8n8-v0``,
      ``rayenvs/Bandit-K2n8-v0``, ``rayenvs/Bandit-K8n16-v0``: fixed K and n, uniform contexts.

    Every id has the native vector env :class:`ContextualBanditVectorEnv` (``gym.make_vec(id, num_envs=N)``).

    ## Version History

    - v0 (issue 15): the native vector env's ``info["final_obs"]`` became one ``(N, K)`` float32 array
      instead of an object array of N rows (indexing ``[i]`` gives the same row; ``np.stack`` of it is a
      no-op). Observations, rewards, terminations, every other info key and every per-env stream are
      unchanged, so the id keeps its version: nothing an agent sees or learns from changed, and the SB3
      adapter (``baselines/training.py``) reads ``final_obs[i]``, which is the same row in both layouts.
      The all-True ``_key`` masks and the terminations (always all True) and truncations (always all
      False) are now shared read-only arrays: same values; writing into them raises instead of being lost.
      Later in issue 15 the per-env streams moved into numba (numpy's PCG64 on a state array: the same
      doubles, so the same contexts) and a step's ``component_rewards``, ``component_returns``,
      ``final_obs`` and ``component_present`` became disjoint views of one allocation (same values, dtypes
      and shapes, writeable; keeping one of them keeps all four, ``21 * K`` bytes per sub-env, alive).
    - v0: initial version.

    ## Arguments

    - ``num_contexts`` (K, int >= 1, default 2).
    - ``num_arms`` (n, int >= K, default 2).
    - ``context_probs``: K non-negative probabilities summing to 1 (within 1e-8); default uniform. The
      context is drawn at reset by inverse CDF from exactly one ``np_random.random()`` uniform.
    - ``render_mode``: ``None`` or ``"rgb_array"``: ``render()`` returns a small picture (see
      :func:`bandit_frame`) of the current context and the last action. SB3's ``make_vec_env`` asks for
      ``"rgb_array"`` by default, so the bandit offers it.

    ## Version History

    - v0 (rendering added later): ``render_mode="rgb_array"`` accepted by the env and its vector env. Rendering
      reads the state only: observations, rewards, terminations, infos and random streams are unchanged.
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        num_contexts: int = 2,
        num_arms: int = 2,
        context_probs: Sequence[float] | np.ndarray | None = None,
        render_mode: str | None = None,
    ) -> None:
        _check_render_mode(render_mode)
        self.num_contexts, self.num_arms, self.context_probs = validate_bandit_config(
            num_contexts, num_arms, context_probs
        )
        self.render_mode = render_mode
        self._shown: tuple[int | None, int | None] = (None, None)  # (context, last action) for render()
        self._cdf = _cdf(self.context_probs)
        self.component_names = tuple(f"context_{k}" for k in range(self.num_contexts))
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.num_contexts,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.num_arms)
        self.context: int | None = None

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.num_contexts, dtype=np.float32)
        obs[self.context] = 1.0
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw the episode's context from ``np_random`` (one uniform) and show it."""
        super().reset(seed=seed)
        self.context = int(context_from_uniform(self._cdf, self.np_random.random()))
        self._shown = (self.context, None)
        return self._obs(), {COMPONENT: self.context}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Pay 1 iff ``action`` is the context's arm; the episode always terminates."""
        if self.context is None:
            raise ResetNeeded(
                "ContextualBanditEnv.step() needs a reset() first (every episode lasts one step)"
            )
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} must be an integer in [0, {self.num_arms - 1}]")
        context = self.context
        reward = 1.0 if int(action) == context else 0.0
        component_rewards = np.zeros(self.num_contexts, dtype=np.float64)
        component_rewards[context] = reward
        present = np.zeros(self.num_contexts, dtype=bool)
        present[context] = True
        obs = self._obs()
        self.context = None
        self._shown = (context, int(action))
        info = {
            COMPONENT_REWARDS: component_rewards,
            COMPONENT: context,
            COMPONENT_RETURNS: component_rewards.copy(),
            COMPONENT_PRESENT: present,
        }
        return obs, reward, True, False, info

    def render(self) -> np.ndarray | None:
        """With ``render_mode="rgb_array"``, the picture of :func:`bandit_frame`; otherwise ``None``."""
        if self.render_mode != "rgb_array":
            return None
        if self._shown[0] is None:
            raise ResetNeeded("ContextualBanditEnv.render() needs a reset() first")
        return bandit_frame(self.num_contexts, self.num_arms, *self._shown)


def _info_block(n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A step's component rewards, component returns (float64), final observations (float32) and component
    mask (bool), all ``(n, k)``, as disjoint views of one allocation.

    One allocation per step instead of four: glibc serves a big block freed the step before from its heap
    without new page faults, while four separately freed arrays exceed its trim threshold and are handed
    back to the kernel and faulted in again every step (measured: most of the step at N=65536, K=8).
    """
    size = n * k
    block = np.empty(size * 21, dtype=np.uint8)
    comp_rewards = block[: 8 * size].view(np.float64).reshape(n, k)
    comp_returns = block[8 * size : 16 * size].view(np.float64).reshape(n, k)
    final_obs = block[16 * size : 20 * size].view(np.float32).reshape(n, k)
    present = block[20 * size :].view(np.bool_).reshape(n, k)
    return comp_rewards, comp_returns, final_obs, present


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode not in (None, "rgb_array"):
        raise ValueError(f"render_mode={render_mode!r} is not supported; allowed: None, 'rgb_array'")


def bandit_frame(num_contexts: int, num_arms: int, context: int, action: int | None, tile: int = 12) -> np.ndarray:
    """An RGB picture (uint8, ``(2 * tile, max(K, n) * tile, 3)``) of one bandit episode.

    Top row: the K contexts, the shown one white. Bottom row: the n arms, the last pulled one green if it
    was the context's arm and red otherwise (no arm lit before the first pull of the episode).
    """
    width = max(num_contexts, num_arms)
    img = np.full((2, width, 3), 40, dtype=np.uint8)
    img[0, :num_contexts] = 90
    img[1, :num_arms] = 90
    img[0, context] = 255
    if action is not None:
        img[1, action] = (0, 200, 0) if action == context else (220, 0, 0)
    return np.repeat(np.repeat(img, tile, axis=0), tile, axis=1)


class ContextualBanditVectorEnv(VectorEnv):
    """``num_envs`` copies of :class:`ContextualBanditEnv` stepped at once by numba (SAME_STEP autoreset).

    Every step ends every episode, so each step returns the next episode's observation directly, with the
    finished episodes' observations in ``info["final_obs"]`` (one ``(N, K)`` float32 array; row i is sub-env
    i's) and their step infos in ``info["final_info"]`` (dict of batched arrays with ``_key`` masks); the
    top-level info holds the new episodes' reset info (``component``). Everything equals what
    ``gymnasium.vector.SyncVectorEnv`` with ``autoreset_mode=SAME_STEP`` returns for the single env, except
    that Gymnasium's ``final_obs`` is an object array of N row arrays: ``info["final_obs"][i]`` gives the same
    row either way, and building N Python objects per step cost more than the whole step otherwise.

    Streams match the single env's: ``reset(seed=s)`` seeds sub-env i with ``s + i`` through
    ``gymnasium.utils.seeding.np_random`` and each sub-env draws one uniform per episode from its own PCG64
    stream, so sub-env i yields the contexts and rewards of a single env reset with seed ``s + i`` and
    stepped with the same actions. The streams are advanced by numba (:mod:`rayenvs.envs.bandit_kernels`,
    numpy's PCG64 algorithm on an ``(N, 4)`` state array, bit-identical floats), so a step is one compiled
    pass over the sub-envs instead of N generator calls.
    ``reset(options={"reset_mask": mask})`` resets only the masked sub-envs, as Gymnasium's vector envs do.
    """

    def __init__(
        self,
        num_envs: int,
        num_contexts: int = 2,
        num_arms: int = 2,
        context_probs: Sequence[float] | np.ndarray | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.num_envs = _as_int(num_envs, "num_envs", ">= 1")
        if self.num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be >= 1")
        _check_render_mode(render_mode)
        self.num_contexts, self.num_arms, self.context_probs = validate_bandit_config(
            num_contexts, num_arms, context_probs
        )
        self.render_mode = render_mode
        self._last_actions: np.ndarray | None = None  # what render() shows; never read by step()
        self.metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP}
        self.component_names = tuple(f"context_{k}" for k in range(self.num_contexts))
        self.single_observation_space = spaces.Box(0.0, 1.0, shape=(self.num_contexts,), dtype=np.float32)
        self.single_action_space = spaces.Discrete(self.num_arms)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        self._cdf = _cdf(self.context_probs)
        # The all-True masks and the all-False truncations are the same every step: shared, read-only.
        self._all = np.ones(self.num_envs, dtype=bool)
        self._all.flags.writeable = False
        self._none = np.zeros(self.num_envs, dtype=bool)
        self._none.flags.writeable = False
        # Row i: sub-env i's PCG64 state and increment (hi, lo words each), advanced by the numba kernels
        # exactly as its own ``Generator.random()`` would advance it.
        self._states = np.zeros((self.num_envs, 4), dtype=np.uint64)
        self._seeded = np.zeros(self.num_envs, dtype=bool)
        self.contexts: np.ndarray | None = None

    def reset(
        self,
        *,
        seed: int | Sequence[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start new episodes in every sub-env (or those in ``options["reset_mask"]``), seeding as Gymnasium."""
        if seed is None:
            seeds: list[int | None] = [None] * self.num_envs
        elif isinstance(seed, Integral) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(
                    f"seed list has length {len(seeds)}; it must have length num_envs={self.num_envs}"
                )
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (self.num_envs,) or not mask.any():
                raise ValueError(
                    f"options['reset_mask']={options['reset_mask']!r} must be a bool array of shape "
                    f"({self.num_envs},) with at least one True"
                )
            if self.contexts is None:
                raise ResetNeeded("a reset with options['reset_mask'] needs a full reset() first")
        else:
            mask = np.ones(self.num_envs, dtype=bool)
            if self.contexts is None:
                self.contexts = np.zeros(self.num_envs, dtype=np.int64)
        envs = np.flatnonzero(mask)
        fresh = [i for i in envs if seeds[i] is not None or not self._seeded[i]]
        if fresh:
            bandit_kernels.pack_states([seeding.np_random(seeds[i])[0] for i in fresh], self._states, fresh)
            self._seeded[fresh] = True
        # A new array each time: the step's infos hand out ``self.contexts`` itself, so it is never written.
        new = self.contexts.copy()
        bandit_kernels.draw_contexts(self._states, self._cdf, envs, new)
        self.contexts = new
        # Unmasked entries are 0, as Gymnasium's info aggregation leaves them.
        contexts = np.zeros(self.num_envs, dtype=np.int64)
        contexts[envs] = self.contexts[envs]
        obs = bandit_kernels.one_hot(self.contexts, self.num_contexts)
        return obs, {COMPONENT: contexts, f"_{COMPONENT}": mask.copy()}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Pay every sub-env, end every episode, and return the next episodes' observations (SAME_STEP)."""
        if self.contexts is None:
            raise ResetNeeded("ContextualBanditVectorEnv.step() needs a reset() first")
        acts = np.asarray(actions)
        if acts.shape != (self.num_envs,) or acts.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), got {acts!r}")
        if bandit_kernels.first_bad_action(acts, self.num_arms) >= 0:
            raise ValueError(f"actions={acts!r} must lie in [0, {self.num_arms - 1}]")
        old = self.contexts
        if self.render_mode is not None:
            self._last_actions = acts.copy()
        # One pass: rewards, the next contexts from each sub-env's stream, and every output array. One-step
        # episodes: the step's component rewards are also the episode's component returns (a separate array).
        n, k = self.num_envs, self.num_contexts
        obs = np.empty((n, k), dtype=np.float32)
        rewards = np.empty(n)
        self.contexts = np.empty(n, dtype=np.int64)
        comp_rewards, comp_returns, final_obs, present = _info_block(n, k)
        bandit_kernels.step_all(
            acts, old, self._states, self._cdf, obs, rewards, self.contexts,
            final_obs, comp_rewards, comp_returns, present,
        )
        all_ = self._all
        final_info = {
            COMPONENT_REWARDS: comp_rewards,
            f"_{COMPONENT_REWARDS}": all_,
            COMPONENT: old,
            f"_{COMPONENT}": all_,
            COMPONENT_RETURNS: comp_returns,
            f"_{COMPONENT_RETURNS}": all_,
            COMPONENT_PRESENT: present,
            f"_{COMPONENT_PRESENT}": all_,
        }
        info = {
            "final_obs": final_obs,
            "_final_obs": all_,
            "final_info": final_info,
            "_final_info": all_,
            COMPONENT: self.contexts,
            f"_{COMPONENT}": all_,
        }
        return obs, rewards, all_, self._none, info

    def render(self) -> tuple[np.ndarray, ...] | None:
        """With ``render_mode="rgb_array"``, one :func:`bandit_frame` per sub-env (as ``SyncVectorEnv``): the
        current episode's context and the previous step's action; otherwise ``None``."""
        if self.render_mode != "rgb_array":
            return None
        if self.contexts is None:
            raise ResetNeeded("ContextualBanditVectorEnv.render() needs a reset() first")
        acts = self._last_actions
        return tuple(
            bandit_frame(self.num_contexts, self.num_arms, int(c), None if acts is None else int(acts[i]))
            for i, c in enumerate(self.contexts)
        )
