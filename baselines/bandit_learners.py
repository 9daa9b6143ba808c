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

MODES = ("on-policy", "tabular", "separate", "uniform", "supervised", "mixed")
ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
OPTIMIZERS = ("sgd", "adam")
DTYPES = {"float64": torch.float64, "float32": torch.float32}
_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8
_J_CAP = 0.99
_SYNC_EVERY = 64  # updates between host syncs (drop finished seeds, move logged rows off the device)


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


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device={device!r} is not a torch device; use 'cpu', 'cuda[:i]' or 'auto'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
    return dev


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

    def grads_from_logit_grad(self, G: torch.Tensor) -> list[torch.Tensor]:
        """Parameter gradients of a linear policy from the (S, K, n) gradient w.r.t. its logits.

        Closed form because autograd's overhead costs more than the whole update at these sizes.
        """
        if self.kind == "table":
            return [G]
        if self.kind == "shared":
            return [G, G.sum(1)]
        return [G, G]

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
    mode: str, J: torch.Tensor, active: torch.Tensor, mix_prob: float, num_arms: int, gen: torch.Generator
) -> torch.Tensor:
    """(S, K) REINFORCE weights: 1 where the sampled arm was the rewarded one (a_k = k), 0 for stopped seeds.

    The update ``r * grad log pi(a | s_k)`` is zero unless ``a = k``, so sampling the full action is not needed:
    the reward is Bernoulli with the behaviour policy's probability of arm k (``J_k`` on-policy, ``1/n`` uniform,
    ``(1 - m) J_k + m / n`` mixed), which is the same algorithm in distribution at a fraction of the cost.
    Supervised learning always "samples" the right arm.
    """
    if mode == "supervised":
        return active[:, None].to(J.dtype).expand_as(J)
    if mode == "uniform":
        p = torch.full_like(J, 1.0 / num_arms)
    elif mode == "mixed":
        p = (1.0 - mix_prob) * J + mix_prob / num_arms
    else:
        p = J
    u = torch.rand(J.shape, generator=gen, device=J.device, dtype=J.dtype)
    return (u < p).to(J.dtype) * active[:, None]


