"""Per-phase returns and claims of ``ppo-collapse`` settings with a changing target (inputs permuted every
``phase_steps`` env steps, :class:`wrappers.permuted.PermutedObservations`).

A fully connected network's initial distribution does not change when its inputs are permuted, so for a fresh
network every phase is the first phase's task again: a learner that keeps its plasticity regains the first
phase's return in each phase, and one that does not stays below it. What is compared is therefore each
phase's *end* return (training episodes in its last quarter) with the first phase's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from baselines.experiments.report import fmt

PHASE_END_FRACTION = 0.25  # a phase's end return: training episodes in the last quarter of the phase
LOST_FRACTION = 0.5  # a run lost plasticity if its later phases' mean end return is below this x phase 1's


def phase_end_returns(run: Any, phase_steps: int) -> list[float | None]:
    """Mean training-episode return over the last quarter of each phase (None where no episode ended there)."""
    curve = run.train if run.train is not None and run.train.steps else run.eval
    phases = math.ceil(int(run.total_timesteps) / phase_steps)
    out: list[float | None] = []
    for p in range(phases):
        lo, hi = (p + 1 - PHASE_END_FRACTION) * phase_steps, (p + 1) * phase_steps
        rets = [x for s, rs in zip(curve.steps, curve.returns, strict=True) if lo < s <= hi for x in rs]
        out.append(float(np.mean(rets)) if rets else None)
    return out


def later_over_first(ends: Sequence[float | None]) -> float | None:
    """Mean end return of phases 2.. divided by phase 1's; None without a positive phase 1 or a later phase."""
    later = [v for v in ends[1:] if v is not None]
    if not ends or ends[0] is None or ends[0] <= 0 or not later:
        return None
    return float(np.mean(later)) / ends[0]


def phase_stats(runs: Sequence[Any], phase_steps: int) -> dict[str, Any]:
    """Each seed's phase-end returns, their seed mean per phase, each seed's later/first ratio, and how many
    seeds lost plasticity (ratio below :data:`LOST_FRACTION`)."""
    per_seed = [phase_end_returns(r, phase_steps) for r in runs]
    phases = max((len(e) for e in per_seed), default=0)
    mean = []
    for p in range(phases):
        vals = [e[p] for e in per_seed if p < len(e) and e[p] is not None]
        mean.append(float(np.mean(vals)) if vals else None)
    ratios = [later_over_first(e) for e in per_seed]
    return {
        "seed_phase_ends": per_seed,
        "phase_ends": mean,
        "seed_ratios": ratios,
        "lost_runs": sum(r is not None and r < LOST_FRACTION for r in ratios),
    }


def _ends(values: Sequence[float | None]) -> str:
    return ", ".join(fmt(v) for v in values)


def _mean_ratio(stats: dict[str, Any]) -> float | None:
    vals = [r for r in stats["seed_ratios"] if r is not None]
    return float(np.mean(vals)) if vals else None


def phase_claims(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The plasticity claims of a changing-target setting, read from each configuration's ``phases`` stats."""
    roles, cfgs = summary["roles"], summary["configs"]
    base = cfgs[roles["baseline"]]
    b = base["phases"]
    seeds = base["seeds"]
    steps = summary["phase_steps"]
    out = [(
        f"Under a changing target (here: inputs permuted every {steps} steps, a departure from the paper's single "
        "tasks), baseline PPO loses plasticity: after its first-phase peak, later phases stay well below it "
        "(Sec. 3, 'loss of plasticity makes performance collapse unrecoverable'; Dohare et al.)",
        f"`{roles['baseline']}` phase-end training return by phase (seed mean): {_ends(b['phase_ends'])}; later "
        f"phases / phase 1: {fmt(_mean_ratio(b), '.2f')} (seed mean); {b['lost_runs']}/{seeds} seeds below "
        f"{LOST_FRACTION:g}x their phase 1",
        "yes" if b["lost_runs"] * 2 > seeds else "no",
    )]  # fmt: skip
    names = {"pfo": "PFO", "shared_trunk": "shared trunk", "adam_reset": "Adam reset"}
    parts, better = [], []
    for role, name in names.items():
        if role not in roles or roles[role] not in cfgs:
            continue
        s = cfgs[roles[role]]["phases"]
        ratio, base_ratio = _mean_ratio(s), _mean_ratio(b)
        parts.append(
            f"{name}: phase ends {_ends(s['phase_ends'])}, later / phase 1 {fmt(ratio, '.2f')}, "
            f"{s['lost_runs']}/{cfgs[roles[role]]['seeds']} seeds lost"
        )
        better.append(
            ratio is not None and base_ratio is not None and ratio > base_ratio and s["lost_runs"] < b["lost_runs"]
        )
    if parts:
        out.append((
            "The interventions that regularise the representation or the optimiser (PFO, shared trunk, Adam "
            "reset) mitigate the collapse (Sec. 4)",
            "; ".join(parts) + f" (baseline: later / phase 1 {fmt(_mean_ratio(b), '.2f')}, {b['lost_runs']}/{seeds} lost)",
            "yes" if all(better) else f"partly ({sum(better)}/{len(better)})" if any(better) else "no",
        ))  # fmt: skip
    return out
