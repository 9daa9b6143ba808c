"""Statistics of the action distributions over a batch of states: variance across states and entropy.

A collapsed policy outputs the same high-entropy distribution in every state: high entropy but ~0 variance
across states (Moalla et al. 2024, Fig. 2), so both are tracked.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import distributions as D


def distribution_parameters(dist: D.Distribution | Sequence[D.Distribution]) -> torch.Tensor:
    """The batch's distribution parameters as an (N, P) matrix.

    Categorical / Bernoulli: the action probabilities; Normal: loc and scale; Independent and transformed
    (e.g. tanh-squashed) distributions use their base distribution; a sequence (MultiDiscrete) concatenates.
    """
    if isinstance(dist, (list, tuple)):
        return torch.cat([distribution_parameters(d) for d in dist], dim=1)
    if isinstance(dist, (D.Categorical, D.Bernoulli)):
        p = dist.probs
    elif isinstance(dist, D.Normal):
        p = torch.cat([dist.loc, dist.scale.expand_as(dist.loc)], dim=-1)
    elif isinstance(dist, (D.Independent, D.TransformedDistribution)):
        return distribution_parameters(dist.base_dist)
    else:
        raise TypeError(
            f"unsupported distribution {type(dist).__name__}; supported: Categorical, Bernoulli, Normal, "
            "Independent, TransformedDistribution or a sequence of them"
        )
    return p.reshape(p.shape[0], -1)


def policy_variance(dist: D.Distribution | Sequence[D.Distribution]) -> float:
    """Variance over the batch of each distribution parameter (population variance), averaged over parameters."""
    params = distribution_parameters(dist).detach().to(torch.float64)
    if params.shape[0] < 1:
        raise ValueError("the distribution batch is empty")
    return float(params.var(dim=0, unbiased=False).mean().item())


def mean_entropy(dist: D.Distribution | Sequence[D.Distribution]) -> float:
    """Entropy of the joint action distribution, averaged over the batch (sums over independent parts)."""
    if isinstance(dist, (list, tuple)):
        return float(sum(mean_entropy(d) for d in dist))
    ent = dist.entropy().detach().to(torch.float64)
    return float(ent.reshape(ent.shape[0], -1).sum(dim=1).mean().item())
