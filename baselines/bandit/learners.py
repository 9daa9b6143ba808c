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

Initialisation (the paper gives ``J(theta_0) = K/10`` "with varied directions" but no recipe; ``init_recipe``
picks one of ``INIT_RECIPES``, each read from the paper's text; ``rayenvs reproduce ray-bandit`` measures how
Figs. 3 and 5 depend on it):

``angle``         (default) a direction ``u`` uniform on the positive orthant of the unit sphere in J-space
                  (``|z| / ||z||``, ``z`` standard normal), target ``J_k = c u_k / sum(u)`` with
                  ``c = init_performance * K``. In the 2 x 2 case ``(J1, J2)`` lies on ``J1 + J2 = 0.2`` at an
                  angle uniform in ``(0, pi/2)`` from the origin: the paper's "uniform distribution across angular
                  directions" of its WTA-probability argument (Appendix B.3-B.4).
``simplex``       ``J`` uniform on the simplex ``sum_k J_k = c`` (Dirichlet(1, ..., 1) times ``c``): every split of
                  the initial performance equally likely ("varied directions" read in J-space). For K = 2,
                  ``J1`` is uniform on the segment, which puts more starts near the axes than ``angle``.
``logit-sphere``  logits ``x0 + u``, ``u`` uniform on the unit sphere of the K target logits and ``x0`` the balanced
                  logit (every ``J_k = init_performance``): a random parameter direction of fixed norm around
                  the balanced start, like a "traditional initialization of the neural network" (Appendix B.3).
                  ``sum_k J_k`` is then ``c`` only on average (it varies with the direction).

``angle`` and ``simplex`` cap components above ``0.99`` and share the excess among the others. The parameters
are then set so that the policy has exactly these ``J_k``: context ``k``'s logits are ``x_k`` for arm ``k`` and
``0`` otherwise, ``x_k = log(J_k (n - 1) / (1 - J_k))``. Linear policies put these logits in ``W`` (``b = 0``);
MLPs keep PyTorch-default random hidden layers and solve the output layer (minimum-norm least squares on the
hidden features plus a bias column) so the logits match exactly. Every mode therefore starts from the same ``J``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
import torch

from baselines.bandit import fused as _fused
from baselines.bandit.policies import (
    ACTIVATIONS,
    _BatchedPolicy,
    _exact_J,
    _init_policy,
    _SeedLastLinear,
    _softmax,
)
from baselines.bandit.row_log import SYNC_EVERY as _SYNC_EVERY
from baselines.bandit.row_log import _RowLog
from baselines.bandit.updates import _Optimizer, _reward_weights, _Uniforms
from baselines.common.devices import resolve_device
from rayenvs.validation import check_int

Mode = Literal["on-policy", "tabular", "separate", "uniform", "supervised", "mixed"]
Optimizer = Literal["sgd", "adam"]
DType = Literal["float64", "float32"]
Activation = Literal["relu", "tanh"]
InitRecipe = Literal["angle", "simplex", "logit-sphere"]
MODES: tuple[str, ...] = get_args(Mode)
INIT_RECIPES: tuple[str, ...] = get_args(InitRecipe)
OPTIMIZERS: tuple[str, ...] = get_args(Optimizer)
DTYPES = {"float64": torch.float64, "float32": torch.float32}
_J_CAP = 0.99


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
    num_seeds: int,
    num_contexts: int,
    init_performance: float,
    generator: torch.Generator,
    recipe: str = "angle",
    num_arms: int | None = None,
) -> torch.Tensor:
    """Per-seed target ``J_k`` (float64, shape (seeds, K)) by one of ``INIT_RECIPES`` (see the module docstring).

    ``angle`` and ``simplex`` sum to ``init_performance * K``; ``logit-sphere`` needs ``num_arms`` (the logit
    of a given ``J_k`` depends on it) and sums to it only on average. Components stay in ``[1e-12, 0.99]``.
    """
    if recipe not in INIT_RECIPES:
        raise ValueError(f"init_recipe={recipe!r} is not one of {INIT_RECIPES}")
    total = init_performance * num_contexts
    if recipe == "logit-sphere":
        if num_arms is None:
            raise ValueError("init_recipe='logit-sphere' needs num_arms")
        z = torch.randn(num_seeds, num_contexts, generator=generator, dtype=torch.float64)
        u = z / z.norm(dim=1, keepdim=True).clamp_min(1e-300)
        x = math.log(init_performance * (num_arms - 1) / (1 - init_performance)) + u
        return (x.exp() / (x.exp() + (num_arms - 1))).clamp(1e-12, _J_CAP)
    if recipe == "angle":
        z = torch.randn(num_seeds, num_contexts, generator=generator, dtype=torch.float64).abs() + 1e-12
        u = z / z.norm(dim=1, keepdim=True)
    else:  # simplex: normalised Exp(1) draws are Dirichlet(1, ..., 1)
        u = -torch.rand(num_seeds, num_contexts, generator=generator, dtype=torch.float64).clamp_min(1e-300).log()
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


