"""Per-component gradient interference (Schaul et al. 2019, Section 3).

Ray interference arises when the gradients of the objective's components J_k point in conflicting directions
through shared parameters. rho_{k,k'} is the cosine similarity of the component gradients; a negative mean
off-diagonal means learning one component unlearns another (for the 2x2 bandit rho = -1/2 everywhere).
:func:`interference_matrix` takes any per-component gradients (the bandit learners' exact ones, or the policy
gradients of :func:`component_policy_gradients` for SB3 actor-critic policies, PPO and RayPPO alike).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def interference_matrix(grads: np.ndarray | torch.Tensor) -> np.ndarray:
    """K x K cosine similarities of the rows of ``grads`` (K, P); rows with zero or non-finite norm give NaN."""
    g = torch.as_tensor(grads).detach().to(torch.float64)
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] < 1:
        raise ValueError(f"grads must be a (K, P) matrix with K, P >= 1, got shape {tuple(g.shape)}")
    norms = torch.linalg.vector_norm(g, dim=1)
    valid = torch.isfinite(norms) & (norms > 0)
    unit = torch.where(valid[:, None], g / torch.where(valid, norms, 1.0)[:, None], torch.nan)
    rho = (unit @ unit.T).clamp(-1.0, 1.0)
    rho[~valid, :] = torch.nan
    rho[:, ~valid] = torch.nan
    return rho.cpu().numpy()


def mean_offdiagonal(matrix: np.ndarray) -> float:
    """Mean of the finite off-diagonal entries (NaN when there are none, e.g. K = 1)."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"matrix must be square, got shape {m.shape}")
    off = m[~np.eye(m.shape[0], dtype=bool)]
    off = off[np.isfinite(off)]
    return float(off.mean()) if off.size else float("nan")


def interference_logs(matrix: np.ndarray, prefix: str = "interference") -> dict[str, float]:
    """Log entries ``{prefix}/mean_offdiag`` and ``{prefix}/rho_i_j`` (i < j), finite values only."""
    m = np.asarray(matrix, dtype=np.float64)
    out = {}
    mean = mean_offdiagonal(m)
    if np.isfinite(mean):
        out[f"{prefix}/mean_offdiag"] = mean
    for i in range(m.shape[0]):
        for j in range(i + 1, m.shape[0]):
            if np.isfinite(m[i, j]):
                out[f"{prefix}/rho_{i}_{j}"] = float(m[i, j])
    return out


def component_policy_gradients(
    policy: nn.Module,
    obs: torch.Tensor,
    actions: torch.Tensor,
    advantages: torch.Tensor,
    components: np.ndarray | torch.Tensor,
    num_components: int,
) -> np.ndarray:
    """Gradient of the policy-gradient loss -mean(A * log pi(a|s)) over each component's samples, as (K, P).

    At the rollout's own parameters PPO's clipped surrogate has exactly this gradient (ratio = 1). Raw
    (unnormalised) advantages are used. Only parameters that receive a gradient (the actor path) are
    stacked; a component without samples gets a NaN row. ``policy`` is an SB3 ``ActorCriticPolicy``.
    """
    if num_components < 1:
        raise ValueError(f"num_components={num_components!r} must be >= 1")
    comp = torch.as_tensor(np.asarray(components)).reshape(-1).long()
    if comp.numel() != len(actions) or len(advantages) != len(actions):
        raise ValueError(
            f"components ({comp.numel()}), actions ({len(actions)}) and advantages ({len(advantages)}) "
            "must have one entry per sample"
        )
    if comp.numel() and (comp.min() < -1 or comp.max() >= num_components):
        raise ValueError(f"component indices must lie in [-1, {num_components - 1}]")
    params = [p for p in policy.parameters() if p.requires_grad]
    log_prob = policy.get_distribution(obs).log_prob(actions)
    log_prob = log_prob.reshape(len(actions), -1).sum(dim=1)
    adv = advantages.reshape(-1).to(log_prob.dtype)
    rows: list[np.ndarray | None] = []
    for k in range(num_components):
        mask = comp == k
        if not bool(mask.any()):
            rows.append(None)
            continue
        loss = -(adv[mask] * log_prob[mask]).mean()
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat([g.reshape(-1) for g in grads if g is not None]).detach().to(torch.float64).cpu().numpy()
        )
    size = next((len(r) for r in rows if r is not None), 0)
    out = np.full((num_components, max(size, 1)), np.nan)
    for k, r in enumerate(rows):
        if r is not None:
            out[k] = r
    return out
