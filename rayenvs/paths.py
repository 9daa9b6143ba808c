"""Where rayenvs writes by default: one data directory for runs, sweeps and the local leaderboard."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "RAYENVS_DATA"


def data_dir() -> Path:
    """``$RAYENVS_DATA`` if set, else the platform's user data directory; created on first use."""
    root = os.environ.get(ENV_VAR)
    path = Path(root).expanduser() if root else Path(platformdirs.user_data_dir("rayenvs", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Default parent of training run directories."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def leaderboard_path() -> Path:
    """Default SQLite file of the local leaderboard."""
    return data_dir() / "leaderboard.sqlite"
