"""Batched softmax policies over seeds for the bandit learners: the generic stacked-parameter policy
(``_BatchedPolicy``, any mode and hidden layers), its exact initialisation to a target J, and the seed-last linear
fast path (``_SeedLastLinear``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

from baselines.bandit import fused as _fused
from baselines.bandit.row_log import SYNC_EVERY as _SYNC_EVERY

if TYPE_CHECKING:
    from baselines.bandit.updates import _Optimizer

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
_MAX_LOGIT_DRIFT = 50.0  # logits may drift this far between the linear learner's max-subtractions


def _target_logits(J: torch.Tensor, num_arms: int) -> torch.Tensor:
    """(seeds, K, n) logits giving pi(k | s_k) = J_k: arm k gets x_k, the other arms 0."""
    S, K = J.shape
    x = torch.log(J * (num_arms - 1) / (1.0 - J))
    L = torch.zeros(S, K, num_arms, dtype=J.dtype)
    L[:, torch.arange(K), torch.arange(K)] = x
    return L


class _BatchedPolicy:
    """Softmax policy over n arms for K one-hot contexts, parameters stacked over seeds.

    ``kind`` is ``table`` (logits table), ``shared`` (one network for all contexts) or ``separate``
    (one network per context, parameters with an extra K axis after the seed axis).
    """

    def __init__(
        self, kind: str, params: list[torch.Tensor], num_hidden: int, activation: str, linear: bool = False
    ) -> None:
        self.kind = kind
        self.params = params
        self.num_hidden = num_hidden  # hidden layers applied after the first one
        self.act = ACTIVATIONS[activation]
        self.linear = linear or kind == "table"  # logits = W s + b (or a table): closed-form gradients

    def logits(self, params: list[torch.Tensor] | None = None) -> torch.Tensor:
        p = self.params if params is None else params
        if self.kind == "table":
            return p[0]
        sep = self.kind == "separate"
        if self.linear:  # W is stored context-major (S, K, n), so the logits are contiguous
            return p[0] + (p[1] if sep else p[1][:, None, :])
        # first layer on one-hot inputs: column k of W (network k's own column when separate)
        W, b = p[0], p[1]
        K = W.shape[-1]
        ar = torch.arange(K, device=W.device)
        if sep:
            h = W[:, ar, :, ar].transpose(0, 1) + b  # (S, K, out)
        else:
            h = W.transpose(1, 2) + b[:, None, :]
        for i in range(1, self.num_hidden + 1):
            h = self.act(h)
            W, b = p[2 * i], p[2 * i + 1]
            if sep:
                h = torch.einsum("skh,skoh->sko", h, W) + b
            else:
                h = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))
        return h.contiguous()  # softmax over a strided last axis is ~10x slower

    def select(self, idx: torch.Tensor) -> None:
        self.params = [q[idx] for q in self.params]


def _uniform_init(
    shape: tuple[int, ...], fan_in: int, gen: torch.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """PyTorch's default nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases."""
    bound = 1.0 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=gen, dtype=dtype) * 2 - 1) * bound


def _build_policy(
    mode: str, J0: torch.Tensor, num_arms: int, hidden: tuple[int, ...], activation: str, gen: torch.Generator
) -> _BatchedPolicy:
    """Parameters (float64, CPU) whose policy has exactly pi(k | s_k) = J0[:, k]."""
    S, K = J0.shape
    n = num_arms
    L = _target_logits(J0, n)
    dt = torch.float64
    if mode == "tabular":
        return _BatchedPolicy("table", [L.clone()], 0, activation)
    sep = mode == "separate"
    if not hidden:
        # W[s, k] is the column of W that one-hot context k selects (network k's own column when separate)
        b = torch.zeros(S, K, n, dtype=dt) if sep else torch.zeros(S, n, dtype=dt)
        return _BatchedPolicy("separate" if sep else "shared", [L.clone(), b], 0, activation, linear=True)
    lead = (S, K) if sep else (S,)
    sizes = (K, *hidden)
    params: list[torch.Tensor] = []
    for fan_in, out in zip(sizes[:-1], sizes[1:], strict=True):
        params += [
            _uniform_init((*lead, out, fan_in), fan_in, gen, dt),
            _uniform_init((*lead, out), fan_in, gen, dt),
        ]
    trunk = _BatchedPolicy("separate" if sep else "shared", params, len(hidden) - 1, activation)
    phi = trunk.act(trunk.logits())  # (S, K, H) last hidden features
    phi = torch.cat([phi, torch.ones_like(phi[..., :1])], dim=-1)  # bias column
    if sep:
        # network k only sees context k: min-norm theta_k = phi_k L_k^T / |phi_k|^2
        theta = phi[..., :, None] * L[..., None, :] / (phi * phi).sum(-1)[..., None, None]  # (S, K, H+1, n)
        W_out, b_out = theta[..., :-1, :].transpose(-1, -2), theta[..., -1, :]
    else:
        theta = torch.linalg.pinv(phi) @ L  # (S, H+1, n) min-norm solution; rank-deficient seeds are redrawn
        W_out, b_out = theta[:, :-1, :].transpose(1, 2), theta[:, -1, :]
    policy = _BatchedPolicy(
        "separate" if sep else "shared", params + [W_out.contiguous(), b_out], len(hidden), activation
    )
    return policy


