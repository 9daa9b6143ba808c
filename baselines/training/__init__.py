"""The SB3 training loop (``run_training``): configs (``config`` + ``configs/*.yaml``), callbacks,
checkpoints, the ``results.json`` schema (``results``) and plots.
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "run_training": "baselines.training.loop",
    "TrainingConfig": "baselines.training.loop",
    "make_train_env": "baselines.training.vec_env",
    "make_vector_env": "baselines.training.vec_env",
    "run_dir_for": "baselines.training.loop",
    "resolve_config": "baselines.training.config",
    "split_config": "baselines.training.config",
    "Curve": "baselines.training.results",
    "RunResult": "baselines.training.results",
    "evaluate_components": "baselines.training.callbacks",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
