"""Unit-level statistics of a layer: dead units and activation norms (Moalla et al. 2024, Section 2 and fn. 7).

Collapsed policies have most penultimate units dead while the pre-activation norm blows up (the feature norm
alone can look stable), so both norms and the dead count are tracked.
"""

from __future__ import annotations

import numpy as np
import torch

DEAD_RULES = ("relu", "tanh")
TANH_DEAD_STD = 1e-3


def _as_2d(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(x).detach()
    if t.ndim < 2:
        raise ValueError(f"activations must have a batch axis and >= 1 unit, got shape {tuple(t.shape)}")
    if t.shape[0] < 1:
        raise ValueError("activations must hold at least one sample")
    return t.reshape(t.shape[0], -1).to(torch.float64)


def dead_units(activations: np.ndarray | torch.Tensor, rule: str) -> tuple[int, float]:
    """Count and fraction of dead units (conv maps count each position as a unit).

    ``rule="relu"``: a unit is dead when its post-activation is exactly 0 on every sample of the batch.
    ``rule="tanh"``: a unit is dead when its post-activation's std across the batch is below 0.001
    (population std; a single sample therefore has every unit dead).
    """
    if rule not in DEAD_RULES:
        raise ValueError(f"rule={rule!r} must be one of {DEAD_RULES}")
    a = _as_2d(activations)
    if rule == "relu":
        dead = (a == 0).all(dim=0)
    else:
        dead = a.std(dim=0, unbiased=False) < TANH_DEAD_STD
    count = int(dead.sum().item())
    return count, count / a.shape[1]


def mean_norm(activations: np.ndarray | torch.Tensor) -> float:
    """Per-sample L2 norm over all units, averaged over the batch."""
    return float(torch.linalg.vector_norm(_as_2d(activations), dim=1).mean().item())
