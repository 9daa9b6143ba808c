"""Probability-ratio statistics of PPO's trust region (Moalla et al. 2024, Section 4 and Appendix C).

After an update phase, r = pi_new(a|s) / pi_old(a|s) on the rollout's own samples shows whether clipping
kept the policy in its trust region: the mean of the ratios above 1 + eps and of those below 1 - eps, and the
excess ratio (their quotient), which grows as the representation collapses.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Continuous distributions can send ratios to 0 or infinity before collapse; the paper clips the averages
# to [1e-12, 1e12] before taking the excess ratio.
RATIO_CLIP = 1e12


def ratio_stats(
    new_log_prob: np.ndarray | torch.Tensor, old_log_prob: np.ndarray | torch.Tensor, eps: float
) -> dict[str, float]:
    """``ratio_above``, ``ratio_below`` (each only when its set is non-empty) and ``excess_ratio`` (when both).

    Also returns ``frac_above`` and ``frac_below``: the fractions of samples outside the trust region.
    """
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps={eps!r} must lie in (0, 1)")
    new = torch.as_tensor(new_log_prob, dtype=torch.float64).reshape(-1)
    old = torch.as_tensor(old_log_prob, dtype=torch.float64).reshape(-1)
    if new.shape != old.shape or new.numel() == 0:
        raise ValueError(
            f"log-prob batches must be non-empty and equal in size, got {new.numel()} and {old.numel()}"
        )
    ratio = torch.exp(new - old)
    above = ratio[ratio > 1.0 + eps]
    below = ratio[ratio < 1.0 - eps]
    out = {"frac_above": above.numel() / ratio.numel(), "frac_below": below.numel() / ratio.numel()}
    if above.numel():
        out["ratio_above"] = min(float(above.mean().item()), RATIO_CLIP)
    if below.numel():
        out["ratio_below"] = max(float(below.mean().item()), 1.0 / RATIO_CLIP)
    if above.numel() and below.numel():
        out["excess_ratio"] = out["ratio_above"] / out["ratio_below"]
    return {k: v for k, v in out.items() if math.isfinite(v)}
