"""Baselines and diagnostics on Stable-Baselines3 (depends on ``wrappers`` and the ``rayenvs`` core only).

Subpackages (see ARCHITECTURE.md):

- ``ppo``: ``RayPPO`` and its interventions (PFO, shared trunk, Adam resets), named variants.
- ``bandit``: the batched bandit learners (``train_bandit``), their runs, exact 2x2 dynamics.
- ``training``: ``run_training`` (SB3 loop, configs, callbacks, checkpoints, ``results.json``, plots).
- ``diagnostics``: metrics callback, interference, TD interference, plateaus, collapse, analysis.
- ``experiments``: one module per reproduced paper experiment (``rayenvs reproduce NAME``).
- ``sweeps``: local or Ray sweeps. ``cli``: the subcommands. ``common``: shared helpers (devices).

The names below are importable from ``baselines`` directly; they load on first use, so ``import baselines``
stays cheap.
"""

from rayenvs.exports import lazy_exports

_EXPORTS = {
    "RayPPO": "baselines.ppo.rayppo",
    "build_model": "baselines.ppo.variants",
    "BanditConfig": "baselines.bandit.learners",
    "BanditResult": "baselines.bandit.learners",
    "train_bandit": "baselines.bandit.learners",
    "run_training": "baselines.training.loop",
    "TrainingConfig": "baselines.training.loop",
    "resolve_config": "baselines.training.config",
    "RunResult": "baselines.training.results",
    "Curve": "baselines.training.results",
    "RepresentationMetricsCallback": "baselines.diagnostics.metrics",
    "metrics_callback_for": "baselines.diagnostics.metrics",
    "analyze_path": "baselines.diagnostics.analysis",
    "detect_plateaus": "baselines.diagnostics.plateaus",
    "detect_collapse": "baselines.diagnostics.collapse",
    "reproduce": "baselines.experiments",
    "SweepSpec": "baselines.sweeps.sweep",
    "load_sweep": "baselines.sweeps.sweep",
    "run_sweep": "baselines.sweeps.sweep",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
