"""Capacity (plasticity) loss of a checkpoint (Lyle et al. 2022, as used by Moalla et al. 2024, Section 2).

A network that has lost plasticity can no longer fit new targets. The targets are the outputs of a randomly
initialised network of the agent's architecture on data that network collected: the agent's *initial* policy
and its first rollout satisfy both, so the metrics callback snapshots them once. At a checkpoint, a copy of the
current network is fitted to those targets with a fresh Adam (the training learning rate) for a fixed budget
(epochs x minibatch); the capacity loss is the loss on the whole dataset at the end of the budget:
KL(target || model) for the actor, MSE for the critic. Actor and critic are fitted as separate copies so
that, with a shared features extractor, one loss does not help or hurt the other's measurement.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

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


class CapacityTarget:
    """The fixed dataset and the initial network's outputs on it (computed once, reused at every checkpoint)."""

    def __init__(self, initial_policy: nn.Module, obs: torch.Tensor) -> None:
        if len(obs) < 1:
            raise ValueError("the capacity dataset must hold at least one observation")
        self.obs = obs
        with torch.no_grad():
            self.actor_dist = _torch_dist(initial_policy.get_distribution(obs))
            self.values = initial_policy.predict_values(obs).detach()

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
        self, policy: nn.Module, lr: float, budget: CapacityBudget, seed: int = 0
    ) -> dict[str, float]:
        """``actor_kl`` and ``critic_mse`` after fitting copies of ``policy`` to the targets; ``policy`` is untouched."""
        if not lr > 0:
            raise ValueError(f"lr={lr!r} must be > 0")
        out = {}
        for key, loss_fn in (("actor_kl", self.actor_loss), ("critic_mse", self.critic_loss)):
            model = clone_policy(policy)
            model.train()
            optimizer = torch.optim.Adam(model.parameters(), lr=lr)
            generator = torch.Generator().manual_seed(seed)
            for idx in self._batches(budget, generator):
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model, idx).backward()
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
