"""``rayenvs sweep SWEEP.yaml``, the baselines part: the arguments and running the sweep (locally or on Ray).

Submitting the results (``--submit``) belongs to the leaderboard layer: :mod:`leaderboard.submit_runs` registers
the ``sweep`` subcommand with these arguments plus its own, runs :func:`run_sweep_command`, then submits.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The sweep arguments (the ones that do not touch the leaderboard)."""
    p.add_argument("sweep_file", type=Path, help="YAML sweep file (envs, variants, seeds, timesteps, ...)")
    p.add_argument(
        "--backend",
        choices=["local", "ray"],
        default="local",
        help="local: a process pool on this machine; ray: Ray tasks (default: local)",
    )
    p.add_argument("--address", default=None, help="Ray cluster address (default: start or join a local one)")
    p.add_argument("--max-concurrent", type=int, default=None, help="jobs running at once (default: CPU count)")
    p.add_argument("--out", type=Path, default=None, help="sweep directory (default: DATA/sweeps/NAME)")


def run_sweep_command(args: argparse.Namespace, console: Any) -> Any:
    """Run the sweep named by ``args`` with a progress display and a closing summary table; returns the :class:`SweepReport`."""
    import time

    from baselines.sweeps.progress import SweepProgress, summary_table
    from baselines.sweeps.sweep import expand, load_sweep, run_sweep
    from rayenvs.paths import data_dir
    from rayenvs.validation import check_int

    check_int("--max-concurrent", args.max_concurrent, lo=1, allow_none=True)
    spec = load_sweep(args.sweep_file)
    root = args.out or data_dir() / "sweeps" / spec.name
    t0 = time.monotonic()
    with SweepProgress(spec.name, len(expand(spec, root)), console) as progress:
        report = run_sweep(spec, root, backend=args.backend, max_concurrent=args.max_concurrent,
                           address=args.address, on_update=progress)
    console.print(summary_table(spec.name, report.status, time.monotonic() - t0))
    skipped = sum(s.state == "skipped" for s in report.status.values())
    console.print(f"sweep {spec.name}: {len(report.jobs)} jobs, {skipped} already finished, "
                  f"{len(report.failed)} failed; runs under {root}")
    return report
