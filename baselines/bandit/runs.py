"""Bandit-learner runs as run directories: the batched learner's output in the common results.json format.

One call learns every seed of one (bandit id, mode) at once with :func:`baselines.bandit.learners.train_bandit`
and writes one run directory per seed, so sweeps, ``rayenvs analyze`` and the leaderboard treat bandit
learners like any other algorithm. Seeds are columns of one batch: seed ``s`` at position ``i`` of the
sorted seed list is column ``i`` of a batch drawn with generator seed ``min(seeds)``; the batch is recorded
in the config (identical for every seed of the batch, so they form one leaderboard entry), and the same
seed list reproduces the same runs.

The "evaluation" points are exact, not sampled: at each logged update the expected episode return of the
policy under uniform contexts is ``J / K`` and component ``k`` contributes ``J_k / K`` (the component
contract's per-episode accounting), stored as one exact "episode" per point.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.bandit.learners import train_bandit
from baselines.common.metric_keys import SAMPLES_USED
from baselines.training.results import Curve, RunResult, hardware_info, library_versions
from rayenvs.registration import env_info

ALGO = "reinforce"
MAX_POINTS = 400  # results.json stays small whatever the budget


def run_bandit_job(
    env_id: str,
    mode: str,
    seeds: Sequence[int],
    run_dirs: Sequence[Path],
    max_samples: int | None = None,
    device: str = "cpu",
    **learner_kwargs: Any,
) -> list[Path]:
    """Learn all ``seeds`` of ``mode`` on a registered bandit id; write and return their run directories."""
    info = env_info(env_id)
    if info.family != "bandit":
        raise ValueError(f"env id {env_id!r} is a {info.family} env; bandit learners need a bandit id")
    if len(seeds) != len(run_dirs) or not seeds:
        raise ValueError(f"got {len(seeds)} seeds for {len(run_dirs)} run directories; need the same, >= 1")
    k = int(info.kwargs.get("num_contexts", 2))
    n = int(info.kwargs.get("num_arms", 2))
    max_samples = int(max_samples or 100_000)
    order = np.argsort(seeds)
    batch_seed = int(min(seeds))
    log_every = max(1, (max_samples // k) // MAX_POINTS)
    start = time.perf_counter()
    result = train_bandit(
        k, n, mode, len(seeds), max_samples=max_samples, device=device, seed=batch_seed,
        log_every=log_every, **learner_kwargs,
    )
    wall = time.perf_counter() - start
    names = [f"context_{i}" for i in range(k)]
    steps = [int(s) for s in result.samples]
    out = []
    for col, pos in enumerate(order):
        seed = int(seeds[pos])
        J = result.J[:, col, :]
        curve = Curve(
            steps=steps,
            returns=[[float(row.sum() / k)] for row in J],
            component_returns=[[list(map(float, row / k))] for row in J],
            deterministic=True,
            episodes_per_point=1,
        )
        # A seed that reached the target is frozen while the rest of the batch learns on, so its curve runs
        # to the batch's end; the samples it actually used are kept as a metric.
        used = int(result.stop_update[col]) * k
        metrics = {SAMPLES_USED: [(steps[-1], float(used))]}
        if result.rho_mean is not None:
            metrics["interference/mean_offdiag"] = [(s, float(v)) for s, v in zip(steps, result.rho_mean[:, col],
                                                                                  strict=True)]
        # The learner's own "seed" is the batch's generator seed, not this run's: keep it as batch_seed.
        config = {k_: v for k_, v in result.config.items() if k_ != "seed"}
        config.update(batch_seed=batch_seed, batch_seeds=sorted(int(s) for s in seeds), exact_expectation=True)
        run = RunResult(
            env_id=env_id, algo=ALGO, variant=mode, seed=seed, config=config, component_names=names,
            total_timesteps=steps[-1], eval=curve, metrics=metrics,
            versions=library_versions(), hardware=hardware_info(result.config["device"]),
            wall_time_s=wall / len(seeds),
        )
        run.save(run_dirs[pos])
        out.append(Path(run_dirs[pos]))
    return out
