"""Job bars of the commands (reproductions, quickstart, bandit learners): tqdm on a terminal, plain lines elsewhere.

Why: tqdm redraws its bar with carriage returns, so a log file (CI, ``nohup``, a pipe) gets either one unreadable
line or nothing until the end. When stderr is not a terminal the same tqdm bar is printed as whole lines, at most
one every ``every_s`` seconds (plus the first and the last), with tqdm's counts, rate and ETA unchanged.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, TextIO

from tqdm.std import tqdm as _tqdm

#: seconds between two lines when stderr is not a terminal
DEFAULT_EVERY_S = 15.0


class LineWriter:
    """A file for tqdm that turns each carriage-return redraw into one whole line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", "utf-8")

    def write(self, text: str) -> int:
        for part in text.replace("\n", "\r").split("\r"):
            part = part.rstrip()
            if part:
                self.stream.write(part + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


class LineBar(_tqdm):
    """tqdm whose postfix changes wait for the next line instead of printing one each."""

    def set_postfix_str(self, s: str = "", refresh: bool = False) -> None:
        super().set_postfix_str(s, refresh=refresh)

    def set_postfix(self, ordered_dict: Any = None, refresh: bool = False, **kwargs: Any) -> None:
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)


def job_bar(iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
            disable: bool = False, stream: TextIO | None = None, terminal: bool | None = None,
            every_s: float = DEFAULT_EVERY_S) -> Any:
    """A ``tqdm`` bar: redrawn in place on a terminal, else printed as a line at most every ``every_s`` s.

    ``terminal=None`` asks ``stream.isatty()`` (default stream: stderr).
    """
    from tqdm.auto import tqdm

    stream = stream if stream is not None else sys.stderr
    if terminal if terminal is not None else stream.isatty():
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, file=stream)
    return LineBar(iterable, total=total, desc=desc, unit=unit, disable=disable, file=LineWriter(stream),
                    mininterval=every_s, maxinterval=every_s, ascii=True, ncols=80, dynamic_ncols=False)
