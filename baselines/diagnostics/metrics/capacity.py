"""Capacity (plasticity) loss of a checkpoint (Lyle et al. 2022, as used by Moalla et al. 2024, Section 2).

A network that has lost plasticity can no longer fit new targets. The paper's protocol (REFERENCE.md section 3):
the target is a network *freshly initialised at random* from the agent's own init distribution (same class and
constructor, a seeded draw; not the agent's initial weights), and the data is a fixed rollout that this random
network collected itself on an independent copy of the env (:meth:`CapacityTarget.from_fresh_network`). At a
checkpoint, a copy of the current network is fitted to the target's outputs with a fresh Adam (the training
learning rate and Adam eps) and the training's gradient clipping, for the family's budget
(:func:`budget_for`: Atari 1 epoch of minibatch 256, MuJoCo 4 epochs of minibatch 64, the paper's Tables 2-3);
the capacity loss is the loss on the whole dataset at the end of the budget: forward KL(target || model) for
the actor, MSE for the critic. Actor and critic are fitted as separate copies so that, with a shared features
extractor, one loss does not help or hurt the other's measurement.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import distributions as D
from torch import nn


def kl_divergence(target: D.Distribution | Sequence, model: D.Distribution | Sequence) -> torch.Tensor:
    """Per-sample KL(target || model), summed over independent action dimensions / sub-distributions."""
    if isinstance(target, (list, tuple)):
        return sum(kl_divergence(t, m) for t, m in zip(target, model, strict=True))
    if isinstance(target, D.TransformedDistribution) and isinstance(model, D.TransformedDistribution):
        # KL is invariant under the same bijection (e.g. tanh squashing): compare the base distributions.
        return kl_divergence(target.base_dist, model.base_dist)
    kl = D.kl_divergence(target, model)
    return kl.reshape(kl.shape[0], -1).sum(dim=1)


@dataclass(frozen=True)
class CapacityBudget:
    """The fixed fitting budget; the defaults are the paper's MuJoCo ones (Atari: epochs=1, minibatch=256)."""

    epochs: int = 4
    minibatch_size: int = 64

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs={self.epochs!r} must be >= 1")
        if self.minibatch_size < 1:
            raise ValueError(f"minibatch_size={self.minibatch_size!r} must be >= 1")


ATARI_BUDGET = CapacityBudget(epochs=1, minibatch_size=256)
MUJOCO_BUDGET = CapacityBudget(epochs=4, minibatch_size=64)


def budget_for(policy: nn.Module) -> CapacityBudget:
    """The paper's budget for the policy's family: image observations (Atari) or vectors (MuJoCo and others)."""
    from stable_baselines3.common.preprocessing import is_image_space

    space = getattr(policy, "observation_space", None)
    return ATARI_BUDGET if space is not None and is_image_space(space) else MUJOCO_BUDGET


def fresh_policy(policy: nn.Module, seed: int) -> nn.Module:
    """A new network of ``policy``'s class and constructor, initialised at random (seeded, global RNG kept)."""
    rebuild = getattr(policy, "_get_constructor_parameters", None)
    if rebuild is None:
        raise TypeError(f"{type(policy).__name__} has no _get_constructor_parameters: not an SB3 policy")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = type(policy)(**rebuild())
    return fresh.to(next(policy.parameters()).device)


def collect_observations(policy: nn.Module, venv: Any, num_steps: int, seed: int) -> Any:
    """Observations of ``num_steps`` steps of ``venv`` (an SB3 VecEnv) with actions sampled from ``policy``."""
    if num_steps < 1:
        raise ValueError(f"num_steps={num_steps!r} must be >= 1")
    venv.seed(seed)
    obs = venv.reset()
    rows = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(num_steps):
            rows.append(obs)
            actions, _ = policy.predict(obs, deterministic=False)
            obs, _, _, _ = venv.step(actions)
    device = next(policy.parameters()).device
    if isinstance(rows[0], dict):
        return {k: torch.as_tensor(np.concatenate([r[k] for r in rows]), device=device) for k in rows[0]}
    return torch.as_tensor(np.concatenate(rows), device=device)


