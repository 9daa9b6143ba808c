"""A changing target for plasticity studies: the meaning of the actions (:class:`PermutedActions`) or the order of
the observation entries (:class:`PermutedObservations`) is permuted anew every ``period`` steps.

Moalla et al. (2024) study PPO on single tasks, where the only non-stationarity is that of PPO's own
objective (their footnote on ablating MDP non-stationarity); they link the collapse they see to the loss of
plasticity that Dohare et al. (2023) measure under *changing* targets. On small tasks that a CPU learns in
minutes the stationary objective is solved and then left alone, so these wrappers add the classic plasticity
probes (Dohare et al.'s permuted inputs, Lyle et al.'s shuffled labels). Phase 0 is the identity, so the first
phase *is* the wrapped env; every later phase is the same env seen through a new permutation, which a plastic
learner re-learns as fast as it learned the first (a fully connected network's initialisation does not care
how its inputs are ordered). Permuted actions ask only the output layer to re-map; permuted observations need
new features.

The phase depends on a step clock, not on episodes, and the permutations only on ``seed``, so all copies of a
vector env agree on them whatever seeds their resets get. Without a ``clock`` each wrapper counts its own
steps (copies of a vector env step together, so they switch together); with a shared ``clock`` (e.g. driven by
:class:`baselines.training.callbacks.StepClockCallback` from the model's step count) the training and the
evaluation env switch at the same training step, and a resumed run resumes in the right phase.
``info["phase"]`` reports the phase a step was taken in.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rayenvs.validation import check_int

PHASE = "phase"
_PERM_STREAM = 0x7065726D  # mixed into the seed so the permutations do not share a stream with the env's


def _next_permutation(n: int, phase: int, seed: int, previous: np.ndarray) -> np.ndarray:
    """Phase ``phase``'s permutation given phase ``phase - 1``'s: the first draw from ``(seed, phase)`` that
    differs from it."""
    rng = np.random.default_rng([int(seed), _PERM_STREAM, phase])
    while True:
        perm = rng.permutation(n)
        if not np.array_equal(perm, previous):
            return perm


def phase_permutation(n: int, phase: int, seed: int) -> np.ndarray:
    """The permutation of ``n`` items in ``phase``: the identity for phase 0, else a random permutation that
    differs from the previous phase's (drawn from ``(seed, phase)`` and the phases before, so any copy computes
    the same one). Iterative: any phase, at a cost linear in it (the wrappers step from phase to phase)."""
    check_int("n", n, lo=2)
    check_int("phase", phase, lo=0)
    perm = np.arange(n)
    for q in range(1, phase + 1):
        perm = _next_permutation(n, q, seed, perm)
    return perm


class _PhaseClock:
    """The phase bookkeeping both wrappers share: a step clock (own or shared) and a cached permutation."""

    def __init__(self, period: int, seed: int, clock: np.ndarray | None) -> None:
        check_int("period", period, lo=1)
        check_int("seed", seed, lo=0)
        if clock is not None and (np.shape(clock) != (1,) or not np.issubdtype(np.asarray(clock).dtype, np.integer)):
            raise ValueError(f"clock must be a one-element integer numpy array, got {clock!r}")
        self.period = int(period)
        self.seed = int(seed)
        self.owned = clock is None
        self.clock = np.zeros(1, dtype=np.int64) if clock is None else clock
        self._cache: tuple[int, int, np.ndarray] | None = None

    @property
    def phase(self) -> int:
        return int(self.clock[0]) // self.period

    def permutation(self, n: int) -> np.ndarray:
        phase = self.phase
        if self._cache is not None and self._cache[:2] == (phase - 1, n):  # the usual case: one phase on
            self._cache = (phase, n, _next_permutation(n, phase, self.seed, self._cache[2]))
        elif self._cache is None or self._cache[:2] != (phase, n):
            self._cache = (phase, n, phase_permutation(n, phase, self.seed))
        return self._cache[2]

    def tick(self) -> None:
        """One step taken: advance an own clock (a shared one is advanced by its owner)."""
        if self.owned:
            self.clock[0] += 1


class _Clocked:
    """The ``clock`` and ``phase`` properties both permutation wrappers expose (they hold a ``_PhaseClock``)."""

    _clock: _PhaseClock

    @property
    def clock(self) -> np.ndarray:
        """The step clock the phase is read from (this wrapper's own, or the shared one it was given)."""
        return self._clock.clock

    @property
    def phase(self) -> int:
        """The phase the next step is taken in."""
        return self._clock.phase


class PermutedActions(_Clocked, gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Remap a ``Discrete`` action through a permutation that changes every ``period`` steps of this env.

    Arguments:
        env: a Gymnasium env with a ``Discrete(n)`` action space, ``n >= 2``.
        period: steps (of this env, across episodes) per phase, >= 1.
        seed: seed of the permutation sequence (not the env's): equal seeds give equal phases.
        clock: optional one-element integer array holding the step count; envs that share it share the
            phase (an evaluation env reading the training env's clock). Without it the wrapper counts its own
            steps.
    """

    def __init__(self, env: gym.Env, period: int, seed: int = 0, clock: np.ndarray | None = None) -> None:
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise ValueError(f"PermutedActions needs a Discrete action space, got {env.action_space}")
        if int(env.action_space.n) < 2:
            raise ValueError(f"PermutedActions needs at least 2 actions to permute, got {env.action_space.n}")
        self._clock = _PhaseClock(period, seed, clock)
        gym.utils.RecordConstructorArgs.__init__(self, period=period, seed=seed)
        gym.ActionWrapper.__init__(self, env)
        self._start = int(env.action_space.start)

    def permutation(self) -> np.ndarray:
        """The current phase's permutation (``perm[a]`` is the action the wrapped env receives for ``a``)."""
        return self._clock.permutation(int(self.action_space.n))

    def action(self, action: Any) -> int:
        a = int(action) - self._start
        if not 0 <= a < self.action_space.n:
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        return int(self.permutation()[a]) + self._start

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        phase = self.phase
        obs, reward, terminated, truncated, info = self.env.step(self.action(action))
        self._clock.tick()
        info[PHASE] = phase
        return obs, reward, terminated, truncated, info


class PermutedObservations(_Clocked, gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Permute the entries of a flat ``Box`` observation through a permutation that changes every ``period``
    steps (Dohare et al.'s permuted inputs): unlike permuted actions, which only the output layer has to
    re-learn, every phase needs new features, so this probes the plasticity of the whole representation.

    Arguments are those of :class:`PermutedActions`; the wrapped env needs a 1-D ``Box`` observation space.
    """

    def __init__(self, env: gym.Env, period: int, seed: int = 0, clock: np.ndarray | None = None) -> None:
        space = env.observation_space
        if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1 or space.shape[0] < 2:
            raise ValueError(f"PermutedObservations needs a 1-D Box observation space of size >= 2, got {space}")
        if not (np.all(space.low == space.low[0]) and np.all(space.high == space.high[0])):
            raise ValueError(
                "PermutedObservations needs equal bounds on every entry (a permuted observation must stay in the space)"
            )
        self._clock = _PhaseClock(period, seed, clock)
        gym.utils.RecordConstructorArgs.__init__(self, period=period, seed=seed)
        gym.ObservationWrapper.__init__(self, env)
        self._n = int(space.shape[0])

    def observation(self, observation: Any) -> Any:
        return np.asarray(observation)[self._clock.permutation(self._n)]

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        phase = self.phase
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._clock.tick()  # the observation after the step belongs to the phase of the next step
        info[PHASE] = phase
        return self.observation(obs), reward, terminated, truncated, info
