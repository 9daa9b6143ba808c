"""``rayenvs quickstart``: the main job, end to end on a laptop with no GPU and no server.

It shows the whole instrument on a budget of a few minutes on 2 CPU cores:

1. a bandit sweep (K = 2, 4, 8 contexts; the on-policy REINFORCE learner and its ablations), where ray
   interference is known to cause plateaus for on-policy learning only;
2. a PPO sweep on ``MultiRoom-R4-Doors-v0``, the setting of ``rayenvs reproduce multiroom-interference`` (each
   room's reward behind a doorway, out of sight; one network for all rooms): the SB3 baseline vs PFO
   (``pfo-last``), with each room's learning shown separately;
3. plateau and collapse detection on every run (``rayenvs analyze``);
4. submission of every configuration to the local leaderboard (and a static HTML export of it);
5. plots and a short ``report.md``, and a printout of where to look.

Top layer (registered by :mod:`rayenvs.cli`): it composes ``baselines`` and ``leaderboard``, imported only when
the command runs. Re-running resumes: finished runs are skipped and duplicates are not re-submitted.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

BANDIT_ENVS = ("rayenvs/Bandit-K2n2-v0", "rayenvs/Bandit-K4n4-v0", "rayenvs/Bandit-K8n8-v0")
BANDIT_MODES = ("on-policy", "tabular", "uniform", "supervised")
PPO_ENV = "rayenvs/MultiRoom-R4-Doors-v0"
PPO_VARIANTS = ("baseline", "pfo-last")
# The shipped config of this id already takes 4 epochs of 256-sample minibatches per 1,024-step rollout (32
# gradient steps), cheap enough for a 2-core laptop; stated here so the report says what ran.
PPO_OVERRIDES = {"n_epochs": 4, "batch_size": 256}


def register(sub: argparse._SubParsersAction) -> None:
    from baselines.common.threads import add_threads_argument

    p = sub.add_parser("quickstart", help="the main job: small sweeps, plateau detection, leaderboard, report")
    p.add_argument("--out", type=Path, default=None, help="output folder (default: DATA/quickstart)")
    p.add_argument("--board", default=None, help="leaderboard path or URL (default: the local SQLite board)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per configuration (>= 3, the leaderboard's minimum)")
    p.add_argument("--bandit-samples", type=int, default=40_000, help="samples per bandit run")
    p.add_argument("--ppo-timesteps", type=int, default=50_000, help="env steps per PPO run")
    p.add_argument("--workers", type=int, default=None, help="runs at once (default: CPU count)")
    add_threads_argument(p, "the driver (analysis, plots; each sweep worker gets its share of the cores)")
    p.set_defaults(func=_cmd_quickstart)


def _check_args(args: argparse.Namespace) -> None:
    from rayenvs.validation import check_int

    check_int("--seeds", args.seeds, lo=3, hint=" (the leaderboard needs 3 seeds per entry)")
    check_int("--bandit-samples", args.bandit_samples, lo=100)
    check_int("--ppo-timesteps", args.ppo_timesteps, lo=1024)
    check_int("--workers", args.workers, allow_none=True)


def _cmd_quickstart(args: argparse.Namespace) -> int:
    _check_args(args)
    from rich.console import Console

    from baselines.common.threads import cap_torch_threads

    cap_torch_threads(args.threads)

    from rayenvs.paths import data_dir

    root = (args.out or data_dir() / "quickstart").resolve()
    console = Console()
    summary = run_quickstart(root, board=args.board, seeds=args.seeds, bandit_samples=args.bandit_samples,
                             ppo_timesteps=args.ppo_timesteps, workers=args.workers, console=console)
    console.print(f"\n[bold]Done in {summary['wall_time_s']:.0f} s.[/] Where to look:")
    # soft_wrap: a long path stays on one line (copy-pastable) instead of being broken at the terminal width
    console.print(f"  report          {root / 'report.md'}", soft_wrap=True)
    console.print(f"  plots           {root / 'plots'}", soft_wrap=True)
    console.print(f"  runs            {root / 'runs'}  (rayenvs analyze {root / 'runs'})", soft_wrap=True)
    console.print(f"  leaderboard     {summary['leaderboard_html'] / 'index.html'}  (or: rayenvs leaderboard serve)",
                  soft_wrap=True)
    return 1 if summary["failed"] else 0


def run_quickstart(
    root: Path,
    board: str | None = None,
    seeds: int = 3,
    bandit_samples: int = 40_000,
    ppo_timesteps: int = 50_000,
    workers: int | None = None,
    console: Any = None,
) -> dict[str, Any]:
    """Run the whole main job into ``root``; returns a summary (used by the tests and the CLI)."""
    from rich.console import Console

    from baselines.common.progress import job_bar
    from baselines.sweeps.sweep import SweepSpec, run_sweep

    console = console or Console()
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    runs = root / "runs"
    seed_list = list(range(seeds))
    bandit = SweepSpec(name="quickstart-bandit", algo="bandit", envs=list(BANDIT_ENVS), variants=list(BANDIT_MODES),
                       seeds=seed_list, timesteps=bandit_samples, max_retries=1)
    ppo = SweepSpec(name="quickstart-ppo", algo="ppo", envs=[PPO_ENV], variants=list(PPO_VARIANTS),
                    seeds=seed_list, timesteps=ppo_timesteps, overrides=dict(PPO_OVERRIDES), max_retries=1,
                    eval_episodes=20)
    reports = []
    for spec, what in ((bandit, "bandit learners"), (ppo, "PPO on MultiRoom-R4-Doors")):
        from baselines.sweeps.sweep import expand

        total = len(expand(spec, runs))
        with job_bar(total=total, desc=f"quickstart: {what}", unit="job") as bar:
            def on_update(job_id, st, bar=bar):
                if st.state in ("done", "failed"):
                    bar.update(1)
                if st.state == "failed":
                    console.print(f"[red]failed[/] {job_id}: {st.error}")

            report = run_sweep(spec, runs, max_concurrent=workers, on_update=on_update)
            bar.update(total - bar.n)
        reports.append(report)
    run_dirs = [d for r in reports for d in r.run_dirs]
    failed = [j for r in reports for j in r.failed]

    analyses = _analyze(run_dirs)
    entries = _submit(run_dirs, board, console)
    plots = _plots(root / "plots", run_dirs)
    html_dir = _export(board, root / "leaderboard")
    wall = time.perf_counter() - start
    _report(root / "report.md", analyses, entries, plots, failed, wall, bandit_samples, ppo_timesteps,
            _room_stats(run_dirs))
    return {"run_dirs": run_dirs, "failed": failed, "analyses": analyses, "entries": entries, "plots": plots,
            "leaderboard_html": html_dir, "wall_time_s": wall}


def _analyze(run_dirs: list[Path]) -> list[dict[str, Any]]:
    from baselines.common.metric_keys import SAMPLES_USED
    from baselines.diagnostics.analysis import analyze_path
    from baselines.training.results import RESULTS_FILE, RunResult

    out = []
    for d in run_dirs:
        analysis = analyze_path(Path(d) / RESULTS_FILE)[0]
        used = RunResult.load(d).metrics.get(SAMPLES_USED)
        analysis["samples_used"] = used[-1][1] if used else analysis["total_timesteps"]
        out.append(analysis)
    return out


def _submit(run_dirs: list[Path], board: str | None, console: Any) -> list[int]:
    from leaderboard.submit_runs import submit_groups

    return submit_groups(run_dirs, board, "quickstart", console)


def _export(board: str | None, out: Path) -> Path:
    from leaderboard.static_site import export_site
    from leaderboard.storage import Store

    store = Store(board)
    try:
        export_site(store, out)
    finally:
        store.close()
    return out


def _load_groups(run_dirs: list[Path]) -> dict[tuple[str, str], list]:
    from collections import defaultdict

    from baselines.training.results import RunResult

    groups: dict[tuple[str, str], list] = defaultdict(list)
    for d in run_dirs:
        r = RunResult.load(d)
        groups[(r.env_id, r.variant)].append(r)
    return groups


def _plots(out: Path, run_dirs: list[Path]) -> list[Path]:
    """Bandit learning curves per K (one line per mode) and PPO eval curves per variant and component."""
    from leaderboard.quickstart_plots import write_quickstart_plots

    return write_quickstart_plots(out, _load_groups(run_dirs), BANDIT_ENVS, BANDIT_MODES, PPO_ENV, PPO_VARIANTS)


def _room_stats(run_dirs: list[Path]) -> dict[str, list[dict[str, Any]]]:
    """Per PPO variant and seed: when each room was learned, the learning order and the plateaus of J
    (``baselines.experiments.multiroom_interference.seed_stats`` on the evaluation curves)."""
    from baselines.experiments.multiroom_interference import seed_stats
    from rayenvs.registration import env_info

    start = env_info(PPO_ENV).random_return
    out: dict[str, list[dict[str, Any]]] = {}
    for (env_id, variant), rs in sorted(_load_groups(run_dirs).items()):
        if env_id != PPO_ENV:
            continue
        for r in sorted(rs, key=lambda r: r.seed):
            steps = np.asarray(r.eval.steps, dtype=float)
            out.setdefault(variant, []).append(
                {**seed_stats(steps, np.asarray(r.eval.mean_component_returns(True), dtype=float), start),
                 "seed": r.seed})
    return out


def _room_lines(room_stats: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The report's per-room section: which rooms each seed learned, when, in which order."""
    from baselines.experiments.multiroom_interference import THRESHOLD

    if not room_stats:
        return []
    lines = ["", "### Each room's learning (ray interference beyond the bandit)", "",
             "One network serves all four rooms; even rooms' rewards lie behind the doorway to the right, odd "
             f"rooms' to the left. A room is *learned* once its smoothed evaluation return reaches {THRESHOLD}; "
             "rooms learned one at a time show up in a seed-specific order with long gaps (the *stagger*: last "
             "minus first room learned) while J = mean room return plateaus in between (`rayenvs reproduce multiroom-interference` runs "
             "the paper's controls on many seeds).", "",
             "| variant | seed | steps until room 0, 1, 2, 3 learned | order | stagger | plateaus of J |",
             "|---|---:|---|---|---:|---:|"]
    for variant, rows in room_stats.items():
        for s in rows:
            reached = ", ".join("-" if x is None else f"{x:,.0f}" for x in s["steps_to_threshold"])
            order = "-".join(str(k) for k in s["order"] if s["steps_to_threshold"][k] is not None) or "none"
            stagger = "n/a" if s["stagger"] is None else f"{s['stagger']:,.0f}"
            lines.append(f"| {variant} | {s['seed']} | {reached} | {order} | {stagger} | {s['total_plateaus']} |")
    return lines


