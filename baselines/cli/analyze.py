"""``rayenvs analyze RUN_DIR...``: plateaus and collapse of finished runs, as a table and analysis.json files.

``register`` only builds argparse; the analysis imports happen in the handler so ``rayenvs --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _fmt_plateaus(report: dict) -> str:
    return "-" if "skipped" in report else str(report["count"])


def _cmd_analyze(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from baselines.diagnostics.analysis import ANALYSIS_FILE, analyze_path, find_results

    paths = find_results(args.run_dirs)
    out_dir = Path(args.out) if args.out else None
    if out_dir is not None:
        names = [p.parent.name for p in paths]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"--out would write {ANALYSIS_FILE} twice for run directories named {dup}")
    table = Table(title="rayenvs analyze")
    for col in (
        "run",
        "env",
        "variant",
        "seed",
        "final",
        "optimum",
        "plateaus",
        "comp. plateaus",
        "collapse",
    ):
        table.add_column(col, justify="right" if col in ("seed", "final", "optimum", "plateaus") else "left")
    for path in paths:
        a, written = analyze_path(path, out_dir)
        comp = ", ".join(f"{n}:{_fmt_plateaus(r)}" for n, r in a["plateaus"]["components"].items())
        col = a["collapse"]
        verdict = f"step {col['step']} ({'+'.join(col['signals'])})" if col["collapsed"] else "none"
        table.add_row(
            str(path.parent),
            a["env_id"],
            a["variant"],
            str(a["seed"]),
            f"{a['final_return']:.3f}",
            f"{a['optimum']:.3f}",
            _fmt_plateaus(a["plateaus"]["total"]),
            comp,
            verdict,
        )
        if args.verbose:
            print(f"wrote {written}")
    Console(width=200).print(table)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rayenvs analyze`` to the CLI."""
    p = subparsers.add_parser(
        "analyze",
        help="detect plateaus and collapse in finished runs; write analysis.json next to each results.json",
    )
    p.add_argument(
        "run_dirs", nargs="+", metavar="RUN_DIR", help="run directory, results.json, or a parent folder"
    )
    p.add_argument(
        "--out", default=None, help="write RUN_NAME.analysis.json files here instead of next to each run"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print every file written")
    p.set_defaults(func=_cmd_analyze)
