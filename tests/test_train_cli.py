"""``rayenvs train`` through rayenvs.cli.main: a real multi-seed run, and bad flags refused before training."""

from __future__ import annotations

from pathlib import Path

import pytest

from baselines.training.results import RunResult
from rayenvs.cli import main

BANDIT = "rayenvs/Bandit-K2n2-v0"
FAST = [
    "--set",
    "n_envs=4",
    "--set",
    "n_steps=16",
    "--set",
    "n_epochs=1",
    "--no-progress",
    "--eval-episodes",
    "3",
]


def test_train_two_seeds(tmp_path: Path, capsys) -> None:
    out = tmp_path / "runs"
    rc = main(
        [
            "train",
            BANDIT,
            "--variant",
            "baseline",
            "--seeds",
            "0",
            "1",
            "--timesteps",
            "128",
            "--out",
            str(out),
            "--eval-freq",
            "64",
            *FAST,
            "--set",
            "policy_kwargs.net_arch=[16]",
        ]
    )
    assert rc == 0
    for seed in (0, 1):
        res = RunResult.load(out / "Bandit-K2n2-v0" / "baseline" / f"seed_{seed}")
        assert res.seed == seed and res.total_timesteps == 128
        assert res.eval.steps == [0, 64, 128] and res.eval.episodes_per_point == 3
        assert res.config["policy_kwargs"] == {"net_arch": [16]} and res.config["n_envs"] == 4
        # diagnostics are on by default: representation metrics land in results.json every rollout
        ranks = res.metrics["repr/actor/pca_rank"]
        assert [step for step, _ in ranks] == sorted({step for step, _ in ranks}) and len(ranks) >= 2
        expected = {"repr/actor/dead_frac", "repr/critic/pca_rank", "policy/entropy", "policy/variance",
                    "trust/frac_above", "interference/mean_offdiag", "interference/rho_0_1"}
        assert expected <= res.metrics.keys()
    captured = capsys.readouterr()
    assert "seed_1" in captured.out
    # one line per seed even when stderr is not a terminal (here: captured), and no bar
    assert f"{BANDIT} baseline seed 0 (1/2) ..." in captured.err
    assert "seed 1 (2/2) done: 128 steps in" in captured.err
    # the same command again is refused (nothing to resume without --resume) ...
    again = ["train", BANDIT, "--seeds", "0", "--timesteps", "128", "--out", str(out), *FAST]
    assert main(again) == 2
    assert "already hold runs" in capsys.readouterr().err
    # ... resuming with other hyperparameters is refused ...
    assert main([*again, "--resume"]) == 2
    assert "differs in ['config']" in capsys.readouterr().err
    # ... and resuming the same configuration finds the run finished
    stamp = (out / "Bandit-K2n2-v0" / "baseline" / "seed_0" / "results.json").stat().st_mtime_ns
    assert main([*again, "--set", "policy_kwargs.net_arch=[16]", "--resume"]) == 0
    assert (out / "Bandit-K2n2-v0" / "baseline" / "seed_0" / "results.json").stat().st_mtime_ns == stamp
    # ... and a shorter budget is refused, naming the change, not marked complete
    shorter = ["train", BANDIT, "--seeds", "0", "--timesteps", "64", "--out", str(out), *FAST,
               "--set", "policy_kwargs.net_arch=[16]", "--resume"]
    assert main(shorter) == 2
    assert "the budget changed from n_timesteps=128 to 64" in capsys.readouterr().err
    assert (out / "Bandit-K2n2-v0" / "baseline" / "seed_0" / "results.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["rayenvs/NoSuchEnv-v0"], "unknown env id 'rayenvs/NoSuchEnv-v0'"),
        ([BANDIT, "--variant", "pfo-lots"], "unknown variant part 'pfo-lots'"),
        ([BANDIT, "--variant", "pfo-last+pfo-all"], "alternatives"),
        ([BANDIT, "--timesteps", "0"], "--timesteps 0 must be >= 1"),
        ([BANDIT, "--timesteps", "-100"], "--timesteps -100 must be >= 1"),
        ([BANDIT, "--set", "learning_rate"], "must look like key=value"),
        ([BANDIT, "--set", "=3"], "is not a valid key"),
        ([BANDIT, "--set", "gamma=[0.9"], "not valid YAML"),
        ([BANDIT, "--set", "n_stepz=8"], "unknown hyperparameter key(s) ['n_stepz']"),
        ([BANDIT, "--seeds"], "--seeds needs at least one seed"),
        ([BANDIT, "--seeds", "1", "1"], "repeats a seed"),
        ([BANDIT, "--eval-episodes", "0"], "--eval-episodes 0 must be >= 1"),
        ([BANDIT, "--config", "/nonexistent/cfg.yaml"], "is not a file"),
        ([BANDIT, "--device", "banana"], "is not a torch device"),
        ([BANDIT, "--device", "cuda:99"], "device='cuda:99'"),
        ([BANDIT, "--metrics-every", "-1"], "--metrics-every -1 must be >= 0"),
    ],
)
def test_bad_flags_exit_2_and_write_nothing(tmp_path: Path, capsys, flags: list[str], message: str) -> None:
    out = tmp_path / "runs"
    rc = main(["train", *flags, "--out", str(out), "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("rayenvs train: error:") and message in err
    assert not out.exists()


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    argv = ["train", BANDIT, "--timesteps", "128", "--out", str(out), "--metrics-every", "0", "--no-progress", *FAST]
    assert main(argv) == 0
    assert RunResult.load(out / "Bandit-K2n2-v0" / "baseline" / "seed_0").metrics == {}
