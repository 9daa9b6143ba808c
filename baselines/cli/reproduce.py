"""``rayenvs reproduce NAME [--quick]`` (ray-bandit, ppo-collapse, ppo-trust-toy, td-interference,
multiroom-interference): the papers' figures and a report in one command.

``register`` only builds argparse; the experiments (torch, SB3, matplotlib) are imported in the handler.
Flags are checked by argparse and by the experiment functions before any training starts, so a typo costs
nothing and exits with code 2.
"""

from __future__ import annotations

import argparse

from baselines.common.threads import add_threads_argument  # argparse only: a cheap import
from baselines.experiments import EXPERIMENTS  # names and module strings only: a cheap import


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from baselines.common.threads import cap_torch_threads
    from baselines.experiments import reproduce
    from baselines.experiments.report import REPORT_FILE
    from rayenvs.validation import check_int

    check_int("--seeds", args.seeds, allow_none=True)
    cap_torch_threads(args.threads)
    kwargs = {
        "out_dir": args.out,
        "quick": args.quick,
        "device": args.device,
        "progress": not args.no_progress,
    }
    if args.seeds is not None:
        kwargs["seeds"] = args.seeds
    if args.setting is not None:
        if args.experiment != "ppo-collapse":
            raise ValueError(f"--setting applies to ppo-collapse only, not to {args.experiment!r}")
        kwargs["setting"] = args.setting
    summary = reproduce(args.experiment, **kwargs)
    report = next(f for f in summary["files"] if f.endswith(REPORT_FILE))
    print(f"{args.experiment}: {len(summary['files'])} files written in {summary['wall_time_s']:.1f} s")
    for path in summary["files"]:
        print(f"  {path}")
    print()
    with open(report, encoding="utf-8") as f:
        print(f.read())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rayenvs reproduce`` to the CLI."""
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce a paper's headline figures (ray-bandit, multiroom-interference: Schaul et al. 2019; "
        "ppo-collapse, ppo-trust-toy: Moalla et al. 2024; "
        "td-interference: Bengio et al. 2020)",
        description=(
            "ray-bandit: Figs. 1-9 of Schaul et al. (2019) on the K x n bandit (full: 1000 seeds x 1e5 "
            "samples, minutes on a CPU). ppo-collapse: baseline PPO beside PFO, a shared trunk and Adam reset, "
            "with --setting permuted (the default: MultiRoom, ReLU, many epochs, inputs permuted every 16k steps, a "
            "changing target where baseline PPO's return collapses; about 13 minutes on a CPU core), cheap (the same agent "
            "on the single task: the representation degrades, the return holds; minutes on a CPU) or hopper (the "
            "paper's epochs 10/15/20 grid, 5M steps a run, meant for a cluster). ppo-trust-toy: the theoretical "
            "setting of Moalla et al. (Section 3.2.1, Fig. 5; seconds on a CPU). td-interference: Bengio et al. "
            "(2020), TD(lambda) vs regression interference on Glimpse over training and by lambda (Figs. 3-5, 7, 11, "
            "13, 14; full: 16 seeds x 6 lambdas) and interference vs the generalisation gap over training-set sizes x "
            "capacities for TD(0), regression and a classifier (Figs. 1, 2, 6, 8, 9; 3 seeds); about 16 CPU minutes. multiroom-interference: Schaul et al. (2019) Section "
            "3.3 on PPO: one shared network vs a network per room vs 10% uniform behaviour mixing on "
            "MultiRoom-R4-Doors (full: 10 seeds x 1e5 steps per configuration, about 8 min on 2 cores). --quick shrinks each to under 3 minutes on a CPU. "
            "Writes PNG figures, report.md and summary.json into --out."
        ),
    )
    p.add_argument("experiment", choices=list(EXPERIMENTS), help="which reproduction to run")
    p.add_argument(
        "--quick", action="store_true", help="a small configuration that finishes in minutes on a CPU"
    )
    p.add_argument(
        "--out", default=None, help="output folder (default: the data dir's reproduce/<experiment>/)"
    )
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per setting (default: ray-bandit 1000, quick 200; ppo-collapse permuted 3, quick 1; cheap 3, "
        "quick 3; hopper 5, quick 1; td-interference 16, quick 3; multiroom-interference 10, quick 2)",
    )
    p.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 ... (default: auto)"
    )
    p.add_argument(
        "--setting",
        default=None,
        help="ppo-collapse only: 'permuted' (default; MultiRoom under a changing target: the return collapses), "
        "'cheap' (the single task: the representation degrades, the return holds) or 'hopper' (the paper's grid)",
    )
    add_threads_argument(p, "the experiment")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_cmd_reproduce)
