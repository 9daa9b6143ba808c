"""``rayenvs sweep SWEEP.yaml``: run a sweep locally or on Ray, optionally submitting the results.

Application layer (see :mod:`rayenvs.cli`): it drives :mod:`baselines.sweep` and, with ``--submit``,
:mod:`leaderboard`, importing both only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="run envs x variants x seeds from a sweep file (resumable)")
    p.add_argument("sweep_file", type=Path)
    p.add_argument("--backend", choices=["local", "ray"], default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start or join a local one)")
    p.add_argument("--max-concurrent", type=int, default=None, help="jobs running at once (default: CPU count)")
    p.add_argument("--out", type=Path, default=None, help="sweep directory (default: DATA/sweeps/NAME)")
    p.add_argument("--submit", action="store_true", help="submit each configuration to the leaderboard")
    p.add_argument("--board", default=None, help="leaderboard path or SQLAlchemy URL (with --submit)")
    p.add_argument("--submitter", default="anonymous")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    import time

    from rich.console import Console

    from baselines.sweep import expand, load_sweep, run_sweep
    from baselines.sweep_progress import SweepProgress, summary_table
    from rayenvs.cli import CLIError
    from rayenvs.paths import data_dir

    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise CLIError(f"--max-concurrent {args.max_concurrent} must be >= 1")
    spec = load_sweep(args.sweep_file)
    root = args.out or data_dir() / "sweeps" / spec.name
    console = Console()
    t0 = time.monotonic()
    with SweepProgress(spec.name, len(expand(spec, root)), console) as progress:
        report = run_sweep(spec, root, backend=args.backend, max_concurrent=args.max_concurrent,
                           address=args.address, on_update=progress)
    console.print(summary_table(spec.name, report.status, time.monotonic() - t0))
    skipped = sum(s.state == "skipped" for s in report.status.values())
    console.print(f"sweep {spec.name}: {len(report.jobs)} jobs, {skipped} already finished, "
                  f"{len(report.failed)} failed; runs under {root}")
    if args.submit:
        submit_groups(report.run_dirs, args.board, args.submitter, console)
    return 1 if report.failed else 0


def submit_groups(run_dirs, board, submitter, console) -> list[int]:
    """Submit run directories to the leaderboard, one submission per (env, algo, variant)."""
    from collections import defaultdict

    from baselines.results import RunResult
    from leaderboard.bundle import build_bundle
    from leaderboard.storage import Store

    groups = defaultdict(list)
    for d in run_dirs:
        r = RunResult.load(d)
        groups[(r.env_id, r.algo, r.variant)].append(Path(d))
    ids = []
    store = Store(board)
    try:
        for key, dirs in sorted(groups.items()):
            try:
                entry_id = store.submit(build_bundle(dirs, submitter=submitter))
            except ValueError as exc:  # rejected: already submitted, too few seeds, ...
                console.print(f"[yellow]not submitted[/] {'/'.join(key)}: {exc}")
                continue
            ids.append(entry_id)
            console.print(f"submitted {'/'.join(key)} as entry #{entry_id}")
    finally:
        store.close()
    return ids
