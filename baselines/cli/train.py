"""``rayenvs train ENV_ID ...``: train PPO (a named variant) for several seeds, one run directory per seed.

Every flag is checked, and every seed's config resolved, before the first step of training, so a typo in the
last ``--set`` costs nothing and writes nothing. ``register`` only builds argparse; torch and SB3 are imported
in the handler.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    from baselines.common.threads import add_threads_argument
    from rayenvs.validation import whole_number

    p = subparsers.add_parser(
        "train",
        help="train PPO (or a variant with the interventions of Moalla et al.) on a rayenvs env",
        description=(
            "Train one configuration for several seeds. Each seed ends in OUT/<env>/<variant>/seed_<s>/ with "
            "results.json, config.yaml, curves.png, policy.safetensors, progress.csv and TensorBoard logs."
        ),
    )
    p.add_argument("env_id", help="a registered rayenvs id, e.g. rayenvs/Bandit-K2n2-v0 (see `rayenvs list`)")
    p.add_argument(
        "--variant",
        default="baseline",
        help="baseline, or '+'-joined interventions: pfo-last, pfo-all, shared-trunk, adam-reset, adam-equal-betas",
    )
    p.add_argument(
        "--seeds", type=int, nargs="*", default=[0], metavar="SEED", help="seeds to run (default: 0)"
    )
    p.add_argument(
        "--timesteps",
        type=whole_number,
        default=None,
        help="env steps per seed, e.g. 100000 or 1e5 (default: the config's n_timesteps)",
    )
    p.add_argument(
        "--device", default="auto", help="torch device: auto, cpu, cuda, cuda:1 ... (default: auto)"
    )
    p.add_argument(
        "--out", default=None, help="parent directory of the run directories (default: the data dir's runs/)"
    )
    p.add_argument(
        "--config", default=None, metavar="FILE.yaml", help="hyperparameters overriding the shipped ones"
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one hyperparameter (YAML value, dotted keys for nested ones); repeatable",
    )
    p.add_argument(
        "--resume", action="store_true", help="continue interrupted runs from their last checkpoint"
    )
    p.add_argument(
        "--eval-freq", type=int, default=None, help="evaluate every N env steps (default: 1/20 of the run)"
    )
    p.add_argument("--eval-episodes", type=int, default=10, help="episodes per evaluation (default: 10)")
    p.add_argument(
        "--eval-stochastic", action="store_true", help="sample actions in evaluation (default: greedy)"
    )
    p.add_argument(
        "--checkpoint-freq", type=int, default=None, help="checkpoint every N env steps (default: 1/10)"
    )
    p.add_argument(
        "--n-envs", type=int, default=None, help="parallel training envs (default: the config's n_envs)"
    )
    p.add_argument(
        "--metrics-every",
        type=int,
        default=1,
        metavar="N",
        help="representation/trust-region metrics every N rollouts, into results.json and TensorBoard "
        "(default: 1, about 2-3%% overhead; 0: off)",
    )
    p.add_argument(
        "--capacity-every",
        type=int,
        default=25,
        metavar="M",
        help="capacity loss every M metric computations (default: 25; 0: off)",
    )
    add_threads_argument(p, "the training process")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress display (a bar on a terminal, a status line every 15 s otherwise; the line "
        "per seed is printed either way)",
    )
    p.set_defaults(func=_cmd_train)


def _check_flags(args: argparse.Namespace) -> None:
    from rayenvs.validation import check_int

    if not args.seeds:
        raise ValueError("--seeds needs at least one seed, e.g. --seeds 0 1 2")
    bad = [s for s in args.seeds if s < 0]
    if bad:
        raise ValueError(f"--seeds {bad} must be integers >= 0")
    if len(set(args.seeds)) != len(args.seeds):
        raise ValueError(f"--seeds {args.seeds} repeats a seed")
    check_int("--threads", args.threads, lo=0, hint=" (0 keeps torch's default)")
    for flag, value in (
        ("--timesteps", args.timesteps),
        ("--eval-freq", args.eval_freq),
        ("--checkpoint-freq", args.checkpoint_freq),
        ("--n-envs", args.n_envs),
        ("--eval-episodes", args.eval_episodes),
    ):
        check_int(flag, value, allow_none=True)
    for flag, value in (("--metrics-every", args.metrics_every), ("--capacity-every", args.capacity_every)):
        check_int(flag, value, lo=0, hint=" (0 turns it off)")


def _cmd_train(args: argparse.Namespace) -> int:
    import rayenvs  # noqa: F401 - registers the ids
    from baselines.common.threads import cap_torch_threads
    from baselines.ppo.variants import canonical_variant
    from baselines.training.config import resolve_config
    from baselines.training.loop import check_device, holds_run, run_dir_for
    from rayenvs.paths import runs_dir
    from rayenvs.registration import env_info

    _check_flags(args)
    env_info(args.env_id)
    variant = canonical_variant(args.variant)
    check_device(args.device)
    cap_torch_threads(args.threads)
    if args.config is not None and not Path(args.config).is_file():
        raise ValueError(f"--config {args.config!r} is not a file")
    args.resolved_config = resolve_config(
        args.env_id, args.config, args.overrides, timesteps=args.timesteps, n_envs=args.n_envs
    )
    out = Path(args.out) if args.out is not None else runs_dir()
    if not args.resume:
        taken = [
            str(d) for d in (run_dir_for(out, args.env_id, variant, s) for s in args.seeds) if holds_run(d)
        ]
        if taken:
            raise ValueError(
                f"run directories already hold runs: {taken}; pass --resume or choose another --out"
            )

    from rich.console import Console
    from rich.table import Table

    from baselines.training.results import RunResult

    table = Table(title=f"{args.env_id}  {variant}")
    for col in ("seed", "steps", "final eval return", "wall time (s)", "run directory"):
        table.add_column(col)
    show_progress = not args.no_progress
    for k, seed in enumerate(args.seeds, start=1):
        # one line per seed, terminal or not; the progress display is a bar on a terminal, status lines otherwise
        print(f"rayenvs train: {args.env_id} {variant} seed {seed} ({k}/{len(args.seeds)}) ...", file=sys.stderr,
              flush=True)
        try:
            run = _train_seed(args, variant, seed, out, show_progress,
                              f"rayenvs train: seed {seed} ({k}/{len(args.seeds)})")
        except KeyboardInterrupt:
            print(
                f"rayenvs train: interrupted at seed {seed}; rerun with --resume to continue", file=sys.stderr
            )
            return 130
        res = RunResult.load(run)
        final = res.eval.mean_returns()[-1]
        print(f"rayenvs train: seed {seed} ({k}/{len(args.seeds)}) done: {res.total_timesteps} steps in "
              f"{res.wall_time_s:.1f} s, final eval return {final:.4f}", file=sys.stderr, flush=True)
        table.add_row(str(seed), str(res.total_timesteps), f"{final:.4f}", f"{res.wall_time_s:.1f}", str(run))
    Console(width=200).print(table)
    return 0


def _train_seed(args: argparse.Namespace, variant: str, seed: int, out: Path, progress: bool, label: str) -> Path:
    from baselines.diagnostics.metrics import metrics_callback_for
    from baselines.training.loop import run_training

    metrics = metrics_callback_for(args.resolved_config, args.metrics_every, args.capacity_every, seed=seed)

    return run_training(
        args.env_id,
        variant=variant,
        seed=seed,
        timesteps=args.timesteps,
        out_dir=out,
        config_path=args.config,
        overrides=args.overrides,
        device=args.device,
        eval_freq=args.eval_freq,
        eval_episodes=args.eval_episodes,
        checkpoint_freq=args.checkpoint_freq,
        resume=args.resume,
        progress=progress,
        progress_label=label,
        n_envs=args.n_envs,
        eval_deterministic=not args.eval_stochastic,
        extra_callbacks=[metrics] if metrics is not None else [],
    )
