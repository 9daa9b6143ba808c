"""One whole SGD update of the seed-last linear bandit learner in a single numba kernel (CPU).

Why: at K = n = 8 the torch update of ``_SeedLastLinear`` is about six full passes over (K, n, S) tensors
(``E * coef``, the bias sum, ``P + gb``, ``L - lr P``, ``exp``, the arm sums) plus a few (K, S) ones for the
reward draw (one of them a float32 -> float64 cast of ``J`` when comparing with the float64 uniforms). Here
the reward draw, the gradient, the step, the softmax and ``J`` are one loop nest over blocks of seeds, so each
block of ``L`` and ``E`` is read from memory once and stays in cache for the rest. The arithmetic is the torch
path's (the same formulas, float64 comparisons of the uniforms), so results agree to rounding; seeds with
zero weight are left bit-for-bit unchanged, as in the torch path.

numba is optional at run time: :data:`AVAILABLE` is False when it does not import (then the torch path runs).
"""

from __future__ import annotations

import numpy as np

try:  # a missing or broken numba falls back to the torch update
    from numba import njit

    AVAILABLE = True
except Exception:  # noqa: BLE001 - any import failure (missing, llvmlite mismatch) means "use torch"
    AVAILABLE = False

    def njit(*_a, **_k):  # type: ignore[no-redef]
        return lambda f: f


KINDS = {"shared": 0, "separate": 1, "table": 2}
# behaviour policies of the reward draw: J itself, uniform 1/n, the mixture, always rewarded
DRAWS = {"on-policy": 0, "tabular": 0, "separate": 0, "uniform": 1, "mixed": 2, "supervised": 3}
_BLOCK = 256  # seeds per block: K * n * _BLOCK values of L and E (128 KiB at K = n = 8, float64) stay in L2


@njit(cache=True, nogil=True, error_model="numpy")
def _shift_block(L, active_w, s0, s1):  # pragma: no cover - compiled
    """The lazy max-shift on seeds s0:s1: each context's largest logit to 0, masked by ``active_w``."""
    K, n, _ = L.shape
    aw = active_w[s0:s1]
    for k in range(K):
        Lk = L[k, :, s0:s1]
        for s in range(s1 - s0):
            m = Lk[0, s]
            for j in range(1, n):
                if Lk[j, s] > m:
                    m = Lk[j, s]
            m = m * aw[s]
            for j in range(n):
                Lk[j, s] -= m


@njit(cache=True, nogil=True, error_model="numpy")
def shift(L, active_w):  # pragma: no cover - compiled
    S = L.shape[2]
    for s0 in range(0, S, _BLOCK):
        _shift_block(L, active_w, s0, min(S, s0 + _BLOCK))


@njit(cache=True, nogil=True, error_model="numpy")
def normalise(E, sums, J):  # pragma: no cover - compiled
    """Arm sums of ``E = exp(L)`` and ``J_k = E_kk / s_k``: one read of ``E``."""
    K, n, S = E.shape
    for k in range(K):
        for s in range(S):
            sums[k, 0, s] = E[k, 0, s]
        for j in range(1, n):
            for s in range(S):
                sums[k, 0, s] += E[k, j, s]
        for s in range(S):
            J[k, s] = E[k, k, s] / sums[k, 0, s]


@njit(cache=True, nogil=True, error_model="numpy")
def sgd_update(
    kind, draw, L, b, E, sums, J, u, active_w, mix_prob, lr, shift, coef, gb
):  # pragma: no cover - compiled
    """Reward draw + REINFORCE gradient + SGD step (+ the lazy max-shift), in one pass per seed block.

    ``L, E`` (K, n, S) logits and their exp; ``b`` the bias ((1, n, S) shared, (K, n, S) separate, unused for a
    table); ``sums`` (K, 1, S) arm sums of ``E``; ``J`` (K, S) the sampling probabilities on
    entry and the weights ``w`` on exit (the caller's :func:`normalise` after ``exp`` rewrites it); ``u`` (K, S) float64 uniforms; ``coef`` (K, S) and
    ``gb`` (S,) scratch. ``w_k = 1[u_k < p_k] * active`` with ``p`` the behaviour policy's probability of arm k.
    """
    K, n, S = L.shape
    inv_n = 1.0 / n
    keep = 1.0 - mix_prob
    step = lr + lr if kind == 1 else lr  # separate networks: W and b move alike
    for s0 in range(0, S, _BLOCK):
        s1 = min(S, s0 + _BLOCK)
        m = s1 - s0  # inner loops run over range(m) on block views: known non-negative indices vectorise
        aw, gbb = active_w[s0:s1], gb[:m]
        for k in range(K):  # the weights w_k (stored in J) and coef_k = w_k / s_k
            Jk, uk, ck, sk = J[k, s0:s1], u[k, s0:s1], coef[k, s0:s1], sums[k, 0, s0:s1]
            for s in range(m):
                if draw == 0:
                    p = np.float64(Jk[s])
                elif draw == 1:
                    p = inv_n
                else:
                    p = keep * np.float64(Jk[s]) + mix_prob * inv_n
                w = aw[s] if (draw == 3 or uk[s] < p) else aw[s] * 0
                ck[s] = w / sk[s]
                Jk[s] = w
        for j in range(n):
            if kind == 0:  # shared bias: its gradient is the sum over contexts
                gbb[:] = 0
                for k in range(K):
                    Ekj, ck = E[k, j, s0:s1], coef[k, s0:s1]
                    for s in range(m):
                        gbb[s] += Ekj[s] * ck[s]
                if j < K:
                    Jj = J[j, s0:s1]
                    for s in range(m):
                        gbb[s] -= Jj[s]
                bj = b[0, j, s0:s1]
                for s in range(m):
                    bj[s] -= lr * gbb[s]
            for k in range(K):
                Ekj, Lkj, ck = E[k, j, s0:s1], L[k, j, s0:s1], coef[k, s0:s1]
                if kind == 0:
                    for s in range(m):
                        Lkj[s] -= lr * (Ekj[s] * ck[s] + gbb[s])
                else:
                    if kind == 1:
                        bkj = b[k, j, s0:s1]
                        for s in range(m):
                            bkj[s] -= lr * (Ekj[s] * ck[s])
                    for s in range(m):
                        Lkj[s] -= step * (Ekj[s] * ck[s])
            if j < K:
                Ljj, Jj = L[j, j, s0:s1], J[j, s0:s1]
                for s in range(m):
                    Ljj[s] += step * Jj[s]
                if kind == 1:
                    bjj = b[j, j, s0:s1]
                    for s in range(m):
                        bjj[s] += lr * Jj[s]
        if shift:
            _shift_block(L, active_w, s0, s1)
