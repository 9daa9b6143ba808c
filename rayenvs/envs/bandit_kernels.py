"""numba kernels of the bandit vector env: the whole step of N sub-envs in one pass.

Every sub-env draws its next context from its own PCG64 stream (:mod:`rayenvs.envs.pcg64`, bit-identical
to its single env's ``Generator.random()``); the reward compare, the inverse CDF, the one-hot observations
and every info array are written once each in the same loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from rayenvs.envs.pcg64 import next_double, pack_states, random_doubles

__all__ = ["draw_contexts", "first_bad_action", "one_hot", "pack_states", "random_doubles", "step_all"]


@njit(cache=True, nogil=True, inline="always")
def _context(cdf: np.ndarray, u: float) -> int:
    """``searchsorted(cdf, u, side="right")``: the count of ``cdf[:-1] <= u`` (``cdf[-1] == 1 > u``)."""
    k = cdf.shape[0]
    if k <= 16:
        c = 0
        for j in range(k - 1):
            c += cdf[j] <= u
        return c
    lo, hi = 0, k
    while lo < hi:
        mid = (lo + hi) // 2
        if cdf[mid] <= u:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def draw_contexts(states: np.ndarray, cdf: np.ndarray, rows: np.ndarray, contexts: np.ndarray) -> None:
    """One new context per listed row (``contexts[r]``), each from its own stream."""
    for j in range(rows.shape[0]):
        r = rows[j]
        contexts[r] = _context(cdf, next_double(states, r))


@njit(cache=True, nogil=True)
def one_hot(contexts: np.ndarray, k: int) -> np.ndarray:
    """The ``(N, k)`` float32 one-hot rows of ``contexts``."""
    n = contexts.shape[0]
    obs = np.zeros((n, k), dtype=np.float32)
    for i in range(n):
        obs[i, contexts[i]] = 1.0
    return obs


@njit(cache=True, nogil=True)
def first_bad_action(actions: np.ndarray, num_arms: int) -> int:
    """Index of the first action outside ``[0, num_arms)``, or -1."""
    for i in range(actions.shape[0]):
        a = actions[i]
        if a < 0 or a >= num_arms:
            return i
    return -1


@njit(cache=True, nogil=True)
def step_all(
    actions: np.ndarray,
    old: np.ndarray,
    states: np.ndarray,
    cdf: np.ndarray,
    obs: np.ndarray,
    rewards: np.ndarray,
    new: np.ndarray,
    final_obs: np.ndarray,
    comp_rewards: np.ndarray,
    comp_returns: np.ndarray,
    present: np.ndarray,
) -> None:
    """Pay every sub-env for ``actions`` against its context ``old`` and draw its next context into ``new``.

    Writes every element of the output arrays once (no zero-fill pass before the one-hot writes).
    """
    k = cdf.shape[0]
    for i in range(old.shape[0]):
        c = old[i]
        r = 1.0 if actions[i] == c else 0.0
        rewards[i] = r
        nc = _context(cdf, next_double(states, i))
        new[i] = nc
        for j in range(k):
            obs[i, j] = 0.0
            final_obs[i, j] = 0.0
            comp_rewards[i, j] = 0.0
            comp_returns[i, j] = 0.0
            present[i, j] = False
        obs[i, nc] = 1.0
        final_obs[i, c] = 1.0
        comp_rewards[i, c] = r
        comp_returns[i, c] = r
        present[i, c] = True
