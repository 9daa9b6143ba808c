"""Batched learners for the K x n contextual bandit of Schaul et al. (2019): thousands of seeds in one tensor.

Ray interference is a statement about *distributions* of learning curves (what fraction of runs crosses a
flat plateau), so the bandit experiments need hundreds to thousands of independent seeds. Every parameter
tensor here carries a leading seed axis and every update is one batched torch op over all seeds, so a whole
sweep costs about as much as a few single runs. The bandit is simulated analytically (reward 1 iff the arm
equals the context), and the performance ``J_k = pi(k | s_k)`` is read exactly from the policy after every
update instead of being estimated from samples.

Modes (``MODES``), all with exactly one sample per context per update (``K`` samples per update):

``on-policy``   REINFORCE on ``logits = W s + b``; ``b`` is shared across contexts (the source of interference).
``tabular``     REINFORCE on a table of logits (no shared bias, no hidden layers).
``separate``    REINFORCE with one independent network per context.
``uniform``     off-policy REINFORCE with a uniform-random behaviour policy, no importance correction.
``supervised``  cross-entropy towards the right arm (``grad log pi(k | s_k)``), no sampling.
``mixed``       behaviour = ``(1 - mix_prob) * pi + mix_prob * uniform``, no importance correction.

Initialisation (the paper gives ``J(theta_0) = K/10`` "with varied directions" but no recipe; ours):
a direction ``u`` is drawn uniformly on the positive orthant of the unit sphere in J-space (``|z| / ||z||``
with ``z`` standard normal), and the target per-context performance is ``J_k = c * u_k / sum(u)`` with
``c = init_performance * K``; components that would exceed ``0.99`` are capped and the excess shared among
the others. In the 2 x 2 case this puts ``(J1, J2)`` on the segment ``J1 + J2 = 0.2`` at an angle uniform in
``(0, pi/2)`` from the origin, as the paper's WTA-probability argument assumes. The parameters are then set so
that the policy has exactly these ``J_k``: context ``k``'s logits are ``x_k`` for arm ``k`` and ``0`` otherwise,
``x_k = log(J_k (n - 1) / (1 - J_k))``. Linear policies put these logits in ``W`` (``b = 0``); MLPs keep
PyTorch-default random hidden layers and solve the output layer (minimum-norm least squares on the hidden
features plus a bias column) so the logits match exactly. Every mode therefore starts from the same ``J``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from baselines.common.devices import resolve_device

MODES = ("on-policy", "tabular", "separate", "uniform", "supervised", "mixed")
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
OPTIMIZERS = ("sgd", "adam")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_J_CAP = 0.99
_MAX_LOGIT_DRIFT = 50.0  # logits may drift this far between the linear learner's max-subtractions
_SYNC_EVERY = 64  # updates between host syncs (drop finished seeds, move logged rows off the device)
_STAGE_BYTES = 1 << 28  # device-side staging of logged rows before they move to the host
_LOG_PREALLOC_BYTES = 1 << 28  # first allocation of a log (untouched pages cost no memory)


@dataclass
class BanditResult:
    """Exact per-context performance of every seed along training.

    Row 0 of every per-row array is the initialisation; row ``i`` holds the state after ``updates[i]`` updates.
    Seeds that stopped keep their final values in later rows.
    """

    J: np.ndarray  # (rows, seeds, K) float64: J_k = pi(k | s_k) after each logged update
    updates: np.ndarray  # (rows,) int64: number of updates done at each row
    samples: np.ndarray  # (rows,) int64: samples used at each row (K per update)
    stop_update: np.ndarray  # (seeds,) int64: update at which each seed stopped
    solved: np.ndarray  # (seeds,) bool: reached J >= stop_at (else stopped at max_samples)
    config: dict[str, Any] = field(default_factory=dict)
    rho: np.ndarray | None = None  # (rows, seeds, K, K): cosine similarity of grad J_k and grad J_k'
    rho_mean: np.ndarray | None = None  # (rows, seeds): mean off-diagonal of rho

    @property
    def num_seeds(self) -> int:
        return int(self.J.shape[1])

    @property
    def num_contexts(self) -> int:
        return int(self.J.shape[2])

    @property
    def total(self) -> np.ndarray:
        """(rows, seeds) total performance J = sum_k J_k."""
        return self.J.sum(axis=-1)

    @property
    def samples_to_stop(self) -> np.ndarray:
        """(seeds,) samples each seed used before it stopped (solved or out of budget)."""
        return self.stop_update * self.num_contexts

    def final_J(self) -> np.ndarray:
        """(seeds, K) the last logged performance of each seed."""
        return self.J[-1]


def _check_range(name: str, value: float, lo: float, hi: float, lo_open: bool, hi_open: bool) -> None:
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi and math.isfinite(value)):
        lb = "(" if lo_open else "["
        rb = ")" if hi_open else "]"
        raise ValueError(f"{name}={value!r} is outside the allowed range {lb}{lo}, {hi}{rb}")


def initial_performance(
    num_seeds: int, num_contexts: int, init_performance: float, generator: torch.Generator
) -> torch.Tensor:
    """Per-seed target ``J_k`` (float64, shape (seeds, K)) summing to ``init_performance * K``.

    Directions are uniform on the positive orthant of the unit sphere, scaled onto the simplex
    ``sum_k J_k = init_performance * K``; components above 0.99 are capped and the excess redistributed.
    """
    total = init_performance * num_contexts
    z = torch.randn(num_seeds, num_contexts, generator=generator, dtype=torch.float64).abs() + 1e-12
    u = z / z.norm(dim=1, keepdim=True)
    J = total * u / u.sum(dim=1, keepdim=True)
    for _ in range(num_contexts):
        over = J > _J_CAP
        if not bool(over.any()):
            break
        excess = (J - _J_CAP).clamp_min(0).sum(dim=1, keepdim=True)
        free = torch.where(over | (J >= _J_CAP), torch.zeros_like(J), J)
        J = torch.where(over, torch.full_like(J, _J_CAP), J)
        J = J + excess * free / free.sum(dim=1, keepdim=True).clamp_min(1e-300)
    return J.clamp(1e-12, _J_CAP)


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
    """

    def __init__(self, kind: str, params: list[torch.Tensor], renorm_every: int, J_out: torch.Tensor) -> None:
        self.kind = kind
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

    @property
    def params(self) -> list[torch.Tensor]:
        """Tensors shaped like the parameters ``W`` (and ``b``): what Adam keeps its moments for."""
        return [self.L] if self.b is None else [self.L, self.b]

    def refresh(self, active_w: torch.Tensor | None = None) -> None:
        """Unnormalised softmax ``E`` of the logits, its sums ``s`` over arms, and ``J_k = E_kk / s_k``.

        ``active_w`` (S,) 0/1 masks the lazy max-shift so stopped seeds' logits, hence J, stay bit-frozen.
        """
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


