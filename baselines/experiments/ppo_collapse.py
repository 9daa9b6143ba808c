"""``rayenvs reproduce ppo-collapse`` (Moalla et al. 2024): PPO's representation collapse, and the interventions.

Three settings (``--setting``, defined with :data:`TRIED` in :mod:`baselines.experiments.ppo_collapse_settings`):

- ``permuted`` (default): the ``cheap`` agent under a changing target, its observation entries permuted anew
  every 16,384 steps (:class:`wrappers.permuted.PermutedObservations`, a departure from the paper's single
  tasks that the report states): the cheapest setting found where baseline PPO's *return* collapses (below a
  uniform-random policy's, in every seed, with the paper's representation signature), beside PFO, a shared
  trunk, Adam reset and the same baseline at 10 epochs per rollout. The report compares each phase's end
  return with the first phase's.
- ``cheap``: the cheapest single-task configuration found on this suite where baseline PPO degrades the way the
  paper describes (MultiRoom, ReLU, many epochs, a high learning rate), with baseline, PFO, a shared
  actor-critic trunk and Adam reset beside it, three seeds. Its representation degrades (norm, excess ratio,
  dead units up) but its return does not collapse: no single-task setting tried on this suite within CPU budgets
  made the return collapse; :data:`TRIED` lists every one and its outcome, and goes into the report.
- ``hopper``: the paper's MuJoCo experiment, Hopper (Gymnasium v5 here; the paper: v4) with 10, 15 and 20
  epochs per rollout plus PFO, shared trunk and Adam reset at 20 epochs, five seeds and 5M steps a run, capacity
  loss measured. It needs hours of GPU/CPU time (the sweep files in ``baselines/experiments/sweeps/`` run it on
  Ray); its ``--quick`` runs the pipeline on 4096 steps and cannot show collapse.

Each writes ``ppo_collapse.png`` (returns, PCA rank, dead units, pre-activation norm, excess ratio, and
capacity loss for ``hopper``: seed mean and band), ``report.md`` with a *paper claim / ours / in band?* table
(:mod:`baselines.experiments.ppo_collapse_report`) and ``summary.json``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from baselines.diagnostics.analysis import analyze_result
from baselines.experiments.ppo_collapse_phases import phase_claims, phase_stats
from baselines.experiments.ppo_collapse_report import (
    BASE_PANELS,
    CAPACITY_PANEL,
    CORRELATED,
    claims,
    plot_variants,
    report_text,
    series_stats,
)
from baselines.experiments.ppo_collapse_settings import (  # noqa: F401 - re-exported: the settings' public home
    CHEAP,
    HOPPER,
    PERMUTED,
    SETTINGS,
    TRIED,
    PPOConfig,
    Setting,
    check_setting,
)
from baselines.experiments.report import REPORT_FILE, SUMMARY_FILE, output_dir
from rayenvs.atomic import atomic_write_json, atomic_write_text
from rayenvs.validation import check_int

SWEEP_DIR = Path(__file__).resolve().parent / "sweeps"  # the paper-budget hopper runs as Ray sweep files
METRIC_POINTS = 250  # full runs measure about this many rollouts
# capacity fits per run when a setting measures it (each costs a rollout and a short fit)
CAPACITY_POINTS = 25
PERMUTATION_SEED = 0  # one permutation sequence for every run of a changing-target setting: same phases to compare


def _phase_wrappers(phase_steps: int | None) -> tuple[tuple[Any, ...], list[Any]]:
    """The env wrapper permuting observations every ``phase_steps`` steps and the callback driving its clock
    (one clock per run, shared by its training and evaluation envs); nothing without ``phase_steps``."""
    if not phase_steps:
        return (), []
    import numpy as np

    from baselines.training.callbacks import StepClockCallback
    from wrappers.permuted import PermutedObservations

    clock = np.zeros(1, dtype=np.int64)
    wrap = partial(PermutedObservations, period=phase_steps, seed=PERMUTATION_SEED, clock=clock)
    return (wrap,), [StepClockCallback(clock)]


def _ppo_stats(rs: Sequence[Any], panels: Sequence[tuple[str, str, bool]]) -> dict[str, Any]:
    out: dict[str, Any] = {"seeds": len(rs)}
    for key, _, _ in panels:
        out[key] = series_stats(rs, key)
    # each seed's final value (last 10% of its points) of the metrics the correlation claim reads
    out["seed_finals"] = {key: [series_stats([r], key)["final"] for r in rs] for key in CORRELATED}
    verdicts = [analyze_result(r)["collapse"] for r in rs]
    out["collapsed_runs"] = sum(bool(v["collapsed"]) for v in verdicts)
    out["collapse_steps"] = [v["step"] for v in verdicts]
    return out


def reproduce_ppo_collapse(
    out_dir: str | Path | None = None,
    quick: bool = False,
    setting: str = "permuted",
    timesteps: int | None = None,
    seeds: int | None = None,
    configs: Sequence[PPOConfig] | None = None,
    overrides: dict[str, Any] | None = None,
    eval_episodes: int | None = None,
    device: str = "auto",
    progress: bool = True,
) -> dict[str, Any]:
    """Train every configuration of ``setting`` for ``seeds`` seeds, then write the figure, report.md, summary.json.

    ``quick`` uses the setting's quick budget, seeds and configuration subset. ``timesteps``, ``configs`` and
    ``overrides`` (applied to every configuration, after the setting's and before its own) shrink it further
    for tests. Finished runs under ``out_dir/runs*`` are reused and interrupted ones resumed.
    """
    from baselines.common.progress import job_bar
    from baselines.diagnostics.metrics import RepresentationMetricsCallback
    from baselines.ppo.variants import canonical_variant
    from baselines.training.config import resolve_config
    from baselines.training.loop import check_device, run_training
    from baselines.training.results import RunResult

    st = check_setting(setting)
    phase_steps = st.quick_phase_steps if quick else st.phase_steps
    check_device(device)
    seeds = seeds if seeds is not None else (st.quick_seeds if quick else st.full_seeds)
    check_int("seeds", seeds)
    check_int("timesteps", timesteps, allow_none=True)
    check_int("eval_episodes", eval_episodes, allow_none=True)
    if configs is None:
        configs = tuple(
            c for c in st.configs if not quick or st.quick_labels is None or c.label in st.quick_labels
        )
    if not configs or len({c.label for c in configs}) != len(configs):
        raise ValueError(f"configs must be non-empty with distinct labels, got {[c.label for c in configs]}")
    if st.roles["baseline"] not in {c.label for c in configs}:
        raise ValueError(
            f"configs {[c.label for c in configs]} must include the baseline {st.roles['baseline']!r}"
        )
    steps = timesteps if timesteps is not None else (st.quick_timesteps if quick else st.full_timesteps)
    base = {**st.overrides, **(st.quick_overrides if quick else {}), **(overrides or {})}
    episodes = eval_episodes if eval_episodes is not None else (3 if quick else st.eval_episodes)
    panels = BASE_PANELS + ((CAPACITY_PANEL,) if st.capacity else ())
    # resolve every configuration first: a bad override or variant fails before any training starts
    cadence = {}
    for cfg in configs:
        canonical_variant(cfg.variant)
        resolved = resolve_config(st.env_id, None, {**base, **cfg.overrides}, timesteps=steps)
        rollouts = int(resolved["n_timesteps"]) // (int(resolved["n_steps"]) * int(resolved.get("n_envs", 1)))
        capacity = max(1, rollouts // CAPACITY_POINTS) if st.capacity else 0
        cadence[cfg.label] = (max(1, rollouts // METRIC_POINTS), capacity)
    out = output_dir(out_dir, "ppo-collapse")
    runs_root = out / ("runs-quick" if quick else "runs") / st.name

    t0 = time.perf_counter()
    jobs = [(c, s) for c in configs for s in range(seeds)]
    runs: dict[str, list[Any]] = {c.label: [] for c in configs}
    bar = job_bar(jobs, desc=f"ppo-collapse {st.name}", disable=not progress)
    for cfg, seed in bar:
        bar.set_postfix_str(f"{cfg.label} seed {seed}")
        wrappers, clock_cbs = _phase_wrappers(phase_steps)
        metrics = RepresentationMetricsCallback(
            every_n_rollouts=cadence[cfg.label][0],
            capacity_every_n=cadence[cfg.label][1],
            interference_every_n=0,
            seed=seed,
        )
        rdir = run_training(
            st.env_id,
            variant=cfg.variant,
            seed=seed,
            timesteps=steps,
            run_dir=runs_root / cfg.label / f"seed_{seed}",
            overrides={**base, **cfg.overrides},
            extra_callbacks=[*clock_cbs, metrics],
            env_wrappers=wrappers,
            progress=progress and not quick,
            device=device,
            eval_episodes=episodes,
            resume=True,
        )
        runs[cfg.label].append(RunResult.load(rdir))
    from rayenvs.registration import env_info

    random_return = env_info(st.env_id).random_return
    files = [plot_variants(runs, panels, out / "ppo_collapse.png", phase_steps, random_return)]
    labels = {c.label for c in configs}
    summary: dict[str, Any] = {
        "experiment": "ppo-collapse",
        "setting": st.name,
        "quick": quick,
        "env_id": st.env_id,
        "reward_kind": st.reward_kind,
        "seeds": seeds,
        "timesteps": int(runs[configs[0].label][0].total_timesteps),
        "runs_dir": str(runs_root.relative_to(out)),
        "roles": {role: label for role, label in st.roles.items() if label in labels},
        "configs": {
            c.label: {
                "variant": c.variant,
                "overrides": {**base, **c.overrides},
                **_ppo_stats(runs[c.label], panels),
                **({"phases": phase_stats(runs[c.label], phase_steps)} if phase_steps else {}),
            }
            for c in configs
        },
        "phase_steps": phase_steps,
        "random_return": random_return,
        "wall_time_s": time.perf_counter() - t0,
        # what the runs themselves took, reused ones included (a re-run that reuses every run is seconds)
        "train_time_s": sum(float(r.wall_time_s) for rs in runs.values() for r in rs),
    }
    rows = (phase_claims(summary) if phase_steps else []) + claims(summary)
    summary["claims"] = [{"claim": c, "ours": o, "in_band": b} for c, o, b in rows]
    files.append(atomic_write_text(out / REPORT_FILE, report_text(summary, st.description, TRIED)))
    files.append(atomic_write_json(out / SUMMARY_FILE, summary))
    summary["files"] = [str(p) for p in files]
    return summary
