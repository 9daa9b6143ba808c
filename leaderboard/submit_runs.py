"""Submission grouping, and the ``rayenvs sweep`` subcommand that may end in a submission.

The sweep itself is :mod:`baselines.cli.sweep`; this module adds ``--submit`` (one leaderboard submission per
(env, algo, variant) of the finished runs), which is why the command is registered from the leaderboard layer.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    from baselines.cli.sweep import add_arguments

    p = sub.add_parser("sweep", help="run envs x variants x seeds from a sweep file (resumable)")
    add_arguments(p)
    p.add_argument("--submit", action="store_true", help="submit each configuration to the leaderboard")
    p.add_argument("--board", default=None, help="leaderboard path or SQLAlchemy URL (with --submit)")
    p.add_argument("--submitter", default="anonymous", help="name shown on the board (with --submit)")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console

    from baselines.cli.sweep import run_sweep_command

    console = Console()
    report = run_sweep_command(args, console)
    if args.submit:
        submit_groups(report.run_dirs, args.board, args.submitter, console)
    return 1 if report.failed else 0


def submit_groups(run_dirs: list[Path], board: str | None, submitter: str, console: Any) -> list[int]:
    """Submit run directories to the leaderboard, one submission per (env, algo, variant)."""
    from collections import defaultdict

    from baselines.training.results import RunResult
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
