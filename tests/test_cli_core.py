"""`rayenvs list` and `rayenvs rollout`: the env-core commands."""

import numpy as np
import pytest

import rayenvs
from rayenvs.cli import main, rollout_random


def test_list_prints_every_id_with_components(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for env_id, info in rayenvs.CATALOG.items():
        line = next(line for line in out.splitlines() if f" {env_id} " in line)
        assert f" {info.num_components} " in line


def test_rollout_table(capsys):
    assert main(["rollout", "rayenvs/Bandit-K2n2-v0", "--episodes", "400", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "context_0" in out and "context_1" in out


def test_rollout_statistics_match_uniform_policy():
    res = rollout_random("rayenvs/Bandit-K4n4-v0", episodes=4000, seed=0)
    assert res["component_returns"].shape == (4000, 4)
    np.testing.assert_allclose(res["component_returns"].sum(1), res["returns"])
    # A uniform policy on 4 arms earns 1/4 per episode; each context earns 1/4 * 1/4.
    assert abs(res["returns"].mean() - 0.25) < 0.03
    np.testing.assert_allclose(res["component_returns"].mean(0), 1 / 16, atol=0.02)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["rollout", "rayenvs/Nope-v0"], "unknown env id"),
        (["rollout", "rayenvs/Bandit-K2n2-v0", "--episodes", "0"], "--episodes 0"),
        (["rollout", "rayenvs/ContextualBandit-v0", "--kwarg", "num_contexts=0"], "num_contexts"),
        (["rollout", "rayenvs/ContextualBandit-v0", "--kwarg", "oops"], "name=value"),
    ],
)
def test_rollout_bad_input(argv, needle, capsys):
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_debug_flag_shows_the_traceback():
    with pytest.raises(ValueError, match="unknown env id 'rayenvs/Nope-v0'"):
        main(["--debug", "rollout", "rayenvs/Nope-v0"])


def test_command_registry_is_lazy_and_complete() -> None:
    import subprocess
    import sys

    from rayenvs.cli import COMMANDS, build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == set(COMMANDS) | {"list", "rollout"}
    code = (
        "import sys; from rayenvs.cli import main; main(['list']); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('baselines', 'leaderboard', 'wrappers')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
    assert [a.dest for a in build_parser(["train", "x"])._actions if a.dest == "command"]
