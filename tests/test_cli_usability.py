"""The console script as a new user meets it: --version, bare `rayenvs`, help on every flag, typos, counts
written as 1e5, thread caps, readable output files."""

from __future__ import annotations

import argparse
import os
import stat

import pytest

from rayenvs.cli import build_parser, main
from rayenvs.validation import whole_number


def test_version_and_bare_command(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == "rayenvs 0.1.0"
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rayenvs") and "train" in out and "quickstart" in out


def _flags_without_help(parser: argparse.ArgumentParser, path: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _flags_without_help(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and not action.help:
            missing.append(f"{path} {action.option_strings or action.dest}")
    return missing


def test_every_argument_of_every_command_has_help() -> None:
    assert _flags_without_help(build_parser(), "rayenvs") == []


def test_env_id_typo_suggests_the_close_id(capsys) -> None:
    assert main(["rollout", "rayenvs/Bandit-K4n5-v0", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "unknown env id 'rayenvs/Bandit-K4n5-v0'; did you mean 'rayenvs/Bandit-K4n4-v0'" in err
    assert main(["rollout", "rayenvs/Nothing-Like-It", "--episodes", "1"]) == 2
    assert "did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("100000", 100000), ("1e5", 100000), ("2.0e+5", 200000),
                                             ("100_000", 100000), ("20480.0", 20480)])
def test_whole_numbers(text: str, value: int) -> None:
    assert whole_number(text) == value


@pytest.mark.parametrize(("text", "message"), [("1.5", "'1.5' is not a whole number"),
                                               ("lots", "'lots' is not a number")])
def test_fractional_or_non_numbers_are_refused(text: str, message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["train", "rayenvs/Bandit-K2n2-v0", "--timesteps", text])
    assert exc.value.code == 2
    assert f"argument --timesteps: {message}" in capsys.readouterr().err


class _Capped(Exception):
    pass


@pytest.mark.parametrize(("argv", "want"), [([], 1), (["--threads", "3"], 3), (["--threads", "0"], 0)])
def test_train_caps_torch_threads_before_training(monkeypatch, tmp_path, argv: list[str], want: int) -> None:
    import baselines.common.threads as threads

    seen = []

    def fake_cap(n: int) -> int:
        seen.append(n)
        raise _Capped

    monkeypatch.setattr(threads, "cap_torch_threads", fake_cap)
    with pytest.raises(_Capped):
        main(["train", "rayenvs/Bandit-K2n2-v0", "--out", str(tmp_path), *argv])
    assert seen == [want] and not any(tmp_path.iterdir())


@pytest.mark.parametrize("command", ["train", "reproduce", "quickstart"])
def test_threads_flag_defaults_to_one_everywhere(command: str) -> None:
    argv = {"train": ["train", "rayenvs/Bandit-K2n2-v0"], "reproduce": ["reproduce", "ray-bandit"],
            "quickstart": ["quickstart"]}[command]
    assert build_parser(argv).parse_args(argv).threads == 1
    assert build_parser(argv).parse_args([*argv, "--threads", "4"]).threads == 4


def test_cap_torch_threads_sets_torch_and_refuses_negatives() -> None:
    import torch

    from baselines.common.threads import cap_torch_threads

    before = torch.get_num_threads()
    try:
        assert cap_torch_threads(1) == 1 == torch.get_num_threads()
        assert cap_torch_threads(0) == 1  # 0 leaves the current count alone
        with pytest.raises(ValueError, match="--threads -1 must be >= 0"):
            cap_torch_threads(-1)
    finally:
        torch.set_num_threads(before)


def test_atomic_writes_respect_the_umask(tmp_path) -> None:
    from rayenvs.atomic import atomic_write_text

    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        os.umask(0o077)
        assert stat.S_IMODE(atomic_write_text(tmp_path / "b.txt", "y").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_export_onto_a_file_is_a_clear_error(tmp_path, capsys) -> None:
    target = tmp_path / "site.html"
    target.write_text("not a folder")
    board = tmp_path / "board.sqlite"
    assert main(["leaderboard", "export", "--board", str(board), "--html", str(target)]) == 2
    assert f"--html '{target}' is a file; give a folder" in capsys.readouterr().err
    assert target.read_text() == "not a folder"


def test_rayenvs_sweep_reports_a_bad_file_one_line_per_problem_and_starts_nothing(tmp_path, capsys) -> None:
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("name: s\nalgo: bandit\nenvs: [rayenvs/Bandit-K2n2-v0]\nvariants: [tabluar]\nseeds: [0]\n"
                     "timestep: 100\n")
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"rayenvs sweep: error: sweep file {sweep} has 2 problems:",
        f"  {sweep}:4: variants: bandit modes ['tabluar'] unknown; did you mean 'tabular'? allowed: "
        "['on-policy', 'tabular', 'separate', 'uniform', 'supervised', 'mixed']",
        f"  {sweep}:6: timestep: unknown key; did you mean 'timesteps'? allowed keys: algo, device, envs, "
        "eval_episodes, max_node_losses, max_retries, metrics_every, name, overrides, resources, seeds, "
        "seeds_per_job, timesteps, variants",
    ]
    assert "Traceback" not in err and not out.exists()