RUN_HISTORY_FILE = "runs_history.json"


def _sample_std(values: list[float]) -> float:
    """Sample standard deviation (ddof=1): the spread of seeds, not of this particular handful; 0 for one."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _ppo_conclusion(finals: dict[str, list[float]]) -> str:
    """PFO minus baseline final return with a 95% Welch t interval, and what it allows one to conclude."""
    from scipy import stats

    base, pfo = (np.asarray(finals.get(v, []), dtype=float) for v in PPO_VARIANTS)
    if len(base) < 2 or len(pfo) < 2:
        return "Too few seeds for a PPO-vs-PFO comparison (needs 2 per variant)."
    va, vb = base.var(ddof=1) / len(base), pfo.var(ddof=1) / len(pfo)
    diff, se = pfo.mean() - base.mean(), float(np.sqrt(va + vb))
    if se == 0:
        return f"**PPO vs PFO**: {PPO_VARIANTS[1]} minus {PPO_VARIANTS[0]} = {diff:+.3f}, identical across seeds."
    dof = (va + vb) ** 2 / (va**2 / (len(base) - 1) + vb**2 / (len(pfo) - 1))
    half = float(stats.t.ppf(0.975, dof)) * se
    lo, hi = diff - half, diff + half
    verdict = (f"{PPO_VARIANTS[1]} is better at this budget" if lo > 0 else
               f"{PPO_VARIANTS[0]} is better at this budget" if hi < 0 else
               "no difference can be concluded at this budget and number of seeds (the interval contains 0)")
    return (f"**PPO vs PFO**: final return of {PPO_VARIANTS[1]} minus {PPO_VARIANTS[0]} = {diff:+.3f}, 95% "
            f"interval [{lo:+.3f}, {hi:+.3f}] (Welch t, {len(base)} and {len(pfo)} seeds): {verdict}.")


def _run_history(path: Path, entries: list[int], wall: float) -> list[dict[str, Any]]:
    """Append this run to the folder's history (kept next to report.md) and return every run so far, so a
    re-run, which submits nothing new and takes seconds, does not erase the first run's ids and timing."""
    import json

    from rayenvs.atomic import atomic_write_json

    history = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []
    history.append({"entries": list(map(int, entries)), "wall_time_s": float(wall)})
    atomic_write_json(path, history)
    return history


