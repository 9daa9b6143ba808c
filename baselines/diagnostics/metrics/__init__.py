"""Representation and trust-region diagnostics of Moalla et al. (2024): pure metrics and an SB3 callback.

The pure functions take arrays/tensors and are exact on closed forms; :class:`RepresentationMetricsCallback`
wires them to an SB3 actor-critic agent (keys documented in :mod:`baselines.diagnostics.metrics.callback`).
"""

from baselines.diagnostics.metrics.callback import RepresentationMetricsCallback, metrics_callback_for
from baselines.diagnostics.metrics.capacity import CapacityBudget, CapacityTarget, clone_policy, kl_divergence
from baselines.diagnostics.metrics.capture import Capture, activation_rule, capture
from baselines.diagnostics.metrics.neurons import dead_units, mean_norm
from baselines.diagnostics.metrics.policy_stats import distribution_parameters, mean_entropy, policy_variance
from baselines.diagnostics.metrics.rank import (
    approximate_rank,
    effective_rank,
    feature_rank,
    pytorch_rank,
    rank_metrics,
    singular_values,
    srank,
)
from baselines.diagnostics.metrics.trust_region import ratio_stats

__all__ = [
    "CapacityBudget",
    "CapacityTarget",
    "Capture",
    "RepresentationMetricsCallback",
    "metrics_callback_for",
    "activation_rule",
    "approximate_rank",
    "capture",
    "clone_policy",
    "dead_units",
    "distribution_parameters",
    "effective_rank",
    "feature_rank",
    "kl_divergence",
    "mean_entropy",
    "mean_norm",
    "policy_variance",
    "pytorch_rank",
    "rank_metrics",
    "ratio_stats",
    "singular_values",
    "srank",
]
