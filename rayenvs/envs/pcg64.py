"""Per-env PCG64 streams advanced in numba, bit-identical to ``numpy.random.Generator(PCG64).random()``.

A vector env whose sub-envs must each draw exactly what their single env draws from its own generator
would otherwise call N generator objects from Python, about a microsecond each. Here every sub-env's PCG64
state (128-bit state and increment, as two uint64 words each) is one row of an ``(N, 4)`` uint64 array and
numba advances it with numpy's own algorithm (PCG XSL-RR 128/64: step the LCG, then output from the new
state; ``random()`` is ``(next64 >> 11) * 2**-53``). ``tests/test_bandit_env.py`` checks the doubles and
the final states against numpy's.

numba's on-disk cache keys each kernel on its own file only: after editing this module, delete the
``__pycache__/*.nb[ci]`` files of the kernel modules that call it, or they keep the old compiled code.
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
            raise ValueError(f"per-env streams need PCG64 generators, got {st['bit_generator']!r}")
        s, inc = st["state"]["state"], st["state"]["inc"]
        out[j] = (s >> 64, s & _WORD, inc >> 64, inc & _WORD)


@njit(cache=True, nogil=True, inline="always")
def mulhi64(a: np.uint64, b: np.uint64) -> np.uint64:
    """High 64 bits of the 128-bit product a * b, from 32-bit halves."""
    a0, a1 = a & _MASK32, a >> _U32
    b0, b1 = b & _MASK32, b >> _U32
    p00, p01, p10, p11 = a0 * b0, a0 * b1, a1 * b0, a1 * b1
    mid = (p00 >> _U32) + (p01 & _MASK32) + (p10 & _MASK32)
    return p11 + (p01 >> _U32) + (p10 >> _U32) + (mid >> _U32)


@njit(cache=True, nogil=True, inline="always")
def next_double(states: np.ndarray, i: int) -> float:
    """Advance row i's PCG64 state by one step and return numpy's ``random()`` double from it."""
    s_hi, s_lo, inc_hi, inc_lo = states[i, 0], states[i, 1], states[i, 2], states[i, 3]
    lo = s_lo * _MULT_LO
    hi = mulhi64(s_lo, _MULT_LO) + s_hi * _MULT_LO + s_lo * _MULT_HI
    new_lo = lo + inc_lo
    new_hi = hi + inc_hi + (_U1 if new_lo < lo else np.uint64(0))
    states[i, 0] = new_hi
    states[i, 1] = new_lo
    x = new_hi ^ new_lo
    rot = new_hi >> _U58
    out = (x >> rot) | (x << ((np.uint64(64) - rot) & _U63))
    return np.float64(out >> _U11) * _TO_DOUBLE


@njit(cache=True, nogil=True)
def random_doubles(states: np.ndarray, rows: np.ndarray, count: int) -> np.ndarray:
    """``count`` successive ``random()`` doubles of each listed row's stream, shape ``(len(rows), count)``."""
    out = np.empty((rows.shape[0], count))
    for j in range(rows.shape[0]):
        for t in range(count):
            out[j, t] = next_double(states, rows[j])
    return out