def _report(path: Path, analyses: list[dict[str, Any]], entries: list[int], plots: list[Path], failed: list[str],
            wall: float, bandit_samples: int, ppo_timesteps: int,
            room_stats: dict[str, list[dict[str, Any]]] | None = None) -> None:
    from collections import defaultdict

    from rayenvs.atomic import atomic_write_text

    by_cfg: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in analyses:
        by_cfg[(a["env_id"], a["variant"])].append(a)
    lines = [
        "# rayenvs quickstart report",
        "",
        f"Wall time {wall:.0f} s. Bandit runs: up to {bandit_samples:,} samples each; PPO runs: "
        f"{ppo_timesteps:,} env steps each (shipped {PPO_ENV} config with {PPO_OVERRIDES}).",
        "",
        "## Bandit learners (ray interference)",
        "",
        "A plateau is a stretch of slow progress away from both the start and the optimum "
        "(`baselines.diagnostics.plateaus`). On-policy REINFORCE with a shared bias is expected to plateau; the ablations "
        "(tabular, uniform behaviour, supervised) are not (Schaul et al. 2019).",
        "",
        "Each seed learns until J = sum_k J_k >= K - 0.1 (within 0.1 of the optimum K, the paper's criterion) or "
        f"until the sample cap of {bandit_samples:,}. *Samples used* is the number of samples a seed drew until "
        "it stopped (median over seeds); *hit the cap* counts the seeds that never reached K - 0.1, whose "
        "samples used is the cap itself (a lower bound on what they need). ± is the sample standard deviation "
        "over seeds.",
        "",
        "| env | mode | seeds | samples used (median) | hit the cap | final J/K (mean ± std) | plateaus per run (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for env_id in BANDIT_ENVS:
        for mode in BANDIT_MODES:
            rows = by_cfg.get((env_id, mode), [])
            if not rows:
                continue
            capped = sum(a["samples_used"] >= bandit_samples for a in rows)
            finals = [a["final_return"] for a in rows]
            lines.append(
                f"| {env_id} | {mode} | {len(rows)} | {np.median([a['samples_used'] for a in rows]):,.0f} | "
                f"{capped}/{len(rows)}{' ⚠' if capped else ''} | "
                f"{np.mean(finals):.3f} ± {_sample_std(finals):.3f} | "
                f"{np.mean([a['plateaus']['total']['count'] for a in rows]):.2f} |"
            )
    lines += ["", f"## PPO on {PPO_ENV}", "",
              "| variant | seeds | final return (mean ± std) | plateaus per run | collapses |", "|---|---|---|---|---|"]
    for variant in PPO_VARIANTS:
        rows = by_cfg.get((PPO_ENV, variant), [])
        if not rows:
            continue
        finals = [a["final_return"] for a in rows]
        lines.append(
            f"| {variant} | {len(rows)} | {np.mean(finals):.3f} ± {_sample_std(finals):.3f} | "
            f"{np.mean([a['plateaus']['total']['count'] for a in rows]):.2f} | "
            f"{sum(a['collapse']['collapsed'] for a in rows)} |"
        )
    finals = {v: [a["final_return"] for a in by_cfg.get((PPO_ENV, v), [])] for v in PPO_VARIANTS}
    lines += ["", _ppo_conclusion(finals)]
    lines += _room_lines(room_stats or {})
    lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    history = _run_history(path.parent / RUN_HISTORY_FILE, entries, wall)
    ids = sorted({i for run in history for i in run["entries"]})
    lines += ["", "## Leaderboard", "",
              f"Submitted {len(entries)} new entries to the local board in this run; the entries of this "
              f"quickstart are ids {', '.join(map(str, ids)) or 'none'}. Browse with `rayenvs leaderboard serve` "
              "or open `leaderboard/index.html`.", "", "Runs of this folder (a re-run resumes: finished runs are skipped):",
              ""] + [f"- run {i + 1}: {run['wall_time_s']:.0f} s, {len(run['entries'])} new entries"
                     for i, run in enumerate(history)]
    if failed:
        lines += ["", "## Failed jobs", ""] + [f"- {j}" for j in failed]
    atomic_write_text(path, "\n".join(lines) + "\n")
