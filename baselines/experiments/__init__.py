"""Reproduced paper experiments, one module each (bsuite-style), run by ``rayenvs reproduce NAME``.

- ``ray_bandit``: Schaul et al. (2019), ray interference on the K x n contextual bandit (Figs. 1-9).
- ``ppo_collapse``: Moalla et al. (2024), PPO's representation collapse (a cheap MultiRoom setting and the
  paper's Hopper grid) beside PFO, a shared trunk and Adam reset; ``ppo_collapse_report`` writes its figure and table.
- ``ppo_trust_toy``: Moalla et al. (2024) Section 3.2.1, the trust region breaking down as features lose rank.
- ``td_interference``: Bengio et al. (2020), TD(lambda) vs regression interference on Glimpse (Figs. 3-5, 11);
  ``td_generalisation`` (run by it): interference vs the generalisation gap (Figs. 1, 2, 6, 8).
- ``multiroom_interference``: Schaul et al. (2019) Section 3.3, ray interference of PPO on MultiRoom-Doors.
- ``ray_bandit_figures``: the exact-flow figures (2, 5, 6, 8) of ``ray_bandit``; ``ray_bandit_grid``: its sweeps
  (Fig. 7's K x n grid, Fig. 9's step sizes and optimizers, the start-recipe calibration).

:data:`EXPERIMENTS` maps each name to its module and entry point as strings, so the CLI lists the choices
without importing torch; a new experiment is a new module plus one line here. ``report`` holds what they share.
"""

from __future__ import annotations

import importlib
from typing import Any

EXPERIMENTS: dict[str, str] = {
    "ray-bandit": "baselines.experiments.ray_bandit:reproduce_ray_bandit",
    "ppo-collapse": "baselines.experiments.ppo_collapse:reproduce_ppo_collapse",
    "ppo-trust-toy": "baselines.experiments.ppo_trust_toy:reproduce_ppo_trust_toy",
    "td-interference": "baselines.experiments.td_interference:reproduce_td_interference",
    "multiroom-interference": "baselines.experiments.multiroom_interference:reproduce_multiroom_interference",
}

__all__ = ["EXPERIMENTS", "reproduce"]


def reproduce(name: str, **kwargs: Any) -> dict[str, Any]:
    """Run the experiment registered as ``name`` (a key of :data:`EXPERIMENTS`); returns its summary."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment {name!r} is not one of {tuple(EXPERIMENTS)}")
    module, func = EXPERIMENTS[name].split(":")
    return getattr(importlib.import_module(module), func)(**kwargs)
