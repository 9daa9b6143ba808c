"""How interference itself changes after an update: the three terms of Bengio et al. (2020), eqs. 16-17 / Fig. 7.

An SGD step on sample B, ``theta' = theta - alpha delta_B grad f_B``, changes the interference
``rho_AB = delta_A delta_B g_AB`` (``g_AB = grad f_A . grad f_B``, ``delta = f - target``) at the rate

    rho'_AB = d rho_AB / d alpha = -(r1 + r2 + r3)
    r1 = delta_B^2 g_AB (g_AB - gamma_A g_A'B)
    r2 = delta_A delta_B g_AB (g_BB - gamma_B g_B'B)
    r3 = delta_A delta_B^2 grad f_B . (Hbar_A grad f_B + Hbar_B grad f_A)

where ``Hbar`` is the Hessian of ``f`` and ``gamma_X g_X'B`` is present only when X's target bootstraps on the
moving network itself (``target="self"``, the paper's QL case: ``delta_A = f_A - r_A - gamma f_A'``). With a
fixed target (``"fixed"``: regression to returns, or TD against a frozen network, the paper's Reg and DQN
cases) those terms vanish. Why it matters: the sign of the terms says whether updates keep aligning nearby
states' gradients (regression: r1, r2 mostly positive) or scramble them (TD: ``delta_A delta_B`` flips sign).

The identity is exact at ``alpha = 0`` (the paper's ``theta' ~ theta``); ``r3`` is computed Hessian-free as
the directional derivative of ``g_AB`` along ``grad f_B`` (the paper's eq. 36). Note: the paper's eq. 16 (and
eq. 49 of its appendix) prints ``2 delta_A delta_B g_AB g_BB`` for the regression ``r2``; differentiating
gives a factor 1, as the paper's own TD derivation (eq. 61) does. We use 1; the tests check the identity
against torch's derivative of ``rho`` along ``alpha``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.func import grad, jvp, vmap

TARGETS = ("fixed", "self")
CHUNK = 128  # pairs per vectorised curvature pass

# f(params, obs) -> (N,): the scalar function (a value) of a batch of observations
ValueFn = Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class SecondOrderTerms:
    """``r1``, ``r2``, ``r3`` per sample pair (A_i, B_i); ``rho_prime = -(r1 + r2 + r3)``."""

    r1: np.ndarray
    r2: np.ndarray
    r3: np.ndarray

    @property
    def rho_prime(self) -> np.ndarray:
        return -(self.r1 + self.r2 + self.r3)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per term: the mean, the mean of the positive and of the negative samples (Fig. 7's three lines),
        the share of negative samples and the mean magnitude."""
        out = {}
        for name in ("r1", "r2", "r3"):
            x = np.asarray(getattr(self, name), dtype=np.float64)
            pos, neg = x[x > 0], x[x < 0]
            out[name] = {
                "mean": float(x.mean()),
                "positive_mean": float(pos.mean()) if pos.size else 0.0,
                "negative_mean": float(neg.mean()) if neg.size else 0.0,
                "negative_share": float(neg.size / x.size),
                "mean_abs": float(np.abs(x).mean()),
            }
        return out