@dataclass(frozen=True)
class BanditConfig:
    """Everything one :func:`train_bandit` call learns with: the single source of truth, checked on creation.

    Each seed stops when ``sum_k J_k >= stop_at`` (default ``K - 0.1``, the paper's criterion) or when it has
    used ``max_samples`` samples (``K`` per update). ``mix_prob`` is only used by ``mode='mixed'``.
    ``device='auto'`` picks CUDA when available; ``dtype='float32'`` halves memory (see :func:`train_bandit`).
    """

    num_contexts: int
    num_arms: int
    mode: Mode
    num_seeds: int
    lr: float = 0.1
    max_samples: int = 100_000
    init_performance: float = 0.1
    init_recipe: InitRecipe = "angle"
    device: str = "cpu"
    seed: int = 0
    mix_prob: float = 0.1
    hidden: tuple[int, ...] = ()
    activation: Activation = "relu"
    optimizer: Optimizer = "sgd"
    track_interference: bool = False
    log_every: int = 1
    stop_at: float | None = None
    progress: bool = False
    dtype: DType = "float64"

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))  # a list from YAML or JSON is fine
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not one of {MODES}")
        check_int("num_contexts", self.num_contexts)
        if not isinstance(self.num_arms, int) or self.num_arms < max(2, self.num_contexts):
            raise ValueError(
                f"num_arms={self.num_arms!r} must be an integer >= max(2, num_contexts={self.num_contexts})"
            )
        check_int("num_seeds", self.num_seeds)
        _check_range("lr", self.lr, 0.0, math.inf, True, True)
        if not isinstance(self.max_samples, int) or self.max_samples < self.num_contexts:
            raise ValueError(
                f"max_samples={self.max_samples!r} must be an integer >= num_contexts={self.num_contexts}"
            )
        _check_range("init_performance", self.init_performance, 0.0, _J_CAP, True, True)
        if self.init_recipe not in INIT_RECIPES:
            raise ValueError(f"init_recipe={self.init_recipe!r} is not one of {INIT_RECIPES}")
        _check_range("mix_prob", self.mix_prob, 0.0, 1.0, False, False)
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation={self.activation!r} is not one of {tuple(ACTIVATIONS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r} is not one of {OPTIMIZERS}")
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden={self.hidden!r} must be a tuple of integers >= 1")
        if self.hidden and self.mode == "tabular":
            raise ValueError(
                f"hidden={self.hidden!r} is not allowed with mode='tabular' (a table has no hidden layers)"
            )
        if self.hidden and self.num_contexts > self.hidden[-1] + 1:
            raise ValueError(
                f"hidden={self.hidden!r}: the last hidden layer needs >= num_contexts - 1 = {self.num_contexts - 1} "
                "units "
                "so the initial performance can be set exactly"
            )
        check_int("log_every", self.log_every)
        if self.stop_at is not None:
            _check_range("stop_at", self.stop_at, 0.0, float(self.num_contexts), True, False)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r} is not one of {tuple(DTYPES)}")


