"""The names of the per-run metrics in ``results.json``'s ``metrics`` (and TensorBoard), defined once.

Writers (the metrics callback, the bandit runs) and readers (analysis, the experiments, the quickstart, the
leaderboard's collapse column) import these, so a renamed metric cannot silently leave a reader empty.
"""

from __future__ import annotations


def repr_key(role: str, name: str) -> str:
    """A representation metric of the ``actor`` or ``critic`` network, e.g. ``repr/actor/pca_rank``."""
    return f"repr/{role}/{name}"


def trust_key(name: str) -> str:
    """A trust-region metric, e.g. ``trust/excess_ratio``."""
    return f"trust/{name}"


PCA_RANK = repr_key("actor", "pca_rank")
DEAD_FRAC = repr_key("actor", "dead_frac")
PREACT_NORM = repr_key("actor", "preact_norm")
EXCESS_RATIO = trust_key("excess_ratio")
SAMPLES_USED = "bandit/samples_used"
