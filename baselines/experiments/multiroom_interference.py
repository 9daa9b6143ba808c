"""``rayenvs reproduce multiroom-interference``: ray interference beyond the bandit (Schaul et al. 2019, §3.3).

The paper argues that RL domains made of rooms behave like its contextual bandit when one network serves all
rooms and on-policy data couples what is learned about a room to how well the room is already done
(``f_k(0) ~ 0``): rooms are learned one at a time, with plateaus in between, and two controls remove the
effect, a separate network per component and off-policy data (behaviour mixed with 10% uniform actions).
Here PPO learns ``MultiRoom-R4-Doors-v0`` (each room's reward behind a doorway in a neighbour room, out of
sight; even rooms go right, odd rooms left) in three configurations, on many seeds:

- ``shared``: one PPO network for all rooms (SB3's MlpPolicy);
- ``separate``: one PPO network per room, each trained on episodes of its own room only, for ``1/R`` of the
  budget with ``1/R`` of the envs and of the minibatch, so that each room gets the data it gets under
  ``shared`` and its network as many updates, of as many gradient steps (curves are drawn against the
  total env steps of the R networks);
- ``mixed``: one network whose rollouts follow ``0.9 * pi + 0.1 * uniform`` with importance-weighted PPO
  ratios (:class:`baselines.ppo.mixture.EpsilonMixturePolicy`).

Every evaluation point plays 64 episodes with the policy sampled (J_k is an expected return, as in the
paper). Per seed: the per-room curves, steps until each room reaches :data:`THRESHOLD` (the learning order),
the *stagger* between the first and the last room learned, and the plateau detector on the total and on each
room's curve. Across seeds: means with 95% bootstrap intervals and the differences to ``shared``.
The figures are drawn by :mod:`baselines.experiments.multiroom_interference_figures`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.report import REPORT_FILE, SUMMARY_FILE, fmt, output_dir
from rayenvs.atomic import atomic_write_json, atomic_write_text
from rayenvs.validation import check_int

ENV_ID = "rayenvs/MultiRoom-R4-Doors-v0"
QUICK_ENV_ID = "rayenvs/MultiRoom-R2-Doors-v0"
FULL_SEEDS, QUICK_SEEDS = 10, 2
FULL_TIMESTEPS, QUICK_TIMESTEPS = 100_000, 30_000
EVAL_POINTS = 40  # evaluations per run
EVAL_EPISODES = 64  # episodes per evaluation of a network serving all rooms
THRESHOLD = 0.5  # a room is "learned" (half-solved) once its 3-point smoothed return reaches this
MIX_EPSILON = 0.1  # the paper's Fig. 6: 10% uniform-random actions
BOOTSTRAP = 2000
SUPPRESSION_WINDOW = 5  # evaluations in a row without the room's reward (see ``suppressed``)
SHARED_N_ENVS, SHARED_BATCH = 8, 256  # the shipped MultiRoom-Doors config's (baselines/training/configs)


@dataclass(frozen=True)
class Config:
    """One line of the comparison: PPO overrides, and whether each room gets its own network."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict)
    per_room: bool = False


CONFIGS = (
    Config("shared"),
    Config("separate", per_room=True),
    Config("mixed", {"policy": "EpsilonMixtureMlpPolicy", "policy_kwargs": {"behaviour_epsilon": MIX_EPSILON}}),
)


# ---------------------------------------------------------------------------------------------- training


