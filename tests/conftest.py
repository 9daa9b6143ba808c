"""Shared test setup: every test writes under a temporary data directory and plots headless."""

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path, monkeypatch):
    """Keep tests from writing into the user's real rayenvs data directory."""
    monkeypatch.setenv("RAYENVS_DATA", str(tmp_path / "rayenvs-data"))