class _Optimizer:
    """Gradient *ascent* with SGD or Adam, element-wise per seed; stopped seeds are masked out.

    Hand-written because torch.optim cannot freeze individual seeds inside a stacked tensor, nor drop them
    from its state when the batch is compacted. Adam uses torch's defaults (betas 0.9/0.999, eps 1e-8).
    """

    def __init__(self, name: str, lr: float, params: list[torch.Tensor]) -> None:
        self.name, self.lr, self.t = name, lr, 0
        self.m = [torch.zeros_like(p) for p in params] if name == "adam" else []
        self.v = [torch.zeros_like(p) for p in params] if name == "adam" else []

    def select(self, idx: torch.Tensor) -> None:
        self.m = [m[idx] for m in self.m]
        self.v = [v[idx] for v in self.v]

    def step(
        self,
        params: list[torch.Tensor],
        grads: tuple[torch.Tensor, ...] | list[torch.Tensor],
        active: torch.Tensor,
    ) -> list[torch.Tensor]:
        if self.name == "sgd":  # stopped seeds have zero weight, hence zero gradient; in place (no autograd)
            return [p.add_(g, alpha=self.lr) for p, g in zip(params, grads, strict=True)]
        self.t += 1
        b1, b2 = _ADAM_BETAS
        out = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            step = (self.m[i] / (1 - b1**self.t)) / ((self.v[i] / (1 - b2**self.t)).sqrt() + _ADAM_EPS)
            mask = active.reshape(-1, *([1] * (p.dim() - 1))).to(p.dtype)
            out.append(p + self.lr * mask * step)
        return out


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
    'float32' halves memory (and is ~20% faster at K = n = 8) but cannot resolve per-update changes below ~1e-7
    near J_k = 1, i.e. the flattest plateaus; initialisation is always done in float64.
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
    dev = _resolve_device(device)
    K, n, S = num_contexts, num_arms, num_seeds
    stop = float(K - 0.1) if stop_at is None else float(stop_at)
    max_updates = max_samples // K

    init_gen = torch.Generator().manual_seed(seed)
    J0 = initial_performance(S, K, init_performance, init_gen)
    policy = _init_policy(mode, J0, n, hidden, activation, init_gen)
    policy.params = [p.to(device=dev, dtype=DTYPES[dtype]) for p in policy.params]
    gen = torch.Generator(device=dev).manual_seed(seed + 1)

    opt = _Optimizer(optimizer, lr, policy.params)
    idx = torch.arange(S, device=dev)  # full-batch index of each row still in the working batch
    eye_kn = torch.eye(K, n, dtype=DTYPES[dtype], device=dev)
    cached_probs = _softmax(policy.logits())
    J_full = cached_probs.diagonal(dim1=1, dim2=2).clone()
    stop_update = torch.full((S,), max_updates, dtype=torch.int64, device=dev)
    solved = J_full.sum(1) >= stop
    stop_update[solved] = 0
    active = ~solved
    rows_J = [J_full.cpu().numpy().copy()]
    rows_u = [0]
    rho_full = _interference(policy) if track_interference else None
    rows_rho = [rho_full.cpu().numpy().copy()] if rho_full is not None else []
    pending_J: list[torch.Tensor] = []
    pending_rho: list[torch.Tensor] = []
    pending_u: list[int] = []

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_updates, desc=f"bandit {mode} K={K} n={n}", unit="upd")

    def flush() -> None:
        if pending_J:
            rows_J.extend(np.asarray(torch.stack(pending_J).cpu().numpy()))
            rows_u.extend(pending_u)
            if pending_rho:
                rows_rho.extend(np.asarray(torch.stack(pending_rho).cpu().numpy()))
        pending_J.clear()
        pending_rho.clear()
        pending_u.clear()

    update = 0
    while update < max_updates:
        if update % _SYNC_EVERY == 0:
            flush()
            if not bool(active.any()):
                break
            keep = active.nonzero().squeeze(1)
            if keep.numel() < active.numel():
                policy.select(keep)
                cached_probs = cached_probs[keep]
                opt.select(keep)
                idx, active = idx[keep], active[keep]
        if policy.linear:
            w = _reward_weights(mode, cached_probs.diagonal(dim1=1, dim2=2), active, mix_prob, n, gen)
            # d/dlogits of sum_k w_k log pi(k | s_k) is w_k (onehot(k) - pi(. | s_k))
            grads = policy.grads_from_logit_grad(torch.sub(eye_kn, cached_probs).mul_(w[..., None]))
        else:
            with torch.enable_grad():
                params = [p.detach().requires_grad_(True) for p in policy.params]
                logp = torch.log_softmax(policy.logits(params), dim=-1)
                logp_right = logp.diagonal(dim1=1, dim2=2)  # log pi(k | s_k)
                w = _reward_weights(mode, logp_right.detach().exp(), active, mix_prob, n, gen)
                surrogate = (w * logp_right).sum()
                grads = torch.autograd.grad(surrogate, params)
        policy.params = opt.step(policy.params, grads, active)
        update += 1
        cached_probs = _softmax(policy.logits())
        J = cached_probs.diagonal(dim1=1, dim2=2)
        J_full[idx] = J  # stopped seeds are frozen, so their J is unchanged
        reached = J.sum(1) >= stop
        finished = active & (reached | (update >= max_updates))
        stop_update[idx[finished]] = update
        solved[idx[finished & reached]] = True
        active = active & ~finished
        logged = update % log_every == 0 or update == max_updates
        if rho_full is not None and (logged or bool(finished.any())):
            rho_full[idx] = _interference(policy)  # also on stopping, so frozen seeds keep their final rho
        if logged:
            pending_J.append(J_full.clone())
            pending_u.append(update)
            if rho_full is not None:
                pending_rho.append(rho_full.clone())
        if bar is not None:
            bar.update(1)
    flush()
    if bar is not None:
        bar.close()

    stop_np = stop_update.cpu().numpy()
    last = int(stop_np.max())
    J_rows = np.stack(rows_J)
    upd = np.asarray(rows_u, dtype=np.int64)
    keep_rows = upd <= last  # drop rows logged after every seed had stopped
    J_rows, upd = J_rows[keep_rows], upd[keep_rows]
    rho_arr = rho_mean = None
    if rho_full is not None:
        rho_arr = np.stack(rows_rho)[keep_rows]
    if upd[-1] < last:  # final state not on the logging grid: append it (stopped seeds are frozen)
        J_rows = np.concatenate([J_rows, J_full.cpu().numpy()[None]])
        upd = np.append(upd, last)
        if rho_arr is not None:
            rho_arr = np.concatenate([rho_arr, rho_full.cpu().numpy()[None]])
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