def _init_policy(
    mode: str, J0: torch.Tensor, num_arms: int, hidden: tuple[int, ...], activation: str, gen: torch.Generator
) -> _BatchedPolicy:
    """Build the policy, redrawing the random hidden layers of any seed whose features cannot hit J0 exactly."""
    policy = _build_policy(mode, J0, num_arms, hidden, activation, gen)
    for _ in range(20):
        got = _exact_J(policy.logits())
        bad = ~torch.isclose(got, J0, rtol=1e-6, atol=1e-9).all(dim=1)
        if not bool(bad.any()):
            return policy
        fresh = _build_policy(mode, J0[bad], num_arms, hidden, activation, gen)
        for p, q in zip(policy.params, fresh.params, strict=True):
            p[bad] = q
    raise ValueError(
        f"could not initialise hidden={hidden!r} with activation={activation!r} to the requested performance; "
        "use wider hidden layers"
    )


def _softmax(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over the arms; written out because torch's CPU kernel is ~3x slower for a short last axis."""
    e = (logits - logits.amax(-1, keepdim=True)).exp_()
    return e.div_(e.sum(-1, keepdim=True))


def _exact_J(logits: torch.Tensor) -> torch.Tensor:
    """(S, K) pi(k | s_k) from (S, K, n) logits."""
    return torch.softmax(logits, dim=-1).diagonal(dim1=1, dim2=2)


class _SeedLastLinear:
    """Linear softmax policy (``logits = W s + b`` or a table) with the seed axis last: (K, n, S) tensors.

    Why this shape and this bookkeeping: at K = n = 8 an update is a handful of passes over (K, n, S)
    tensors, so its cost is the number of passes (and of torch calls). With seeds innermost every op is one
    contiguous vectorised loop (the seed-major layout made each a short strided loop over n, ~2.5x slower).

    - The logits ``L = W s + b`` are the state, updated in place by ``lr * (dW + db)``; ``b`` is kept beside
      them and ``W`` is ``L - b`` when asked for, so no pass recomputes ``W + b``.
    - The softmax is left unnormalised (``E = exp(L)`` with per-context sums ``s``): only ``J`` (K values per
      seed) and the REINFORCE coefficients ``w / s`` need a division, so there is no full-size divide pass.
    - The usual max-subtraction is done lazily: softmax is invariant to adding a constant to all of a
      context's logits, and the gradient depends on the probabilities only, so every ``renorm_every`` updates
      each context's logits are shifted so their largest is 0 (the policy and every later update are
      unchanged), and in between ``exp(L)`` is taken directly. ``renorm_every`` is chosen by the caller so the
      logits cannot drift by more than ``_MAX_LOGIT_DRIFT`` in between (no overflow; only probabilities far
      below 1e-280 could underflow).

    ``J`` is (K, S). All buffers are preallocated (fresh tensors this size cost page faults every update).
    With ``fused`` (CPU tensors, numba importable) the softmax and whole SGD updates (:meth:`fused_step`) run
    as one numba loop nest (``baselines.bandit.fused``) instead of the torch ops below.
    """

    def __init__(
        self,
        kind: str,
        params: list[torch.Tensor],
        renorm_every: int,
        J_out: torch.Tensor,
        fused: bool = False,
    ) -> None:
        self.kind = kind
        self.fused = fused and _fused.AVAILABLE and params[0].device.type == "cpu"
        W = params[0].permute(1, 2, 0)  # (K, n, S)
        if kind == "shared":
            self.b: torch.Tensor | None = params[1].T[None].contiguous()  # (1, n, S), broadcast over contexts
        elif kind == "separate":
            self.b = params[1].permute(1, 2, 0).contiguous()  # (K, n, S)
        else:
            self.b = None
        self.L = (W if self.b is None else W + self.b).contiguous()
        self.renorm_every, self.since_renorm = renorm_every, 0
        self.E = torch.empty_like(self.L)
        self._allocate(J_out)
        self._views()
        self.refresh()

    @staticmethod
    def renorm_period(kind: str, num_contexts: int, lr: float, optimizer: str) -> int:
        """Updates between max-shifts so logits drift at most ``_MAX_LOGIT_DRIFT`` (every update under Adam).

        Under SGD one update moves a logit by at most lr (1 + K) with a shared bias, 2 lr with separate
        networks, lr for a table.
        """
        if optimizer != "sgd":
            return 1
        drift = lr * {"shared": num_contexts + 1, "separate": 2, "table": 1}[kind]
        return max(1, min(_SYNC_EVERY, int(_MAX_LOGIT_DRIFT / drift)))

    def _allocate(self, J_out: torch.Tensor | None = None) -> None:
        K, n, S = self.L.shape
        self.arm_max = self.L.new_empty((K, 1, S))
        self.arm_sum = self.L.new_empty((K, 1, S))
        self.coef = self.L.new_empty((K, S))
        self.grad_b = self.L.new_empty((1, n, S))
        self.J = self.L.new_empty((K, S)) if J_out is None else J_out

    def _views(self) -> None:
        """Cached views (each view costs a torch call per update otherwise; at K = n = 8 calls matter)."""
        K = self.L.shape[0]
        self.E_diag = self.E.diagonal(dim1=0, dim2=1).T  # (K, S): E[k, k, :]
        self.L_diag = self.L.diagonal(dim1=0, dim2=1).T
        self.b_diag = self.b.diagonal(dim1=0, dim2=1).T if self.kind == "separate" else None
        self.sums = self.arm_sum[:, 0, :]  # (K, S)
        self.coef_b = self.coef[:, None, :]  # (K, 1, S)
        self.gb_diag = self.grad_b[0, :K]  # (K, S): the bias entries of the K rewarded arms
        if self.fused:  # numpy views of the same memory, for the numba kernels
            S = self.L.shape[2]
            self.np = {x: getattr(self, x).numpy() for x in ("L", "E", "arm_sum", "J", "coef")}
            self.np["b"] = self.b.numpy() if self.b is not None else self.np["L"][:0]
            self.np["gb"] = np.empty(S, dtype=self.np["L"].dtype)
            self.np["ones"] = np.ones(S, dtype=self.np["L"].dtype)

    @property
    def params(self) -> list[torch.Tensor]:
        """Tensors shaped like the parameters ``W`` (and ``b``): what Adam keeps its moments for."""
        return [self.L] if self.b is None else [self.L, self.b]

    def refresh(self, active_w: torch.Tensor | None = None) -> None:
        """Unnormalised softmax ``E`` of the logits, its sums ``s`` over arms, and ``J_k = E_kk / s_k``.

        ``active_w`` (S,) 0/1 masks the lazy max-shift so stopped seeds' logits, hence J, stay bit-frozen.
        """
        if self.fused:
            if self.since_renorm % self.renorm_every == 0:
                _fused.shift(self.np["L"], self.np["ones"] if active_w is None else active_w.numpy())
            self.since_renorm += 1
            self._normalise()
            return
        if self.since_renorm % self.renorm_every == 0:
            m = torch.amax(self.L, 1, keepdim=True, out=self.arm_max)
            if active_w is not None:
                m.mul_(active_w)
            self.L.sub_(m)
        self.since_renorm += 1
        E = torch.exp(self.L, out=self.E)
        torch.sum(E, 1, keepdim=True, out=self.arm_sum)
        torch.div(self.E_diag, self.sums, out=self.J)

    def apply_reinforce(self, w: torch.Tensor, opt: _Optimizer, active: torch.Tensor) -> None:
        """One ascent step on ``sum_k w_k log pi(k | s_k)`` for (K, S) weights ``w``; consumes ``E``.

        d/dlogits is ``w_k (onehot(k) - pi(. | s_k))``: ``P = E * (w / s)`` (= ``w pi``) is formed in place,
        the step subtracts it and adds ``w`` on the diagonal (the one-hot part) separately.
        """
        torch.div(w, self.sums, out=self.coef)
        P = self.E.mul_(self.coef_b)
        if opt.name != "sgd":
            G = P.neg_()
            self.E_diag.add_(w)
            grads = [G] if self.kind == "table" else [G, G]
            if self.kind == "shared":
                grads[1] = torch.sum(G, 0, keepdim=True, out=self.grad_b)
            steps = opt.deltas(grads, active)
            self.L.add_(steps[0])
            if self.b is not None:
                self.b.add_(steps[1])
                self.L.add_(steps[1])
            return
        lr = opt.lr  # stopped seeds have zero weight, hence zero gradient
        if self.kind == "shared":
            gb = torch.sum(P, 0, keepdim=True, out=self.grad_b)
            self.gb_diag.sub_(w)  # gb is now minus the bias gradient
            self.b.sub_(gb, alpha=lr)
            P.add_(gb)  # minus (dL/dW + dL/db), but the one-hot part of dW
        elif self.kind == "separate":
            self.b.sub_(P, alpha=lr)
            self.b_diag.add_(w, alpha=lr)
            lr = 2 * lr  # W and b move alike
        self.L.sub_(P, alpha=lr)
        self.L_diag.add_(w, alpha=lr)

    def fused_step(
        self, draw: int, u: torch.Tensor, active_w: torch.Tensor, mix_prob: float, lr: float
    ) -> None:
        """One SGD update (reward draw from the (K, S) float64 uniforms ``u``, step, softmax, ``J``) in numba.

        The same update as ``_reward_weights`` + :meth:`apply_reinforce` + :meth:`refresh`, with the sampling
        probabilities read from ``self.J``; ``draw`` is a code of ``fused.DRAWS``.
        """
        a = self.np
        if a.get("u_t") is not u or a.get("w_t") is not active_w:  # new tensors only after a compaction
            a.update(u_t=u, w_t=active_w, u=u.numpy(), active_w=active_w.numpy())
        shift = self.since_renorm % self.renorm_every == 0
        self.since_renorm += 1
        _fused.sgd_update(
            _fused.KINDS[self.kind], draw, a["L"], a["b"], a["E"], a["arm_sum"], a["J"], a["u"],
            a["active_w"], mix_prob, a["L"].dtype.type(lr), shift, a["coef"], a["gb"],
        )
        self._normalise()

    def _normalise(self) -> None:
        """``E = exp(L)`` with torch's vectorised exp (numba's scalar one is ~8x slower), then sums and J."""
        torch.exp(self.L, out=self.E)
        _fused.normalise(self.np["E"], self.np["arm_sum"], self.np["J"])

    def select(self, idx: torch.Tensor) -> None:
        """Keep the seeds ``idx`` (the softmax state too: the next update samples from it)."""
        self.L = self.L.index_select(-1, idx)
        if self.b is not None:
            self.b = self.b.index_select(-1, idx)
        E, s, J = (x.index_select(-1, idx) for x in (self.E, self.arm_sum, self.J))
        self._allocate()
        self.E, self.arm_sum, self.J = E, s, J
        self._views()

    def seed_first(self) -> list[torch.Tensor]:
        """Parameters in the seed-major layout of ``_BatchedPolicy`` (contiguous copies; ``W = L - b``).

        ``W`` is the parameter up to rounding and up to the per-context shifts above, which change neither
        the policy nor any gradient of it.
        """
        if self.b is None:
            return [self.L.permute(2, 0, 1).contiguous()]
        W = (self.L - self.b).permute(2, 0, 1).contiguous()
        if self.kind == "shared":
            return [W, self.b[0].T.contiguous()]
        return [W, self.b.permute(2, 0, 1).contiguous()]