def _grads(f: ValueFn, params: dict[str, torch.Tensor], obs: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample grad f as a dict of (N, *shape) tensors."""

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return f(p, x.unsqueeze(0))[0]

    return vmap(grad(one), in_dims=(None, 0))(params, obs)


def _dot(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
    """Row-wise dot product of two per-sample gradient dicts."""
    return sum((a[k] * b[k]).flatten(1).sum(1) for k in a)


@dataclass(frozen=True)
class PairGradients:
    """The gradient products the terms need, per pair: computed once per network, shared by every target."""

    g_ab: torch.Tensor  # grad f_A . grad f_B
    g_bb: torch.Tensor  # |grad f_B|^2
    curvature: torch.Tensor  # grad f_B . (Hbar_A grad f_B + Hbar_B grad f_A)
    g_nab: torch.Tensor | None = None  # grad f_A' . grad f_B (A's successor), for self-bootstrapping targets
    g_nbb: torch.Tensor | None = None  # grad f_B' . grad f_B

    def terms(
        self,
        delta_a: torch.Tensor,
        delta_b: torch.Tensor,
        discount_a: torch.Tensor | None = None,
        discount_b: torch.Tensor | None = None,
    ) -> SecondOrderTerms:
        """The terms for errors ``delta = f - target``; discounts (``gamma``, 0 at terminal transitions) mean the
        target bootstraps on the network itself, none mean a fixed target."""
        n = self.g_ab.shape[0]
        for name, x in (("delta_a", delta_a), ("delta_b", delta_b)):
            if x.shape[0] != n:
                raise ValueError(f"{name} has {x.shape[0]} rows for {n} pairs")
        boot_a = boot_b = torch.zeros_like(self.g_ab)
        if (discount_a is None) != (discount_b is None):
            raise ValueError("give both discount_a and discount_b (a self-bootstrapping target) or neither")
        if discount_a is not None:
            if self.g_nab is None or self.g_nbb is None:
                raise ValueError("a self-bootstrapping target needs the successors: pair_gradients(next_a=, next_b=)")
            boot_a, boot_b = discount_a * self.g_nab, discount_b * self.g_nbb
        r1 = delta_b**2 * self.g_ab * (self.g_ab - boot_a)
        r2 = delta_a * delta_b * self.g_ab * (self.g_bb - boot_b)
        r3 = delta_a * delta_b**2 * self.curvature
        return SecondOrderTerms(*(t.detach().cpu().numpy().astype(np.float64) for t in (r1, r2, r3)))


def pair_gradients(
    f: ValueFn,
    params: dict[str, torch.Tensor],
    obs_a: torch.Tensor,
    obs_b: torch.Tensor,
    *,
    next_a: torch.Tensor | None = None,
    next_b: torch.Tensor | None = None,
    chunk: int = CHUNK,
) -> PairGradients:
    """Gradient products of ``f`` for the pairs ``(obs_a[i], obs_b[i])``; the successors are needed only for
    self-bootstrapping targets. Pairs are processed ``chunk`` at a time (the curvature holds a few
    parameter-sized vectors per pair)."""
    n = obs_a.shape[0]
    if obs_b.shape[0] != n:
        raise ValueError(f"obs_b has {obs_b.shape[0]} rows, obs_a has {n}: pairs are row-wise")
    if (next_a is None) != (next_b is None):
        raise ValueError("give both next_a and next_b or neither")
    if chunk < 1:
        raise ValueError(f"chunk={chunk!r} must be >= 1")

    def g_pair(p: dict[str, torch.Tensor], xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
        fa = grad(lambda q: f(q, xa.unsqueeze(0))[0])(p)
        fb = grad(lambda q: f(q, xb.unsqueeze(0))[0])(p)
        return sum((fa[k] * fb[k]).sum() for k in fa)

    def curvature(p: dict[str, torch.Tensor], xa: torch.Tensor, xb: torch.Tensor, vb: dict) -> torch.Tensor:
        # d/dtheta (grad f_A . grad f_B) along grad f_B = grad f_B . (Hbar_A grad f_B + Hbar_B grad f_A)
        return jvp(lambda q: g_pair(q, xa, xb), (p,), (vb,))[1]

    parts: dict[str, list[torch.Tensor]] = {k: [] for k in ("g_ab", "g_bb", "curvature", "g_nab", "g_nbb")}
    for lo in range(0, n, chunk):
        sl = slice(lo, lo + chunk)
        ga, gb = _grads(f, params, obs_a[sl]), _grads(f, params, obs_b[sl])
        parts["g_ab"].append(_dot(ga, gb))
        parts["g_bb"].append(_dot(gb, gb))
        parts["curvature"].append(vmap(curvature, in_dims=(None, 0, 0, 0))(params, obs_a[sl], obs_b[sl], gb))
        if next_a is not None:
            parts["g_nab"].append(_dot(_grads(f, params, next_a[sl]), gb))
            parts["g_nbb"].append(_dot(_grads(f, params, next_b[sl]), gb))
    return PairGradients(**{k: torch.cat(v).detach() if v else None for k, v in parts.items()})


def second_order_terms(
    f: ValueFn,
    params: dict[str, torch.Tensor],
    obs_a: torch.Tensor,
    obs_b: torch.Tensor,
    delta_a: torch.Tensor,
    delta_b: torch.Tensor,
    *,
    target: str = "fixed",
    next_a: torch.Tensor | None = None,
    next_b: torch.Tensor | None = None,
    discount_a: torch.Tensor | None = None,
    discount_b: torch.Tensor | None = None,
) -> SecondOrderTerms:
    """The terms for the pairs ``(obs_a[i], obs_b[i])`` with errors ``delta = f - target`` at ``params``.

    ``target="self"`` needs the successors ``next_a``/``next_b`` and their discounts ``discount_* = gamma`` (0
    where the transition terminates) for the bootstrap terms; ``"fixed"`` ignores them.
    """
    if target not in TARGETS:
        raise ValueError(f"target={target!r}; allowed: {', '.join(TARGETS)}")
    n = obs_a.shape[0]
    for name, x in (("obs_b", obs_b), ("delta_a", delta_a), ("delta_b", delta_b)):
        if x.shape[0] != n:
            raise ValueError(f"{name} has {x.shape[0]} rows, obs_a has {n}: pairs are row-wise")
    if target == "fixed":
        return pair_gradients(f, params, obs_a, obs_b).terms(delta_a, delta_b)
    missing = [k for k, v in (("next_a", next_a), ("next_b", next_b), ("discount_a", discount_a),
                              ("discount_b", discount_b)) if v is None]  # fmt: skip
    if missing:
        raise ValueError(f"target='self' needs {', '.join(missing)} (the successors and their discounts)")
    q = pair_gradients(f, params, obs_a, obs_b, next_a=next_a, next_b=next_b)
    return q.terms(delta_a, delta_b, discount_a, discount_b)


def pair_grid(n_a: int, n_b: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of every pair of ``n_a`` A-samples and ``n_b`` B-samples (the paper's 32 x 32 grid)."""
    if n_a < 1 or n_b < 1:
        raise ValueError(f"n_a={n_a!r} and n_b={n_b!r} must be >= 1")
    a, b = np.meshgrid(np.arange(n_a), np.arange(n_b), indexing="ij")
    return a.reshape(-1), b.reshape(-1)


__all__ = ["TARGETS", "PairGradients", "SecondOrderTerms", "pair_gradients", "pair_grid", "second_order_terms"]