def train_bandit(*args: Any, config: BanditConfig | None = None, **kwargs: Any) -> BanditResult:
    """Train ``num_seeds`` independent learners on the K x n bandit at once and record exact ``J_k``.

    Pass a :class:`BanditConfig` as ``config``, or its fields as arguments (``train_bandit(K, n, mode, seeds,
    lr=...)``), which build one. Stopped seeds are frozen. ``J`` is logged every ``log_every`` updates (plus
    the initial and the final state); memory is ``rows * seeds * K * 8`` bytes. ``dtype='float32'`` halves memory (and is faster at K = n = 8) but cannot resolve per-update changes below ~1e-7
    near J_k = 1, i.e. the flattest plateaus; initialisation is always done in float64, and rewards are drawn
    with float64 uniforms. Linear policies run with the seed axis last (see ``_SeedLastLinear``); they agree
    with the plain seed-major computation (``(onehot - pi) * r`` per context on ``W`` and ``b``) to rounding,
    and draw the same rewards from the same uniforms. On CPU the uniforms come from numpy's PCG64 seeded with
    ``seed + 1``, on CUDA from torch's generator, so the two devices give different (equally valid) runs.
    """
    if config is None:
        config = BanditConfig(*args, **kwargs)
    elif args or kwargs:
        raise TypeError("train_bandit takes either config= or BanditConfig's fields, not both")
    return _train(config)


@torch.no_grad()
def _train(cfg: BanditConfig) -> BanditResult:
    dev = resolve_device(cfg.device)
    K, n, S = cfg.num_contexts, cfg.num_arms, cfg.num_seeds
    stop = float(K - 0.1) if cfg.stop_at is None else float(cfg.stop_at)
    max_updates = cfg.max_samples // K

    init_gen = torch.Generator().manual_seed(cfg.seed)
    J0 = initial_performance(S, K, cfg.init_performance, init_gen, cfg.init_recipe, n)
    policy = _init_policy(cfg.mode, J0, n, cfg.hidden, cfg.activation, init_gen)
    policy.params = [p.to(device=dev, dtype=DTYPES[cfg.dtype]) for p in policy.params]
    uniforms = _Uniforms(cfg.seed + 1, dev)

    lin = None
    if policy.linear:
        renorm = _SeedLastLinear.renorm_period(policy.kind, K, cfg.lr, cfg.optimizer)
        J_out = torch.empty((K, S), dtype=DTYPES[cfg.dtype], device=dev)
        fuse = _fused.AVAILABLE and dev.type == "cpu" and cfg.optimizer == "sgd"
        lin = _SeedLastLinear(policy.kind, policy.params, renorm, J_out, fused=fuse)
        policy.params = []  # lin owns the parameters; interference() hands seed-major copies to policy
    opt = _Optimizer(cfg.optimizer, cfg.lr, lin.params if lin else policy.params, seed_last=lin is not None)
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
    max_rows = max_updates // cfg.log_every + 2
    log_J = _RowLog(J_full, max_rows)
    rows_u = [0]
    rho_full = interference() if cfg.track_interference else None
    log_rho = _RowLog(rho_full, max_rows) if rho_full is not None else None

    bar = None
    if cfg.progress:
        from baselines.common.progress import job_bar

        bar = job_bar(total=max_updates, desc=f"bandit {cfg.mode} K={K} n={n}", unit="upd")

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
        if lin and lin.fused:  # one numba pass: draw, step, softmax, J (J_work is lin.J)
            if cfg.mode != "supervised":
                uniforms.fill(sample[0])
            lin.fused_step(_fused.DRAWS[cfg.mode], sample[0], active_w, cfg.mix_prob, cfg.lr)
        elif lin:
            w = _reward_weights(cfg.mode, J_work, active_w, cfg.mix_prob, n, uniforms, sample)
            lin.apply_reinforce(w, opt, active)
            lin.refresh(active_w)
        else:
            w = _reward_weights(cfg.mode, J_work, active_w, cfg.mix_prob, n, uniforms, sample)
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
        logged = update % cfg.log_every == 0 or update == max_updates
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
        "mode": cfg.mode,
        "num_seeds": S,
        "lr": cfg.lr,
        "max_samples": cfg.max_samples,
        "init_performance": cfg.init_performance,
        "init_recipe": cfg.init_recipe,
        "seed": cfg.seed,
        "mix_prob": cfg.mix_prob,
        "hidden": list(cfg.hidden),
        "activation": cfg.activation,
        "optimizer": cfg.optimizer,
        "log_every": cfg.log_every,
        "stop_at": stop,
        "device": str(dev),
        "dtype": cfg.dtype,
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