class CapacityTarget:
    """The fixed dataset and the target network's outputs on it (computed once, reused at every checkpoint)."""

    def __init__(self, target_policy: nn.Module, obs: torch.Tensor) -> None:
        if len(obs) < 1:
            raise ValueError("the capacity dataset must hold at least one observation")
        self.obs = obs
        with torch.no_grad():
            self.actor_dist = _torch_dist(target_policy.get_distribution(obs))
            self.values = target_policy.predict_values(obs).detach()

    @classmethod
    def from_fresh_network(
        cls, policy: nn.Module, venv: Any, num_steps: int, seed: int, max_samples: int | None = None
    ) -> CapacityTarget:
        """The paper's target: a fresh random network like ``policy`` and its own rollout of ``num_steps`` steps
        on ``venv`` (independent of the training env), subsampled to ``max_samples`` observations if set."""
        target = fresh_policy(policy, seed)
        target.set_training_mode(False)
        obs = collect_observations(target, venv, num_steps, seed)
        if max_samples is not None and len(obs) > max_samples:
            idx = torch.as_tensor(np.sort(np.random.default_rng(seed).choice(len(obs), max_samples, False)))
            obs = obs[idx.to(obs.device)]
        return cls(target, obs)

    def _batches(self, budget: CapacityBudget, generator: torch.Generator) -> list[torch.Tensor]:
        n = len(self.obs)
        out = []
        for _ in range(budget.epochs):
            perm = torch.randperm(n, generator=generator)
            out.extend(perm[i : i + budget.minibatch_size] for i in range(0, n, budget.minibatch_size))
        return out

    def actor_loss(self, policy: nn.Module, idx: torch.Tensor | None = None) -> torch.Tensor:
        obs = self.obs if idx is None else self.obs[idx]
        target = self.actor_dist if idx is None else _slice(self.actor_dist, idx)
        return kl_divergence(target, _torch_dist(policy.get_distribution(obs))).mean()

    def critic_loss(self, policy: nn.Module, idx: torch.Tensor | None = None) -> torch.Tensor:
        obs = self.obs if idx is None else self.obs[idx]
        values = self.values if idx is None else self.values[idx]
        return ((policy.predict_values(obs) - values) ** 2).mean()

    def capacity_loss(
        self,
        policy: nn.Module,
        lr: float,
        budget: CapacityBudget,
        seed: int = 0,
        max_grad_norm: float | None = None,
        adam_eps: float = 1e-8,
    ) -> dict[str, float]:
        """``actor_kl`` and ``critic_mse`` after fitting copies of ``policy`` to the targets; ``policy`` is untouched.

        ``max_grad_norm`` clips each step's gradient norm as training does (None: no clipping).
        """
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm={max_grad_norm!r} must be > 0 or None")
        out = {}
        for key, loss_fn in (("actor_kl", self.actor_loss), ("critic_mse", self.critic_loss)):
            model = clone_policy(policy)
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=adam_eps)
            generator = torch.Generator().manual_seed(seed)
            for idx in self._batches(budget, generator):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model, idx).backward()
                if max_grad_norm is not None:
                    nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
                optimizer.step()
            with torch.no_grad():
                out[key] = float(loss_fn(model).item())
        return out


def clone_policy(policy: nn.Module) -> nn.Module:
    """An independent copy of an SB3 policy, rebuilt the way SB3 reloads saved policies.

    ``copy.deepcopy`` fails on SB3 policies after a differentiable forward pass: the action distribution
    object keeps non-leaf tensors of the last graph.
    """
    rebuild = getattr(policy, "_get_constructor_parameters", None)
    if rebuild is None:
        return copy.deepcopy(policy)
    clone = type(policy)(**rebuild())
    clone.load_state_dict(policy.state_dict())
    return clone.to(next(policy.parameters()).device)


def _torch_dist(dist: object) -> D.Distribution | list:
    """The torch distribution(s) inside an SB3 ``Distribution`` wrapper (or the argument itself)."""
    inner = getattr(dist, "distribution", dist)
    return list(inner) if isinstance(inner, (list, tuple)) else inner


def _slice(dist: D.Distribution | list, idx: torch.Tensor) -> D.Distribution | list:
    if isinstance(dist, list):
        return [_slice(d, idx) for d in dist]
    if isinstance(dist, D.Categorical):
        return D.Categorical(logits=dist.logits[idx])
    if isinstance(dist, D.Bernoulli):
        return D.Bernoulli(logits=dist.logits[idx])
    if isinstance(dist, D.Normal):
        return D.Normal(dist.loc[idx], dist.scale.expand_as(dist.loc)[idx])
    if isinstance(dist, D.TransformedDistribution):
        return D.TransformedDistribution(_slice(dist.base_dist, idx), dist.transforms)
    if isinstance(dist, D.Independent):
        return D.Independent(_slice(dist.base_dist, idx), dist.reinterpreted_batch_ndims)
    raise TypeError(f"unsupported target distribution {type(dist).__name__}")
