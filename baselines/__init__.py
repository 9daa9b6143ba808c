"""Baselines and diagnostics on Stable-Baselines3 (depends on ``wrappers`` and the ``rayenvs`` core only).

Module map:

- PPO and its interventions: ``ppo`` (RayPPO), ``policies`` (shared trunk, TanhNormal), ``pfo``, ``variants``.
- Training: ``config`` + ``configs/*.yaml``, ``training`` (``run_training``), ``callbacks``, ``plots``,
  ``results`` (the results.json schema), ``train_cli``.
- Bandit learners: ``bandit_learners`` (``train_bandit``), ``bandit_runs`` (as run directories),
  ``bandit_dynamics`` (exact 2x2 dynamics).
- Diagnostics: ``metrics/`` (representation and trust-region metrics callback), ``interference``,
  ``td_interference``, ``plateaus``, ``collapse``, ``analysis`` + ``analyze_cli``, ``reproduce`` + ``reproduce_cli``.
- Sweeps: ``sweep`` (local process pool or Ray).
"""