class _Uniforms:
    """Uniform(0, 1) float64 draws into (K, S) buffers: numpy's PCG64 on CPU, torch's generator elsewhere.

    Why numpy on CPU: torch's CPU generator (mt19937) takes ~2.3x longer per float64, and one uniform per
    context and seed is drawn every update. Float64 always, so a Bernoulli(J_k) with J_k as small as the
    flattest plateaus' (~1e-12) is still drawn with the right probability (float32 uniforms have 2^-24 steps).
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.device = device
        if device.type == "cpu":
            self.rng = np.random.default_rng(seed)
        else:
            self.gen = torch.Generator(device=device).manual_seed(seed)

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cpu":
            self.rng.random(out=out.numpy())
            return out
        return out.uniform_(generator=self.gen)


def _interference(policy: _BatchedPolicy) -> torch.Tensor:
    """(S, K, K) cosine similarity of the exact gradients grad J_k (autograd on the stacked parameters).

    Seeds are independent, so the gradient of ``sum_seeds J_k`` holds every seed's own ``grad J_k``.
    """
    with torch.enable_grad():
        params = [p.detach().requires_grad_(True) for p in policy.params]
        J = _exact_J(policy.logits(params))
        S, K = J.shape
        grads = []
        for k in range(K):
            g = torch.autograd.grad(J[:, k].sum(), params, retain_graph=k < K - 1, allow_unused=True)
            flat = [
                (gi if gi is not None else torch.zeros_like(p)).reshape(S, -1)
                for gi, p in zip(g, params, strict=True)
            ]
            grads.append(torch.cat(flat, dim=1))
    G = torch.stack(grads, dim=1)  # (S, K, P)
    G = G / G.norm(dim=-1, keepdim=True).clamp_min(1e-300)
    return G @ G.transpose(1, 2)


def _validate(
    num_contexts: int,
    num_arms: int,
    mode: str,
    num_seeds: int,
    lr: float,
    max_samples: int,
    init_performance: float,
    mix_prob: float,
    hidden: tuple[int, ...],
    activation: str,
    optimizer: str,
    log_every: int,
    stop_at: float | None,
) -> None:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    if not isinstance(num_contexts, int) or num_contexts < 1:
        raise ValueError(f"num_contexts={num_contexts!r} must be an integer >= 1")
    if not isinstance(num_arms, int) or num_arms < max(2, num_contexts):
        raise ValueError(f"num_arms={num_arms!r} must be an integer >= max(2, num_contexts={num_contexts})")
    if not isinstance(num_seeds, int) or num_seeds < 1:
        raise ValueError(f"num_seeds={num_seeds!r} must be an integer >= 1")
    _check_range("lr", lr, 0.0, math.inf, True, True)
    if not isinstance(max_samples, int) or max_samples < num_contexts:
        raise ValueError(f"max_samples={max_samples!r} must be an integer >= num_contexts={num_contexts}")
    _check_range("init_performance", init_performance, 0.0, _J_CAP, True, True)
    _check_range("mix_prob", mix_prob, 0.0, 1.0, False, False)
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation={activation!r} is not one of {tuple(ACTIVATIONS)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not one of {OPTIMIZERS}")
    if any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden={hidden!r} must be a tuple of integers >= 1")
    if hidden and mode == "tabular":
        raise ValueError(
            f"hidden={hidden!r} is not allowed with mode='tabular' (a table has no hidden layers)"
        )
    if hidden and num_contexts > hidden[-1] + 1:
        raise ValueError(
            f"hidden={hidden!r}: the last hidden layer needs >= num_contexts - 1 = {num_contexts - 1} units "
            "so the initial performance can be set exactly"
        )
    if not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every={log_every!r} must be an integer >= 1")
    if stop_at is not None:
        _check_range("stop_at", stop_at, 0.0, float(num_contexts), True, False)


def _reward_weights(
    mode: str,
    J: torch.Tensor,
    active_w: torch.Tensor,
    mix_prob: float,
    num_arms: int,
    uniforms: _Uniforms,
    out: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """(K, S) REINFORCE weights: 1 where the sampled arm was the rewarded one (a_k = k), 0 for stopped seeds.

    The update ``r * grad log pi(a | s_k)`` is zero unless ``a = k``, so sampling the full action is not needed:
    the reward is Bernoulli with the behaviour policy's probability of arm k (``J_k`` on-policy, ``1/n`` uniform,
    ``(1 - m) J_k + m / n`` mixed), which is the same algorithm in distribution at a fraction of the cost.
    Supervised learning always "samples" the right arm. ``out`` are reused (K, S) buffers (float64 uniforms,
    weights); ``active_w`` is the (S,) 0/1 mask of running seeds in the weights' dtype.
    """
    u, w = out
    if mode == "supervised":
        return w.copy_(active_w.expand_as(w))
    if mode == "uniform":
        p: torch.Tensor | float = 1.0 / num_arms
    elif mode == "mixed":
        p = (1.0 - mix_prob) * J + mix_prob / num_arms
    else:
        p = J
    return torch.lt(uniforms.fill(u), p, out=w).mul_(active_w)


class _Optimizer:
    """Gradient *ascent* with SGD or Adam, element-wise per seed; stopped seeds are masked out.

    Hand-written because torch.optim cannot freeze individual seeds inside a stacked tensor, nor drop them
    from its state when the batch is compacted. Adam uses torch's defaults (betas 0.9/0.999, eps 1e-8).
    """

    def __init__(self, name: str, lr: float, params: list[torch.Tensor], seed_last: bool = False) -> None:
        self.name, self.lr, self.t, self.seed_last = name, lr, 0, seed_last
        self.m = [torch.zeros_like(p) for p in params] if name == "adam" else []
        self.v = [torch.zeros_like(p) for p in params] if name == "adam" else []

    def select(self, idx: torch.Tensor) -> None:
        dim = -1 if self.seed_last else 0
        self.m = [m.index_select(dim, idx) for m in self.m]
        self.v = [v.index_select(dim, idx) for v in self.v]

    def deltas(
        self, grads: tuple[torch.Tensor, ...] | list[torch.Tensor], active: torch.Tensor
    ) -> list[torch.Tensor]:
        """The parameter changes of one ascent step (``lr * g`` for SGD; Adam's bias-corrected step)."""
        if self.name == "sgd":  # stopped seeds have zero weight, hence zero gradient
            return [self.lr * g for g in grads]
        self.t += 1
        b1, b2 = _ADAM_BETAS
        out = []
        for i, g in enumerate(grads):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            step = (self.m[i] / (1 - b1**self.t)) / ((self.v[i] / (1 - b2**self.t)).sqrt() + _ADAM_EPS)
            shape = (-1,) if self.seed_last else (-1, *([1] * (g.dim() - 1)))
            out.append(self.lr * active.reshape(shape).to(g.dtype) * step)
        return out

    def step(
        self,
        params: list[torch.Tensor],
        grads: tuple[torch.Tensor, ...] | list[torch.Tensor],
        active: torch.Tensor,
    ) -> list[torch.Tensor]:
        return [p + d for p, d in zip(params, self.deltas(grads, active), strict=True)]


class _RowLog:
    """Growable numpy log of equally shaped rows, written in place.

    Why: at K = n = 8 with thousands of seeds the log is most of the memory traffic; cloning every row,
    stacking them every sync and stacking everything again at the end wrote it three times, each time into
    fresh (page-faulting) memory. Here every row is written once into a preallocated array (directly on
    CPU; through a device buffer moved to the host every ``_SYNC_EVERY`` rows elsewhere, so CUDA never
    syncs per update). The first allocation is capped at ``_LOG_PREALLOC_BYTES`` and doubles when full.
    """

    def __init__(self, first: torch.Tensor, max_rows: int, staged: bool | None = None) -> None:
        """``staged`` (default: whether ``first`` is off the CPU) buffers rows on the device between copies."""
        self.shape = tuple(first.shape)
        row_bytes = max(1, first.numel() * first.element_size())
        cap = max(1, min(max_rows, _LOG_PREALLOC_BYTES // row_bytes))
        self.np_dtype = torch.empty(0, dtype=first.dtype).numpy().dtype
        self._alloc(cap)
        self.n = 0
        self.stage = None
        if first.device.type != "cpu" if staged is None else staged:  # <= _STAGE_BYTES (rho rows: S x K x K)
            stage_rows = max(1, min(_SYNC_EVERY, _STAGE_BYTES // row_bytes))
            self.stage = torch.empty((stage_rows, *self.shape), dtype=first.dtype, device=first.device)
        self.staged = 0
        self.append(first)

    def _alloc(self, cap: int) -> None:
        self.buf = np.empty((cap, *self.shape), dtype=self.np_dtype)
        self.tbuf = torch.from_numpy(self.buf)

    def _reserve(self, rows: int) -> None:
        if rows > len(self.buf):
            old = self.buf
            self._alloc(max(rows, 2 * len(old)))
            self.buf[: self.n] = old[: self.n]

    def append(self, row: torch.Tensor) -> None:
        if self.stage is None:
            self._reserve(self.n + 1)
            self.tbuf[self.n].copy_(row)
            self.n += 1
            return
        self.stage[self.staged].copy_(row)
        self.staged += 1
        if self.staged == len(self.stage):
            self.flush()

    def flush(self) -> None:
        if self.staged:
            self._reserve(self.n + self.staged)
            self.buf[self.n : self.n + self.staged] = self.stage[: self.staged].cpu().numpy()
            self.n += self.staged
            self.staged = 0

    def truncate(self, rows: int) -> None:
        self.flush()
        self.n = min(self.n, rows)

    def rows(self) -> np.ndarray:
        self.flush()
        return self.buf[: self.n]


@torch.no_grad()
def train_bandit(
    num_contexts: int,
    num_arms: int,
    mode: str,
    num_seeds: int,
    lr: float = 0.1,
    max_samples: int = 100_000,
    init_performance: float = 0.1,
    device: str = "cpu",
    seed: int = 0,
    mix_prob: float = 0.1,
    hidden: tuple[int, ...] = (),
    activation: str = "relu",
    optimizer: str = "sgd",
    track_interference: bool = False,
    log_every: int = 1,
    stop_at: float | None = None,
    progress: bool = False,
    dtype: str = "float64",
) -> BanditResult:
    """Train ``num_seeds`` independent learners on the K x n bandit at once and record exact ``J_k``.

    Each seed stops when ``sum_k J_k >= stop_at`` (default ``K - 0.1``, the paper's criterion) or when it has
    used ``max_samples`` samples (``K`` per update); stopped seeds are frozen. ``J`` is logged every
    ``log_every`` updates (plus the initial and the final state); memory is ``rows * seeds * K * 8`` bytes.
    ``mix_prob`` is only used by ``mode='mixed'``. ``device='auto'`` picks CUDA when available. ``dtype``
    'float32' halves memory (and is faster at K = n = 8) but cannot resolve per-update changes below ~1e-7
    near J_k = 1, i.e. the flattest plateaus; initialisation is always done in float64, and rewards are drawn
    with float64 uniforms. Linear policies run with the seed axis last (see ``_SeedLastLinear``); they agree
    with the plain seed-major computation (``(onehot - pi) * r`` per context on ``W`` and ``b``) to rounding,
    and draw the same rewards from the same uniforms. On CPU the uniforms come from numpy's PCG64 seeded with
    ``seed + 1``, on CUDA from torch's generator, so the two devices give different (equally valid) runs.
    """
    hidden = tuple(hidden)
    _validate(
        num_contexts,
        num_arms,
        mode,
        num_seeds,
        lr,
        max_samples,
        init_performance,
        mix_prob,
        hidden,
        activation,
        optimizer,
        log_every,
        stop_at,
    )
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not one of {tuple(DTYPES)}")
    dev = resolve_device(device)
    K, n, S = num_contexts, num_arms, num_seeds
    stop = float(K - 0.1) if stop_at is None else float(stop_at)
    max_updates = max_samples // K

    init_gen = torch.Generator().manual_seed(seed)
    J0 = initial_performance(S, K, init_performance, init_gen)
    policy = _init_policy(mode, J0, n, hidden, activation, init_gen)
    policy.params = [p.to(device=dev, dtype=DTYPES[dtype]) for p in policy.params]
    uniforms = _Uniforms(seed + 1, dev)

    lin = None
    if policy.linear:
        renorm = _SeedLastLinear.renorm_period(policy.kind, K, lr, optimizer)
        J_out = torch.empty((K, S), dtype=DTYPES[dtype], device=dev)
        lin = _SeedLastLinear(policy.kind, policy.params, renorm, J_out)
        policy.params = []  # lin owns the parameters; interference() hands seed-major copies to policy
    opt = _Optimizer(optimizer, lr, lin.params if lin else policy.params, seed_last=lin is not None)
    idx = torch.arange(S, device=dev)  # full-batch index of each row still in the working batch
    compacted = False  # whether seeds were dropped from the working batch (then idx is not the identity)
    mlp_probs = None if lin else _softmax(policy.logits())

    def current_J() -> torch.Tensor:
        """(K, S) J of the working batch (a view)."""
        return lin.J if lin else mlp_probs.diagonal(dim1=1, dim2=2).T

    def interference() -> torch.Tensor:
        if lin:
            policy.params = lin.seed_first()
        return _interference(policy)

    # J is kept context-major (K, S), like the learner's state: a seed-major copy every update is a transpose
    J_full = lin.J if lin else current_J().contiguous().clone()  # lin writes J_full until seeds are dropped
    J_work = J_full  # contiguous J of the working batch (sampling probabilities of the next update)
    sample = (J_full.new_empty(J_full.shape, dtype=torch.float64), torch.empty_like(J_full))
    stop_update = torch.full((S,), max_updates, dtype=torch.int64, device=dev)
    solved = J_full.sum(0) >= stop
    stop_update[solved] = 0
    active = ~solved
    active_w = active.to(J_full.dtype)  # the same mask as weights: one multiply per update, no cast
    max_rows = max_updates // log_every + 2
    log_J = _RowLog(J_full, max_rows)
    rows_u = [0]
    rho_full = interference() if track_interference else None
    log_rho = _RowLog(rho_full, max_rows) if rho_full is not None else None

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_updates, desc=f"bandit {mode} K={K} n={n}", unit="upd")

    update = 0
    while update < max_updates:
        if update % _SYNC_EVERY == 0:
            if not bool(active.any()):
                break
            keep = active.nonzero().squeeze(1)
            if keep.numel() < active.numel():
                compacted = True
                if lin:
                    lin.select(keep)
                else:
                    policy.select(keep)
                    mlp_probs = mlp_probs[keep]
                opt.select(keep)
                idx, active, active_w = idx[keep], active[keep], active_w[keep]
                J_work = J_work[:, keep]
                sample = tuple(torch.empty_like(x[:, keep]) for x in sample)  # contiguous for numpy's out=
        w = _reward_weights(mode, J_work, active_w, mix_prob, n, uniforms, sample)
        if lin:
            lin.apply_reinforce(w, opt, active)
            lin.refresh(active_w)
        else:
            with torch.enable_grad():
                params = [p.detach().requires_grad_(True) for p in policy.params]
                logp = torch.log_softmax(policy.logits(params), dim=-1)
                surrogate = (w.T * logp.diagonal(dim1=1, dim2=2)).sum()  # sum_k w_k log pi(k | s_k)
                grads = torch.autograd.grad(surrogate, params)
            policy.params = opt.step(policy.params, grads, active)
            mlp_probs = _softmax(policy.logits())
        update += 1
        if compacted:  # stopped seeds are frozen, so their J is unchanged
            J = current_J().contiguous()
            J_full[:, idx] = J
        else:  # the linear learner wrote J_full already
            J = J_full if lin else J_full.copy_(current_J())
        J_work = J
        reached = J.sum(0) >= stop
        if update < max_updates:
            finished = newly_solved = reached.logical_and_(active)
        else:
            finished, newly_solved = active.clone(), reached & active
        if compacted:  # positional index puts: boolean-mask indexing would sync with the GPU every update
            stop_update[idx] = torch.where(finished, update, stop_update[idx])
            solved[idx] = solved[idx] | newly_solved
        else:  # masked fills instead of index puts: no host sync, no index tensors
            stop_update.masked_fill_(finished, update)
            solved |= newly_solved
        active ^= finished  # finished is a subset of active
        active_w.masked_fill_(finished, 0.0)
        logged = update % log_every == 0 or update == max_updates
        if rho_full is not None and (logged or bool(finished.any())):
            rho_full[idx] = interference()  # also on stopping, so frozen seeds keep their final rho
        if logged:
            log_J.append(J_full)
            rows_u.append(update)
            if log_rho is not None:
                log_rho.append(rho_full)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    stop_np = stop_update.cpu().numpy()
    last = int(stop_np.max())
    upd = np.asarray(rows_u, dtype=np.int64)
    count = int(np.searchsorted(upd, last, side="right"))  # drop rows logged after every seed had stopped
    upd = upd[:count]
    if upd[-1] < last:  # final state not on the logging grid: append it (stopped seeds are frozen)
        upd = np.append(upd, last)
        for log, final in ((log_J, J_full), (log_rho, rho_full)):
            if log is not None:
                log.truncate(count)
                log.append(final)
    J_rows = log_J.rows()[: len(upd)].transpose(0, 2, 1)  # logged (K, S) rows, returned as (S, K)
    rho_arr = rho_mean = None
    if log_rho is not None:
        rho_arr = log_rho.rows()[: len(upd)]
    if rho_arr is not None:
        off = ~np.eye(K, dtype=bool)
        rho_mean = rho_arr[..., off].mean(-1) if K > 1 else np.zeros(rho_arr.shape[:2])
    config = {
        "num_contexts": K,
        "num_arms": n,
        "mode": mode,
        "num_seeds": S,
        "lr": lr,
        "max_samples": max_samples,
        "init_performance": init_performance,
        "seed": seed,
        "mix_prob": mix_prob,
        "hidden": list(hidden),
        "activation": activation,
        "optimizer": optimizer,
        "log_every": log_every,
        "stop_at": stop,
        "device": str(dev),
        "dtype": dtype,
    }
    return BanditResult(
        J=J_rows,
        updates=upd,
        samples=upd * K,
        stop_update=stop_np.astype(np.int64),
        solved=solved.cpu().numpy(),
        config=config,
        rho=rho_arr,
        rho_mean=rho_mean,
    )
