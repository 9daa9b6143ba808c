"""The training progress display: this run's rate (not the resume offset or setup), no count past the budget,
"seed k/N", and plain status lines when stderr is not a terminal."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace

from baselines.training.progress import TrainProgress
from baselines.training.results import RunResult
from rayenvs.cli import main

BANDIT = "rayenvs/Bandit-K2n2-v0"


class _Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def _drive(cb: TrainProgress, model: SimpleNamespace, clock: _Clock, points: list[tuple[float, int]]) -> None:
    cb.model = model
    cb.on_training_start({}, {})
    for t, steps in points:
        clock.t, model.num_timesteps = t, steps
        cb.on_step()
    cb.on_training_end()


def test_resumed_run_rate_counts_only_this_process_and_the_count_stops_at_the_budget() -> None:
    out, clock = io.StringIO(), _Clock(100.0)
    cb = TrainProgress(10_000, "rayenvs train: seed 3 (2/3)", stream=out, terminal=False, every_s=10.0, clock=clock)
    model = SimpleNamespace(num_timesteps=5_000)  # resumed at 5,000 of 10,000
    _drive(cb, model, clock, [(102.0, 6_000), (105.0, 7_000), (110.5, 9_000), (112.0, 10_240)])
    lines = out.getvalue().splitlines()
    assert lines == [
        "rayenvs train: seed 3 (2/3): 5,000/10,000 steps (50%), ? steps/s, elapsed 0m00s, ETA ?",
        # the periodic line at t=110.5 (>= 10 s after the first): 4,000 steps of this process in 10.5 s (SB3's
        # bar counts the 5,000 resumed steps too: 857 steps/s)
        "rayenvs train: seed 3 (2/3): 9,000/10,000 steps (90%), 381 steps/s, elapsed 0m10s, ETA 0m03s",
        # PPO's last rollout ended at 10,240: shown as the budget, the rate still counts every step taken
        "rayenvs train: seed 3 (2/3): 10,000/10,000 steps (100%), 437 steps/s, elapsed 0m12s, ETA 0m00s",
    ]
    assert cb.rate() == (10_240 - 5_000) / 12.0


def test_bar_on_a_terminal_never_shows_more_than_the_budget() -> None:
    out, clock = io.StringIO(), _Clock(0.0)
    cb = TrainProgress(1_000, "rayenvs train: seed 0 (1/1)", stream=out, terminal=True, clock=clock)
    _drive(cb, SimpleNamespace(num_timesteps=0), clock, [(1.0, 512), (2.0, 1_024)])
    text = out.getvalue()
    assert "rayenvs train: seed 0 (1/1)" in text and "1,000/1,000 steps" in text and "512 steps/s" in text
    assert "1,024" not in text


def test_rayenvs_train_prints_status_lines_to_a_log_and_stops_at_the_budget(tmp_path: Path, capsys) -> None:
    """A budget of 100 with 64-step rollouts trains 128 steps; the display says 100/100, seed k/N, no bar."""
    out = tmp_path / "runs"
    argv = ["train", BANDIT, "--seeds", "0", "1", "--timesteps", "100", "--out", str(out), "--metrics-every", "0",
            "--set", "n_envs=4", "--set", "n_steps=16", "--set", "n_epochs=1", "--eval-episodes", "2"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert RunResult.load(out / "Bandit-K2n2-v0" / "baseline" / "seed_1").total_timesteps == 128
    for k, seed in ((1, 0), (2, 1)):
        lines = [ln for ln in err.splitlines() if ln.startswith(f"rayenvs train: seed {seed} ({k}/2): ")]
        assert lines[0].startswith(f"rayenvs train: seed {seed} ({k}/2): 0/100 steps (0%), ? steps/s")
        assert re.fullmatch(rf"rayenvs train: seed {seed} \({k}/2\): 100/100 steps \(100%\), [\d,]+ steps/s, "
                            r"elapsed \dm\d\ds, ETA 0m00s", lines[-1]), lines[-1]
    assert "128/100" not in err and "\r" not in err and "\x1b[" not in err  # no bar, no terminal codes
    assert "seed 1 (2/2) done: 128 steps in" in err


def test_job_bars_print_whole_lines_to_a_log_at_most_every_interval(monkeypatch) -> None:
    """The reproductions' and quickstart's tqdm bars: no carriage returns in a log, postfix changes batched."""
    import tqdm.std

    from baselines.common.progress import job_bar

    clock = _Clock(0.0)
    monkeypatch.setattr(tqdm.std, "time", clock)  # tqdm's own timer
    out = io.StringIO()
    bar = job_bar(["a", "b", "c", "d"], desc="ray-bandit", stream=out, every_s=10.0)
    for i, job in enumerate(bar):
        bar.set_postfix_str(f"job {job}")
        clock.t = 6.0 * (i + 1)  # jobs of 6 s: a line at most every 10 s, plus the first and the last
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 4, lines
    assert lines[0].startswith("ray-bandit:   0%|") and lines[0].endswith("0/4 [00:00<?, ?it/s]")
    assert re.search(r"ray-bandit:  50%\|#+ +\| 2/4 \[00:12<00:\d\d,  6\.00s/it, job b\]$", lines[1]), lines[1]
    assert re.search(r"ray-bandit: 100%\|#+\| 4/4 \[00:24<00:00,  6\.00s/it, job d\]$", lines[-1]), lines[-1]
    # on a terminal it stays tqdm's in-place bar
    tty = io.StringIO()
    with job_bar(total=2, desc="quickstart", unit="job", stream=tty, terminal=True) as b:
        b.update(2)
    assert "\r" in tty.getvalue()