def _job(args: tuple[Any, ...]) -> str:
    """One PPO run in a worker process (torch on one thread); returns its run directory."""
    env_id, seed, steps, rdir, overrides, env_kwargs, episodes, device = args
    from baselines.common.threads import cap_torch_threads

    cap_torch_threads(1)
    from baselines.training.loop import run_training

    over = dict(overrides)
    if env_kwargs:
        over["env_kwargs"] = env_kwargs
    return str(
        run_training(
            env_id, seed=seed, timesteps=steps, run_dir=rdir, overrides=over, progress=False, device=device,
            eval_episodes=episodes, eval_freq=max(1, steps // EVAL_POINTS), eval_deterministic=False, resume=True,
        )
    )  # fmt: skip


def _jobs(env_id: str, rooms: int, seeds: int, steps: int, root: Path, device: str) -> list[tuple]:
    jobs = []  # seed-major: an interrupted run leaves whole seeds done
    for seed in range(seeds):
        for cfg in CONFIGS:
            if cfg.per_room:
                for k in range(rooms):
                    rdir = root / cfg.label / f"seed_{seed}" / f"room_{k}"
                    # a network per room: 1/R of the budget, of the envs, of the minibatch and of the
                    # evaluation episodes (all in its room), the same number of updates as a shared network
                    over = {**cfg.overrides, "n_envs": max(1, SHARED_N_ENVS // rooms),
                            "batch_size": max(8, SHARED_BATCH // rooms)}
                    jobs.append((env_id, seed, steps // rooms, str(rdir), over, {"tasks": [k]},
                                 EVAL_EPISODES // rooms, device))  # fmt: skip
            else:
                rdir = root / cfg.label / f"seed_{seed}"
                jobs.append((env_id, seed, steps, str(rdir), cfg.overrides, {}, EVAL_EPISODES, device))
    return jobs


def _run_jobs(jobs: list[tuple], workers: int, progress: bool) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="multiroom-interference", unit="run", disable=not progress)
    if workers == 1:
        for job in jobs:
            _job(job)
            bar.update(1)
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for fut in as_completed([pool.submit(_job, j) for j in jobs]):
                fut.result()
                bar.update(1)
    bar.close()


# ---------------------------------------------------------------------------------------------- analysis


def room_curves(config: Config, root: Path, seed: int, rooms: int) -> tuple[np.ndarray, np.ndarray]:
    """(steps, J[point, room]) of one seed: per-room evaluation returns against total env steps."""
    from baselines.training.results import RunResult

    if not config.per_room:
        r = RunResult.load(root / config.label / f"seed_{seed}")
        return np.asarray(r.eval.steps, float), np.asarray(r.eval.mean_component_returns(True), float)
    cols, steps = [], None
    for k in range(rooms):
        r = RunResult.load(root / config.label / f"seed_{seed}" / f"room_{k}")
        x = np.asarray(r.eval.steps, float) * rooms
        y = np.asarray(r.eval.mean_component_returns(True), float)[:, k]
        steps = x if steps is None or len(x) < len(steps) else steps
        cols.append(y)
    n = len(steps)
    return steps, np.stack([c[:n] for c in cols], axis=1)


def steps_to_threshold(steps: np.ndarray, values: np.ndarray, threshold: float = THRESHOLD) -> float | None:
    """First step where the 3-point centred moving average of ``values`` reaches ``threshold`` (None: never)."""
    v = np.asarray(values, float)
    padded = np.concatenate([v[:1], v, v[-1:]])
    smooth = (padded[:-2] + padded[1:-1] + padded[2:]) / 3
    hit = np.flatnonzero(smooth >= threshold)
    return float(steps[hit[0]]) if hit.size else None


def suppressed(steps: np.ndarray, values: np.ndarray, learned: float | None, window: int = SUPPRESSION_WINDOW) -> bool:
    """Whether a room's reward went uncollected in ``window`` consecutive evaluations before it was learned.

    With ~16 evaluation episodes a room per point and a uniform-random success rate of 0.07, a policy at the
    random level collects nothing in 5 evaluations (~80 episodes) with probability ~0.3%: a room at zero that
    long has been pushed *below* its initial performance, the winner-take-all signature of ray interference.
    """
    v = np.asarray(values, float)
    end = len(v) if learned is None else int(np.searchsorted(steps, learned))
    run = 0
    for x in v[1:end]:  # the first point is the untrained policy
        run = run + 1 if x == 0 else 0
        if run >= window:
            return True
    return False


def seed_stats(steps: np.ndarray, J: np.ndarray, start: float) -> dict[str, Any]:
    """Learning order, stagger and plateaus of one seed (``start``: the uniform-random return per room)."""
    from baselines.diagnostics.plateaus import detect_plateaus

    total = np.nanmean(J, axis=1)
    reached = [steps_to_threshold(steps, J[:, k]) for k in range(J.shape[1])]
    done = [s for s in reached if s is not None]
    rep = detect_plateaus(steps, total, optimum=1.0, start=start, component_values=J)
    per_room = [detect_plateaus(steps, J[:, k], optimum=1.0, start=start).count for k in range(J.shape[1])]
    return {
        "steps_to_threshold": reached,
        "order": [int(k) for k in np.argsort([np.inf if s is None else s for s in reached], kind="stable")],
        "first": min(done) if done else None,
        "last": max(done) if len(done) == len(reached) else None,
        "stagger": (max(done) - min(done)) if len(done) == len(reached) else None,
        "total_plateaus": rep.count,
        "plateau_steps": float(sum(p.length for p in rep.plateaus)),
        "plateaus": [p.to_dict() for p in rep.plateaus],
        "room_plateaus": per_room,
        "suppressed_rooms": [int(k) for k in range(J.shape[1]) if suppressed(steps, J[:, k], reached[k])],
        "final": [float(x) for x in J[-3:].mean(axis=0)],
    }


def mean_ci(values: Sequence[float], rng: np.random.Generator) -> dict[str, Any]:
    """Mean of ``values`` with a 95% percentile-bootstrap interval (None without values)."""
    v = np.asarray([x for x in values if x is not None], float)
    if v.size == 0:
        return {"n": 0, "mean": None, "lo": None, "hi": None}
    boots = v[rng.integers(0, v.size, (BOOTSTRAP, v.size))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"n": int(v.size), "mean": float(v.mean()), "lo": float(lo), "hi": float(hi)}


def diff_ci(a: Sequence[float | None], b: Sequence[float | None], rng: np.random.Generator) -> dict[str, Any]:
    """mean(a) - mean(b) with a 95% bootstrap interval (seeds resampled independently); None entries
    (never reached) count as the budget, a lower bound, so the difference is conservative for ``b``."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.size == 0 or y.size == 0:
        return {"mean": None, "lo": None, "hi": None}
    d = x[rng.integers(0, x.size, (BOOTSTRAP, x.size))].mean(1) - y[rng.integers(0, y.size, (BOOTSTRAP, y.size))].mean(1)
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"mean": float(x.mean() - y.mean()), "lo": float(lo), "hi": float(hi)}


def summarise(per_seed: dict[str, list[dict[str, Any]]], budget: float, seed: int = 0) -> dict[str, Any]:
    """Across-seed statistics per configuration and the controls' differences to ``shared``."""
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {}
    capped = {c: [budget if s["last"] is None else s["last"] for s in rows] for c, rows in per_seed.items()}
    for label, rows in per_seed.items():
        k = len(rows[0]["steps_to_threshold"])
        ranked = [sorted(budget if x is None else x for x in s["steps_to_threshold"]) for s in rows]
        out[label] = {
            "seeds": len(rows),
            "all_rooms_learned": sum(s["last"] is not None for s in rows),
            "first_room": mean_ci([s["first"] for s in rows], rng),
            "last_room_capped": mean_ci(capped[label], rng),
            "stagger": mean_ci([s["stagger"] for s in rows], rng),
            "nth_room": [mean_ci([r[i] for r in ranked], rng) for i in range(k)],
            "frac_with_plateau": float(np.mean([s["total_plateaus"] > 0 for s in rows])),
            "plateaus_per_run": float(np.mean([s["total_plateaus"] for s in rows])),
            "plateau_steps": mean_ci([s["plateau_steps"] for s in rows], rng),
            "room_plateaus_per_run": float(np.mean([sum(s["room_plateaus"]) for s in rows])),
            "suppressed_rooms": mean_ci([len(s["suppressed_rooms"]) for s in rows], rng),
            "frac_with_suppression": float(np.mean([len(s["suppressed_rooms"]) > 0 for s in rows])),
            "final": float(np.mean([np.mean(s["final"]) for s in rows])),
        }
    for label in per_seed:
        if label != "shared" and "shared" in per_seed:
            out[label]["last_minus_shared"] = diff_ci(capped[label], capped["shared"], rng)
    return out


# ---------------------------------------------------------------------------------------------- report


def _ci(c: dict[str, Any], scale: float = 1e3, unit: str = "k") -> str:
    if c.get("mean") is None:
        return "n/a"
    return f"{c['mean'] / scale:.1f}{unit} [{c['lo'] / scale:.1f}, {c['hi'] / scale:.1f}]"


def claims(summary: dict[str, Any], random_return: float, easy_random: float) -> list[tuple[str, str, bool]]:
    """The table *paper claim / ours / in band?* and the criterion behind each verdict."""
    sh, sep, mix = (summary.get(k) for k in ("shared", "separate", "mixed"))
    rows = [(
        "Sparse RL domains have f_k(0) ~ 0: an incompetent policy rarely earns a room's reward, which couples "
        "learning to performance (§3.3)",
        f"uniform-random return per room {random_return:.3f} (MultiRoom-R4-v0, reward in the start room and "
        f"seen through walls: {easy_random:.3f}); in band if < 0.1",
        random_return < 0.1,
    )]
    if sh is not None:
        rows.append((
            "One shared network, on-policy: components are learned one at a time, with plateaus of J between "
            "stages (§3.2-3.3, Fig. 4)",
            f"shared: first room learned at {_ci(sh['first_room'])}, last at {_ci(sh['last_room_capped'])} steps; "
            f"stagger {_ci(sh['stagger'])}; a plateau of J in {sh['frac_with_plateau']:.0%} of {sh['seeds']} seeds "
            f"({sh['plateaus_per_run']:.2f} per run); a room suppressed below its initial return before it is "
            f"learned in {sh['frac_with_suppression']:.0%} of seeds; in band if the stagger's CI excludes 0 and "
            ">= 20% of seeds plateau or suppress a room",
            sh["stagger"]["lo"] is not None and sh["stagger"]["lo"] > 0
            and max(sh["frac_with_plateau"], sh["frac_with_suppression"]) >= 0.2,
        ))
    for label, what, cfg in (("separate", "A separate network per component removes the interference: "
                              "plateaus shorter or gone (§2, Fig. 3 ablations)", sep),
                             ("mixed", "Off-policy data (10% uniform actions mixed into the behaviour) lifts "
                              "f_k(0) and shortens the plateaus (§3.3, Fig. 6)", mix)):
        if cfg is None or sh is None:
            continue
        d = cfg["last_minus_shared"]
        rows.append((
            what,
            f"{label}: last room learned at {_ci(cfg['last_room_capped'])} steps, minus shared "
            f"{_ci(d)}; stagger {_ci(cfg['stagger'])}; plateau of J in {cfg['frac_with_plateau']:.0%} of seeds "
            f"(shared {sh['frac_with_plateau']:.0%}), a suppressed room in {cfg['frac_with_suppression']:.0%} "
            f"(shared {sh['frac_with_suppression']:.0%}); in band if the difference's CI is below 0, or if it "
            "suppresses a room in fewer seeds than shared with a mean difference <= 0",
            d["hi"] is not None and (d["hi"] < 0 or (
                cfg["frac_with_suppression"] < sh["frac_with_suppression"] and d["mean"] <= 0)),
        ))
    return rows


def render_report(summary: dict[str, Any], quick: bool) -> str:
    s = summary
    lines = [
        "# Ray interference beyond the bandit: PPO on MultiRoom-Doors (Schaul et al. 2019, §3.3)",
        "",
        f"{'Quick' if quick else 'Full'} run: `{s['env_id']}`, {s['seeds']} seeds per configuration, "
        f"{s['timesteps']:,} env steps per configuration and seed (separate: {s['timesteps'] // s['rooms']:,} "
        f"per room network), {EVAL_POINTS} evaluations of {EVAL_EPISODES} sampled-policy episodes; "
        f"{s['wall_time_s']:.0f} s wall with {s['workers']} worker(s).",
        "Figures: `room_curves.png` (each room's return for example seeds, plateaus of J shaded), "
        "`learning_order.png` (steps until the 1st, 2nd, ... room is learned; J across seeds).",
        "",
        "| paper claim | ours | in band? |",
        "|---|---|---|",
    ]
    lines += [f"| {c['claim']} | {c['ours']} | {'yes' if c['in_band'] else 'no'} |" for c in s["claims"]]
    lines += [
        "",
        f"A room is *learned* when its 3-point smoothed return reaches {THRESHOLD}; *stagger* = last minus "
        "first room learned in a seed (only seeds that learn every room); rooms never learned count as the "
        "budget in *last room* (a lower bound). Intervals: 95% percentile bootstrap over seeds. Plateaus: "
        "`detect_plateaus` (default settings) on J = mean room return, progress measured from the "
        f"uniform-random return. A room is *suppressed* when its reward goes uncollected in {SUPPRESSION_WINDOW} "
        "evaluations in a row before it is learned (~80 episodes; at the random level's 7% that has "
        "probability ~0.3%): pushed below its initial performance, as the losers of the paper's "
        "winner-take-all stages are.",
        "",
        "| configuration | seeds learning every room | first room | last room | stagger | n-th room learned (k steps) "
        "| seeds with a plateau of J | plateau steps | seeds with a suppressed room | room-curve plateaus per run "
        "| final J |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for label, c in s["configs"].items():
        nth = ", ".join(fmt(x["mean"] / 1e3, ".1f") for x in c["nth_room"])
        lines.append(
            f"| {label} | {c['all_rooms_learned']}/{c['seeds']} | {_ci(c['first_room'])} | "
            f"{_ci(c['last_room_capped'])} | {_ci(c['stagger'])} | {nth} | {c['frac_with_plateau']:.0%} | "
            f"{_ci(c['plateau_steps'])} | {c['frac_with_suppression']:.0%} | {c['room_plateaus_per_run']:.2f} | "
            f"{c['final']:.2f} |"
        )
    sh = s["configs"].get("shared")
    if sh is not None and sh["frac_with_plateau"] == 0:
        lines += ["", f"**No plateau of J on shared PPO**: the detector (default settings: slower than 0.1 x the "
                  f"pace that would reach the optimum within the run, away from start and optimum) finds none in "
                  f"{sh['seeds']} seeds. The evidence of interference is elsewhere: a room pushed to zero in "
                  f"{sh['frac_with_suppression']:.0%} of seeds while the rooms of the other direction are learned, "
                  f"and rooms learned in direction pairs (orders below), {_ci(sh['stagger'])} steps apart."]
    lines += ["", "Per seed, the order in which rooms were learned (even rooms' rewards lie to the right, odd "
              "rooms' to the left; suppressed rooms in brackets):", ""]
    for label, rows in s["per_seed"].items():
        orders = "; ".join(
            ("-".join(str(k) for k in r["order"] if r["steps_to_threshold"][k] is not None) or "none")
            + (f" [{','.join(map(str, r['suppressed_rooms']))}]" if r["suppressed_rooms"] else "")
            for r in rows
        )
        lines.append(f"- {label}: {orders}")
    lines += ["", "Each room's network of `separate` starts from the same initial weights within a seed (the "
              "run seed), so rooms of one seed share their initial action biases."]
    if quick:
        lines += ["", "A quick run has few seeds and a small budget on the 2-room env: it checks the pipeline; "
                  "the verdicts above need the full run."]
    lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- entry point


def reproduce_multiroom_interference(
    out_dir: str | Path | None = None,
    quick: bool = False,
    seeds: int | None = None,
    timesteps: int | None = None,
    env_id: str | None = None,
    workers: int | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """Train every configuration for ``seeds`` seeds, then write the figures, report.md and summary.json.

    Full: ``MultiRoom-R4-Doors-v0``, 10 seeds x 1e5 steps; ``quick``: ``MultiRoom-R2-Doors-v0``, 2 seeds x
    3e4 steps. ``workers`` processes (default: 2, or 1 on a single core) train at once. Finished runs under
    ``out_dir/runs*`` are reused.
    """
    from baselines.training.loop import check_device
    from rayenvs.registration import MULTIROOM_RANDOM_RETURN, env_info

    check_device(device)
    env_id = env_id or (QUICK_ENV_ID if quick else ENV_ID)
    info = env_info(env_id)
    if not info.id.endswith("-Doors-v0"):
        raise ValueError(f"env_id={env_id!r} must be a MultiRoom-R*-Doors-v0 id")
    seeds = seeds if seeds is not None else (QUICK_SEEDS if quick else FULL_SEEDS)
    check_int("seeds", seeds)
    steps = timesteps if timesteps is not None else (QUICK_TIMESTEPS if quick else FULL_TIMESTEPS)
    rooms = info.num_components
    check_int("timesteps", steps, lo=1024 * rooms, hint=" (a rollout per room network at least)")
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    check_int("workers", workers)
    out = output_dir(out_dir, "multiroom-interference")
    root = out / ("runs-quick" if quick else "runs")

    t0 = time.perf_counter()
    _run_jobs(_jobs(env_id, rooms, seeds, steps, root, device), workers, progress)
    curves = {c.label: [room_curves(c, root, s, rooms) for s in range(seeds)] for c in CONFIGS}
    per_seed = {lab: [seed_stats(x, J, info.random_return) for x, J in cs] for lab, cs in curves.items()}
    # runs stop at the first rollout boundary at or after their budget: the last evaluated step is the cap
    budget = max(float(x[-1]) for cs in curves.values() for x, _ in cs)
    configs = summarise(per_seed, budget)
    from baselines.experiments.multiroom_interference_figures import plot_order, plot_room_curves

    files = [plot_room_curves(curves, per_seed, out, env_id), plot_order(curves, configs, out, budget)]
    summary: dict[str, Any] = {
        "experiment": "multiroom-interference",
        "quick": quick,
        "env_id": env_id,
        "rooms": rooms,
        "seeds": seeds,
        "timesteps": steps,
        "threshold": THRESHOLD,
        "mix_epsilon": MIX_EPSILON,
        "workers": workers,
        "random_return": info.random_return,
        "configs": configs,
        "per_seed": per_seed,
        "runs_dir": root.name,
    }
    summary["claims"] = [
        {"claim": c, "ours": o, "in_band": bool(b)}
        for c, o, b in claims(configs, info.random_return, MULTIROOM_RANDOM_RETURN[(4, False)])
    ]
    summary["wall_time_s"] = time.perf_counter() - t0
    files.append(atomic_write_text(out / REPORT_FILE, render_report(summary, quick)))
    files.append(atomic_write_json(out / SUMMARY_FILE, summary))
    summary["files"] = [str(p) for p in files]
    return summary
