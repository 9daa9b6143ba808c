"""One set of input checks for every layer (envs, wrappers, CLI, sweeps, experiments).

It sits in the env core, the lowest layer, so every package can use it. Each check raises at the earliest point
with a message naming the bad value and the allowed range, in one of two forms:

- keyword arguments: ``num_envs=0 must be an integer >= 1``;
- command-line flags (names starting with ``--``): ``--seeds 0 must be >= 1``.
"""

from __future__ import annotations

import numbers
from typing import Any


class CLIError(Exception):
    """A user error: the ``rayenvs`` console script prints it as one line and exits with code 2."""


def is_int(value: Any) -> bool:
    """True for Python and NumPy integers; False for bools (``True`` is not a count)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(
    name: str, value: Any, lo: int = 1, hi: int | None = None, allow_none: bool = False, hint: str = ""
) -> int | None:
    """``value`` if it is an integer in ``[lo, hi]`` (``None`` passes when ``allow_none``), else ``ValueError``.

    ``hint`` is appended to the message (e.g. ``" (0 turns it off)"``).
    """
    if value is None and allow_none:
        return None
    if is_int(value) and value >= lo and (hi is None or value <= hi):
        return int(value)
    allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
    if name.startswith("--"):
        raise ValueError(f"{name} {value} must be {allowed}{hint}")
    tail = " or None" if allow_none else ""
    raise ValueError(f"{name}={value!r} must be an integer {allowed}{tail}{hint}")


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed: an integer >= 0."""
    return check_int(name, value, lo=0)  # type: ignore[return-value]


def whole_number(text: str) -> int:
    """An ``argparse`` type for counts: ``100000``, ``100_000`` and integral floats such as ``1e5`` or ``2.0e+5``.

    A fractional value (``1.5``) or non-number is refused with a message naming it, as argparse's own error.
    """
    import argparse

    try:
        return int(text.replace("_", ""))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (e.g. 100000 or 1e5)") from None
    if not value.is_integer():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (e.g. 100000 or 1e5)")
    return int(value)
