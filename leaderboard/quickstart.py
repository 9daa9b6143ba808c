"""``rayenvs quickstart``: the main job, end to end on a laptop with no GPU and no server.

It shows the whole instrument on a budget of a few minutes on 2 CPU cores:

1. a bandit sweep (K = 2, 4, 8 contexts; the on-policy REINFORCE learner and its ablations), where ray
   interference is known to cause plateaus for on-policy learning only;
2. a PPO sweep on ``MultiRoom-R4-v0``: the SB3 baseline vs PFO (``pfo-last``);
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
PPO_ENV = "rayenvs/MultiRoom-R4-v0"
PPO_VARIANTS = ("baseline", "pfo-last")
# The shipped MultiRoom config does 10 epochs of 64-sample minibatches (320 gradient steps per 2,048-step
# rollout); on a 2-core laptop that dominates the run, so the quickstart takes 4 epochs of 256 (32 steps).
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
    from tqdm.auto import tqdm

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
    for spec, what in ((bandit, "bandit learners"), (ppo, "PPO on MultiRoom-R4")):
        from baselines.sweeps.sweep import expand

        total = len(expand(spec, runs))
        with tqdm(total=total, desc=f"quickstart: {what}", unit="job") as bar:
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
    _report(root / "report.md", analyses, entries, plots, failed, wall, bandit_samples, ppo_timesteps)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from rayenvs.atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    groups = _load_groups(run_dirs)
    paths = []

    fig, axes = plt.subplots(1, len(BANDIT_ENVS), figsize=(5 * len(BANDIT_ENVS), 3.8), squeeze=False)
    for ax, env_id in zip(axes[0], BANDIT_ENVS, strict=True):
        for mode in BANDIT_MODES:
            for i, r in enumerate(groups.get((env_id, mode), [])):
                k = len(r.component_names)
                J = np.array(r.eval.mean_returns()) * k
                ax.plot(r.eval.steps, J, color=f"C{BANDIT_MODES.index(mode)}", alpha=0.7, lw=1,
                        label=mode if i == 0 else None)
        ax.set_title(env_id.replace("rayenvs/", ""))
        ax.set_xlabel("samples")
        ax.set_ylabel("J = sum_k J_k")
        ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(atomic_write(out / "bandit_curves.png", lambda f: fig.savefig(f, format="png", dpi=110),
                              binary=True))
    plt.close(fig)

    ppo = {v: groups.get((PPO_ENV, v), []) for v in PPO_VARIANTS}
    if any(ppo.values()):
        names = next(r for rs in ppo.values() for r in rs).component_names
        fig, axes = plt.subplots(1, 1 + len(names), figsize=(4 * (1 + len(names)), 3.5), squeeze=False)
        for vi, (variant, rs) in enumerate(ppo.items()):
            for i, r in enumerate(rs):
                comps = np.array(r.eval.mean_component_returns(present_only=True))  # J_k given room k
                kw = {"color": f"C{vi}", "alpha": 0.8, "lw": 1, "label": variant if i == 0 else None}
                axes[0][0].plot(r.eval.steps, r.eval.mean_returns(), **kw)
                for c in range(len(names)):
                    axes[0][c + 1].plot(r.eval.steps, comps[:, c], **{**kw, "label": None})
        axes[0][0].set_title("MultiRoom-R4: total return")
        axes[0][0].legend(fontsize=8)
        for c, name in enumerate(names):
            axes[0][c + 1].set_title(f"{name}: return when starting there")
            axes[0][c + 1].set_ylim(-0.05, 1.05)
        for ax in axes[0]:
            ax.set_xlabel("env steps")
        fig.tight_layout()
        paths.append(atomic_write(out / "ppo_multiroom_curves.png",
                                  lambda f: fig.savefig(f, format="png", dpi=110), binary=True))
        plt.close(fig)
    return paths


def _report(path: Path, analyses: list[dict[str, Any]], entries: list[int], plots: list[Path], failed: list[str],
            wall: float, bandit_samples: int, ppo_timesteps: int) -> None:
    from collections import defaultdict

    from rayenvs.atomic import atomic_write_text

    by_cfg: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for a in analyses:
        by_cfg[(a["env_id"], a["variant"])].append(a)
    lines = [
        "# rayenvs quickstart report",
        "",
        f"Wall time {wall:.0f} s. Bandit runs: up to {bandit_samples:,} samples each; PPO runs: "
        f"{ppo_timesteps:,} env steps each (shipped MultiRoom config with {PPO_OVERRIDES}).",
        "",
        "## Bandit learners (ray interference)",
        "",
        "A plateau is a stretch of slow progress away from both the start and the optimum "
        "(`baselines.diagnostics.plateaus`). On-policy REINFORCE with a shared bias is expected to plateau; the ablations "
        "(tabular, uniform behaviour, supervised) are not (Schaul et al. 2019).",
        "",
        "| env | mode | seeds | samples used (median) | final J/K (mean) | plateaus per run (mean) |",
        "|---|---|---|---|---|---|",
    ]
    for env_id in BANDIT_ENVS:
        for mode in BANDIT_MODES:
            rows = by_cfg.get((env_id, mode), [])
            if not rows:
                continue
            lines.append(
                f"| {env_id} | {mode} | {len(rows)} | {np.median([a['samples_used'] for a in rows]):,.0f} | "
                f"{np.mean([a['final_return'] for a in rows]):.3f} | "
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
            f"| {variant} | {len(rows)} | {np.mean(finals):.3f} ± {np.std(finals):.3f} | "
            f"{np.mean([a['plateaus']['total']['count'] for a in rows]):.2f} | "
            f"{sum(a['collapse']['collapsed'] for a in rows)} |"
        )
    lines += ["", "## Plots", ""] + [f"![{p.stem}](plots/{p.name})" for p in plots]
    lines += ["", "## Leaderboard", "",
              f"Submitted {len(entries)} new entries to the local board (ids: {', '.join(map(str, entries)) or 'none new'}). "
              "Browse with `rayenvs leaderboard serve` or open `leaderboard/index.html`."]
    if failed:
        lines += ["", "## Failed jobs", ""] + [f"- {j}" for j in failed]
    atomic_write_text(path, "\n".join(lines) + "\n")
