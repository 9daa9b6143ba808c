"""Progress of one training run: a bar on a terminal, a plain status line every ``every_s`` seconds elsewhere.

SB3's own ``progress_bar=True`` is wrong for a rayenvs run in three ways this callback fixes: its rate counts
from the bar's creation including a resumed run's earlier steps when ``reset_num_timesteps=False``; it runs past
the total, since PPO collects whole rollouts of ``n_envs * n_steps`` until ``num_timesteps >= total`` (a budget
of 1,000 with 256-step rollouts ends at 1,024); and it prints nothing useful to a log file. Here the count shown
is ``min(num_timesteps, total)`` of the whole run's budget (a resumed run starts where it stopped), the rate is
the steps taken by *this* process over the time since training started (setup, env and model construction, and
the resume offset excluded), and the ETA is the remaining steps at that rate. Evaluation and metric time inside
the run count, since they are part of what the user waits for.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from stable_baselines3.common.callbacks import BaseCallback

#: seconds between two status lines when the output is not a terminal
DEFAULT_EVERY_S = 15.0
#: seconds between two bar refreshes (the bar is redrawn by rich; updating it costs a little)
_BAR_EVERY_S = 0.25


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m{s % 60:02d}s" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class TrainProgress(BaseCallback):
    """Show ``label: shown/total steps (pct), rate steps/s, elapsed, ETA`` for one run.

    ``terminal=None`` asks ``stream.isatty()``. ``clock`` is injectable so tests can drive time.
    """

    def __init__(self, total: int, label: str, stream: TextIO | None = None, terminal: bool | None = None,
                 every_s: float = DEFAULT_EVERY_S, clock: Any = time.monotonic) -> None:
        super().__init__(verbose=0)
        self.total, self.label, self.every_s, self.clock = int(total), label, float(every_s), clock
        self.stream = stream if stream is not None else sys.stderr
        self.terminal = bool(self.stream.isatty()) if terminal is None else terminal
        self.start_steps = 0
        self._t0 = 0.0
        self._last = 0.0
        self._bar: Any = None
        self._task: Any = None

    # ---- numbers ----
    def steps(self) -> int:
        return int(self.model.num_timesteps) if self.model is not None else self.start_steps

    def shown(self) -> int:
        """Steps to display: never past the budget (PPO's last rollout may end beyond it)."""
        return min(self.steps(), self.total)

    def rate(self) -> float | None:
        """Steps per second of this process since training started; None before any time has passed."""
        dt = self.clock() - self._t0
        return (self.steps() - self.start_steps) / dt if dt > 0 and self.steps() > self.start_steps else None

    def eta_s(self) -> float | None:
        rate = self.rate()
        return None if rate is None else max(0, self.total - self.shown()) / rate

    def line(self) -> str:
        rate, eta = self.rate(), self.eta_s()
        pct = 100.0 * self.shown() / self.total if self.total else 100.0
        return (f"{self.label}: {self.shown():,}/{self.total:,} steps ({pct:.0f}%), "
                + ("? steps/s" if rate is None else f"{rate:,.0f} steps/s")
                + f", elapsed {_duration(self.clock() - self._t0)}, ETA " + ("?" if eta is None else _duration(eta)))

    # ---- SB3 hooks ----
    def _on_training_start(self) -> None:
        self.start_steps = int(self.model.num_timesteps)
        self._t0 = self._last = self.clock()
        if self.terminal:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[detail]}"),
                                 console=Console(file=self.stream), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, completed=self.shown(), detail="")
        else:
            print(self.line(), file=self.stream, flush=True)

    def _on_step(self) -> bool:
        now = self.clock()
        if now - self._last >= (_BAR_EVERY_S if self._bar is not None else self.every_s):
            self._last = now
            self._show()
        return True

    def _on_training_end(self) -> None:
        self._show()
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _show(self) -> None:
        if self._bar is not None:
            rate, eta = self.rate(), self.eta_s()
            detail = (f"{self.shown():,}/{self.total:,} steps  "
                      + ("? steps/s" if rate is None else f"{rate:,.0f} steps/s")
                      + f"  {_duration(self.clock() - self._t0)}  ETA " + ("?" if eta is None else _duration(eta)))
            self._bar.update(self._task, completed=self.shown(), detail=detail)
        else:
            print(self.line(), file=self.stream, flush=True)
