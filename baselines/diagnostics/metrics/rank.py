"""Rank measures of a feature matrix (Moalla et al. 2024, Appendix E.1).

A collapsing representation loses rank before (and while) the return collapses, so these are the headline
diagnostics. All measures work on the singular values of the raw, uncentred N x D feature matrix, in
decreasing order, with threshold ``delta = 0.01``. Relative measures (effective rank, PCA rank, srank) ignore
the scale of the features; absolute ones (feature rank, PyTorch rank) do not.
"""

from __future__ import annotations

import numpy as np
import torch

DELTA = 0.01


def _as_matrix(features: np.ndarray | torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(features).detach()
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D (samples x features) matrix, got shape {tuple(x.shape)}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"features must have >= 1 sample and >= 1 feature, got shape {tuple(x.shape)}")
    return x.to(torch.float64) if not x.is_floating_point() else x


def singular_values(features: np.ndarray | torch.Tensor) -> np.ndarray:
    """Singular values of the feature matrix in decreasing order (float64)."""
    return torch.linalg.svdvals(_as_matrix(features).to(torch.float64)).cpu().numpy()


def _check_delta(delta: float) -> None:
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta={delta!r} must lie in (0, 1)")


def effective_rank(sigma: np.ndarray) -> float:
    """Roy & Vetterli: exp of the entropy of the normalised singular values (0 for an all-zero matrix)."""
    s = np.asarray(sigma, dtype=np.float64)
    total = s.sum()
    if total <= 0.0:
        return 0.0
    p = s[s > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def _cumulative_rank(values: np.ndarray, delta: float) -> int:
    total = values.sum()
    if total <= 0.0:
        return 0
    ratio = np.cumsum(values) / total
    # Smallest k whose leading values hold >= 1 - delta of the total (tolerance for float rounding).
    return int(np.searchsorted(ratio, 1.0 - delta - 1e-12) + 1)


def approximate_rank(sigma: np.ndarray, delta: float = DELTA) -> int:
    """PCA rank: smallest k with sum_{i<=k} sigma_i^2 >= (1 - delta) sum sigma^2 (the paper's feature rank)."""
    _check_delta(delta)
    return _cumulative_rank(np.asarray(sigma, dtype=np.float64) ** 2, delta)


def srank(sigma: np.ndarray, delta: float = DELTA) -> int:
    """Kumar et al.: smallest k with sum_{i<=k} sigma_i >= (1 - delta) sum sigma."""
    _check_delta(delta)
    return _cumulative_rank(np.asarray(sigma, dtype=np.float64), delta)


def feature_rank(sigma: np.ndarray, num_samples: int, delta: float = DELTA) -> int:
    """Lyle et al.: number of singular values with sigma_i / sqrt(N) > delta."""
    _check_delta(delta)
    if num_samples < 1:
        raise ValueError(f"num_samples={num_samples!r} must be >= 1")
    return int((np.asarray(sigma, dtype=np.float64) / np.sqrt(num_samples) > delta).sum())


def pytorch_rank(features: np.ndarray | torch.Tensor) -> int:
    """``torch.linalg.matrix_rank`` with its default tolerance (sigma_max * max(N, D) * eps of the dtype)."""
    return int(torch.linalg.matrix_rank(_as_matrix(features)).item())


def rank_metrics(features: np.ndarray | torch.Tensor, delta: float = DELTA) -> dict[str, float]:
    """All five rank measures of one feature matrix, keyed as logged by the metrics callback."""
    x = _as_matrix(features)
    sigma = singular_values(x)
    return {
        "effective_rank": effective_rank(sigma),
        "pca_rank": float(approximate_rank(sigma, delta)),
        "srank": float(srank(sigma, delta)),
        "feature_rank": float(feature_rank(sigma, x.shape[0], delta)),
        "pytorch_rank": float(pytorch_rank(x)),
    }
