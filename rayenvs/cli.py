"""The ``rayenvs`` console script: the composition root that gathers every package's subcommands.

Each package contributes subcommands through a module with ``register(subparsers) -> None`` listed in
:data:`COMMANDS` as strings, imported by name only for the subcommand that runs: this file has no import
statement of an upper layer, so the env core never imports ``wrappers``, ``baselines`` or ``leaderboard``
(import-linter checks it). Commands that compose several packages live in the highest layer they use
(``leaderboard.submit_runs``, ``leaderboard.quickstart``). ``register`` must stay cheap (argparse only); heavy
imports (torch, SB3) happen inside the handlers, so ``rayenvs list`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import numpy as np

from rayenvs.validation import CLIError  # re-exported: command handlers raise it

__all__ = ["CLIError", "COMMANDS", "COMMAND_MODULES", "build_parser", "main", "rollout_random"]

#: Subcommand -> the module whose ``register(subparsers)`` adds it (a module may add several).
COMMANDS: dict[str, str] = {
    "train": "baselines.cli.train",
    "analyze": "baselines.cli.analyze",
    "reproduce": "baselines.cli.reproduce",
    "submit": "leaderboard.cli",
    "leaderboard": "leaderboard.cli",
    "sweep": "leaderboard.submit_runs",  # runs baselines.cli.sweep, then may submit
    "quickstart": "leaderboard.quickstart",  # composes baselines and leaderboard
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


def _cmd_list(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from rayenvs.registration import CATALOG

    table = Table(title="Registered rayenvs environments")
    table.add_column("id")
    table.add_column("components", justify="right")
    table.add_column("description")
    for env_id in sorted(CATALOG):
        if args.family and CATALOG[env_id].family != args.family:
            continue
        info = CATALOG[env_id]
        table.add_row(env_id, str(info.num_components), info.description)
    Console(width=200).print(table)
    return 0


def _parse_kwargs(items: Sequence[str]) -> dict:
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise CLIError(f"--kwarg {item!r} must look like name=value")
        key, value = item.split("=", 1)
        out[key] = yaml.safe_load(value)
    return out


def rollout_random(env_id: str, episodes: int, seed: int, env_kwargs: dict | None = None) -> dict:
    """Run a uniform-random policy for ``episodes`` episodes; return total and per-component returns."""
    import gymnasium as gym

    from rayenvs.registration import env_info

    env_info(env_id)
    try:
        env = gym.make(env_id, **(env_kwargs or {}))
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc)) from exc
    names = tuple(env.unwrapped.component_names)
    totals = np.zeros(episodes)
    comps = np.zeros((episodes, len(names)))
    env.action_space.seed(seed)
    for ep in range(episodes):
        _, info = env.reset(seed=seed + ep)
        done = False
        ret = 0.0
        while not done:
            _, reward, terminated, truncated, info = env.step(env.action_space.sample())
            ret += float(reward)
            done = terminated or truncated
        totals[ep] = ret
        comps[ep] = info["component_returns"]
    env.close()
    return {"component_names": names, "returns": totals, "component_returns": comps}


def _cmd_rollout(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from rayenvs.validation import check_int

    check_int("--episodes", args.episodes)
    res = rollout_random(args.env_id, args.episodes, args.seed, _parse_kwargs(args.kwarg))
    table = Table(title=f"{args.env_id}: uniform-random policy, {args.episodes} episodes, seed {args.seed}")
    table.add_column("component")
    table.add_column("mean return", justify="right")
    table.add_column("std", justify="right")
    rows = [("total", res["returns"])] + [
        (name, res["component_returns"][:, i]) for i, name in enumerate(res["component_names"])
    ]
    for name, values in rows:
        table.add_row(name, f"{values.mean():.4f}", f"{values.std():.4f}")
    Console(width=120).print(table)
    return 0


def _modules_for(argv: Sequence[str] | None) -> tuple[str, ...]:
    """The command modules a command line needs: only its subcommand's, or all of them (help, typos)."""
    if argv is None:
        return COMMAND_MODULES
    command = next((a for a in argv if not a.startswith("-")), None)
    if command in ("list", "rollout"):
        return ()
    return (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rayenvs")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "unknown"


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The full parser; given ``argv``, one that imports only the module of its subcommand."""
    parser = argparse.ArgumentParser(
        prog="rayenvs", description="Environments, baselines and a leaderboard for studying ray interference."
    )
    parser.add_argument("--debug", action="store_true", help="show a traceback instead of a one-line error")
    parser.add_argument("--version", action="version", version=f"rayenvs {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list every registered rayenvs id")
    p.add_argument("--family", default=None, help="only this family (bandit, multiroom, atari, mujoco, glimpse)")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("rollout", help="run a uniform-random policy and print per-component returns")
    p.add_argument("env_id", help="a registered rayenvs id (see `rayenvs list`)")
    p.add_argument("--episodes", type=int, default=100, help="episodes to run (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first episode; episode i uses seed+i")
    p.add_argument("--kwarg", action="append", default=[], metavar="NAME=VALUE", help="env kwarg (repeatable)")
    p.set_defaults(func=_cmd_rollout)

    for module_name in _modules_for(argv):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # that package has no commands yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    import rayenvs  # noqa: F401  (registers the ids)

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:  # bare `rayenvs`: the overview, not an error
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (CLIError, ValueError) as exc:  # bad input: one clear line, no traceback (unless --debug)
        if args.debug:
            raise
        print(f"rayenvs {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
