"""Atomic file writes: results are either absent or complete, never half-written."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def _new_file_mode() -> int:
    """The mode ``open()`` would give a new file: 0o666 less the process umask (mkstemp's 0600 is too tight:
    results, run directories and exported sites are meant to be read by others)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO], None], binary: bool = False) -> Path:
    """Call ``write(fileobj)`` on a temp file in the target's directory, fsync, then rename over ``path``.

    The file gets the mode a plain ``open()`` would give it (e.g. 0644 under the usual umask 022).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, _new_file_mode())
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, sort_keys=True, allow_nan=False))
