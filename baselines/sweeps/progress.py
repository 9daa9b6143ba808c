"""Progress of a sweep on the driver: done / running / failed and an ETA, then a summary table.

On a terminal it is a rich progress bar; otherwise (CI logs, ``nohup``, a pipe) it prints one status line at
most every ``every_s`` seconds plus a line per failure or retry, so a 1,000-job log stays readable.
The ETA is the remaining jobs over the rate of jobs finished in this session.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class SweepProgress:
    """``on_update`` callback for :func:`baselines.sweeps.sweep.run_sweep`; use as a context manager."""

    def __init__(self, name: str, total: int, console: Console | None = None, every_s: float = 10.0) -> None:
        self.name, self.total, self.every_s = name, total, every_s
        self.console = console or Console()
        self.states: dict[str, str] = {}
        self.retries = 0
        self._t0 = time.monotonic()
        self._printed = 0.0
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=self.console)
            self._bar.start()
            self._task = self._bar.add_task(f"sweep {self.name}", total=self.total, detail="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._refresh()
            self._bar.stop()
        else:
            self.console.print(self.line())

    def count(self, state: str) -> int:
        return sum(s == state for s in self.states.values())

    def finished(self) -> int:
        return sum(s in ("done", "skipped", "failed") for s in self.states.values())

    def eta_s(self) -> float | None:
        done_now = self.count("done") + self.count("failed")
        remaining = self.total - self.finished()
        if done_now == 0:
            return None
        return remaining * (time.monotonic() - self._t0) / done_now

    def line(self) -> str:
        eta = self.eta_s()
        rate = (self.count("done") + self.count("failed")) / max(1e-9, time.monotonic() - self._t0)
        return (f"sweep {self.name}: {self.finished()}/{self.total} finished ({self.count('done')} done, "
                f"{self.count('skipped')} skipped), {self.count('running')} running, {self.count('failed')} "
                f"failed, {self.retries} retried; {rate:.2f} jobs/s, ETA "
                + ("?" if eta is None else _duration(eta)))

    def _refresh(self) -> None:
        eta = self.eta_s()
        detail = (f"{self.count('running')} running, {self.count('failed')} failed, ETA "
                  + ("?" if eta is None else _duration(eta)))
        self._bar.update(self._task, completed=self.finished(), detail=detail)

    def __call__(self, job_id: str, st: Any) -> None:
        if job_id:
            if st.state == "pending":
                self.retries += 1
                self.console.print(f"[yellow]retry[/] {job_id} (attempt {st.attempts}): {st.error}")
            elif st.state == "failed":
                self.console.print(f"[red]failed[/] {job_id} (attempt {st.attempts}): {st.error}")
            self.states[job_id] = st.state
        if self._bar is not None:
            self._refresh()
        elif time.monotonic() - self._printed >= self.every_s:
            self._printed = time.monotonic()
            self.console.print(self.line())


def summary_table(name: str, status: Mapping[str, Any], wall_s: float) -> Table:
    """Jobs by state with their attempts and node losses, and the failed jobs' errors."""
    table = Table(title=f"sweep {name}: {len(status)} jobs in {_duration(wall_s)}")
    for col in ("state", "jobs", "attempts", "node losses"):
        table.add_column(col, justify="left" if col == "state" else "right")
    for state in ("done", "skipped", "failed", "pending", "running"):
        rows = [s for s in status.values() if s.state == state]
        if rows:
            table.add_row(state, str(len(rows)), str(sum(s.attempts for s in rows)),
                          str(sum(s.node_losses for s in rows)))
    for job_id, s in status.items():
        if s.state == "failed":
            table.add_row(f"[red]{job_id}[/]", "", str(s.attempts), str(s.node_losses))
            table.add_row(f"  {s.error}", "", "", "")
    return table
