"""Contextual-bandit learners of Schaul et al. (2019): batched learners (``train_bandit``), their run
directories (``run_bandit_job``) and the exact two-context dynamics (``dynamics``).
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "BanditConfig": "baselines.bandit.learners",
    "BanditResult": "baselines.bandit.learners",
    "train_bandit": "baselines.bandit.learners",
    "initial_performance": "baselines.bandit.learners",
    "run_bandit_job": "baselines.bandit.runs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
