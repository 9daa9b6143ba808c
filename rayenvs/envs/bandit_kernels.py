"""numba kernels of the bandit vector env: N per-env PCG64 streams stepped in one loop.

Each sub-env must draw exactly the uniforms its single env would draw from its own
``numpy.random.Generator(PCG64)``, so per-env streams cannot come from one shared generator. Calling N
generator objects from Python costs about a microsecond each, more than the rest of a step at large N;
here every sub-env's PCG64 state (128-bit state and increment, as two uint64 words each) lives in an
``(N, 4)`` uint64 array and a numba loop advances it with numpy's own algorithm (PCG XSL-RR 128/64, step
then output; ``random()`` is ``(next64 >> 11) * 2**-53``), so the floats are bit-identical to
``Generator.random()`` (``tests/test_bandit_env.py`` checks this against numpy). The whole step (reward
compare, the next context by inverse CDF, one-hot observations and every info array) is one pass that
writes each output once.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# numpy's PCG64 multiplier (pcg64.h, PCG_DEFAULT_MULTIPLIER_128), as high and low 64-bit words.
_MULT_HI = np.uint64(0x2360ED051FC65DA4)
_MULT_LO = np.uint64(0x4385DF649FCCF645)
_MASK32 = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)
_U11 = np.uint64(11)
_U58 = np.uint64(58)
_U63 = np.uint64(63)
_U1 = np.uint64(1)
_TO_DOUBLE = 1.0 / 9007199254740992.0  # 2**-53
_WORD = (1 << 64) - 1


def pack_states(generators: list[np.random.Generator], out: np.ndarray, rows: np.ndarray) -> None:
    """Write each PCG64 generator's (state_hi, state_lo, inc_hi, inc_lo) into ``out[rows[j]]``."""
    for j, gen in zip(rows, generators, strict=True):
        st = gen.bit_generator.state
        if st["bit_generator"] != "PCG64":
            raise ValueError(f"bandit streams need PCG64 generators, got {st['bit_generator']!r}")
        s, inc = st["state"]["state"], st["state"]["inc"]
        out[j] = (s >> 64, s & _WORD, inc >> 64, inc & _WORD)


@njit(cache=True, nogil=True, inline="always")
def _mulhi64(a: np.uint64, b: np.uint64) -> np.uint64:
    """High 64 bits of the 128-bit product a * b, from 32-bit halves."""
    a0, a1 = a & _MASK32, a >> _U32
    b0, b1 = b & _MASK32, b >> _U32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U32) + (p01 & _MASK32) + (p10 & _MASK32)
    return p11 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32)


@njit(cache=True, nogil=True, inline="always")
def _next_double(states: np.ndarray, i: int) -> float:
    """Advance row i's PCG64 state by one step and return numpy's ``random()`` double from it."""
    s_hi, s_lo, inc_hi, inc_lo = states[i, 0], states[i, 1], states[i, 2], states[i, 3]
    lo = s_lo * _MULT_LO
    hi = _mulhi64(s_lo, _MULT_LO) + s_hi * _MULT_LO + s_lo * _MULT_HI
    new_lo = lo + inc_lo
    new_hi = hi + inc_hi + (_U1 if new_lo < lo else np.uint64(0))
    states[i, 0] = new_hi
    states[i, 1] = new_lo
    x = new_hi ^ new_lo
    rot = new_hi >> _U58
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & _U63))
    return np.float64(out >> _U11) * _TO_DOUBLE


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
def random_doubles(states: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """``count`` successive ``random()`` doubles of each listed row's stream, shape ``(len(rows), count)``."""
    out = np.empty((rows.shape[0], count))
    for j in range(rows.shape[0]):
        for t in range(count):
            out[j, t] = _next_double(states, rows[j])
    return out


@njit(cache=True, nogil=True)
def draw_contexts(states: np.ndarray, cdf: np.ndarray, rows: np.ndarray, contexts: np.ndarray) -> None:
    """One new context per listed row (``contexts[r]``), each from its own stream."""
    for j in range(rows.shape[0]):
        r = rows[j]
        contexts[r] = _context(cdf, _next_double(states, r))


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
        nc = _context(cdf, _next_double(states, i))
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
