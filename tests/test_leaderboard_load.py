"""A small, fast version of benchmarks/bench_leaderboard_load.py (issue 11's done-when load test): concurrent
HTTP writers and readers against a real uvicorn process and SQLite file lose nothing, reads stay fast, and a
SIGKILL mid-load leaves an intact file holding every acknowledged submission."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("uvicorn")

_SPEC = importlib.util.spec_from_file_location(
    "bench_leaderboard_load", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_leaderboard_load.py"
)
load = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(load)


def test_concurrent_writers_lose_nothing_and_reads_stay_fast(tmp_path):
    res = load.run_load(tmp_path, writers=6, submissions=30, readers=2)
    assert res["errors"] == []
    assert res["acked"] == res["stored"] == 30
    assert res["lost"] == []
    assert res["integrity"] == "ok"
    assert res["reads"] > 0
    assert res["read_p95_s"] < 1.0


def test_sigkill_mid_load_keeps_every_acknowledged_submission(tmp_path):
    res = load.run_kill(tmp_path, writers=6, submissions=30, kill_after=10)
    assert res["killed_by"] == 9
    assert res["acked"] >= 10
    assert res["lost"] == []
    assert res["integrity"] == "ok"
    assert res["stored"] >= res["acked"]
    assert res["stored"] < 30  # the kill really happened mid-load
