"""Read latency of the served front page against the number of entries (issue 13: scores are stored on write).

Measured: median and p90 wall time of ``GET /`` (FastAPI TestClient, in process, warm) on a board of N entries
vs the peer "the same board with 10 entries", in the same run; and the cost moved to the write path (median
``Store.submit`` time, which now includes scoring the entry once). Entries are synthetic 3-seed
Bandit-K2n2 bundles with 21 eval points of 8 episodes, spread over 4 algos and 2 budgets.

Usage: ``python benchmarks/bench_leaderboard_read.py [--small 10 --large 200 --reads 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from baselines.training.results import Curve, RunResult
from leaderboard.bundle import build_bundle
from leaderboard.storage import Store
from leaderboard.web import create_app

ENV = "rayenvs/Bandit-K2n2-v0"


def _runs(root: Path, i: int) -> list[Path]:
    rng = np.random.default_rng(i)
    steps = list(range(0, 2100 if i % 2 else 1050, 100 if i % 2 else 50))
    dirs = []
    for seed in range(3):
        rets, comps = [], []
        for p in range(len(steps)):
            level = min(1.0, 0.5 + 0.5 * p / len(steps) + rng.normal(0, 0.05))
            r = [float(rng.random() < level) for _ in range(8)]
            rets.append(r)
            comps.append([[x if c == e % 2 else 0.0 for c in range(2)] for e, x in enumerate(r)])
        d = root / f"e{i}" / f"s{seed}"
        RunResult(env_id=ENV, algo=f"algo{i % 4}", variant=f"v{i}", seed=seed, config={"lr": 1e-3 * (i + 1)},
                  component_names=["context_0", "context_1"], total_timesteps=steps[-1],
                  eval=Curve(steps=steps, returns=rets, component_returns=comps, episodes_per_point=8),
                  versions={"rayenvs": "0.1.0"}, wall_time_s=1.0).save(d)
        dirs.append(d)
    return dirs


def _board(root: Path, n: int) -> tuple[Path, list[float]]:
    board = root / f"board{n}.sqlite"
    store = Store(board)
    writes = []
    for i in range(n):
        bundle = build_bundle(_runs(root / f"runs{n}", i))
        t0 = time.perf_counter()
        store.submit(bundle)
        writes.append(time.perf_counter() - t0)
    store.close()
    return board, writes


def _reads(board: Path, reads: int) -> list[float]:
    client = TestClient(create_app(board))
    assert client.get("/").status_code == 200  # warm: the first read of a process parses the templates
    times = []
    for _ in range(reads):
        t0 = time.perf_counter()
        assert client.get("/").status_code == 200
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=10)
    ap.add_argument("--large", type=int, default=200)
    ap.add_argument("--reads", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {}
        for n in (args.small, args.large):
            board, writes = _board(root, n)
            reads = _reads(board, args.reads)
            results[n] = statistics.median(reads)
            print(f"GET / with {n:4d} entries: median {1e3 * results[n]:7.1f} ms, "
                  f"p90 {1e3 * sorted(reads)[int(0.9 * len(reads)) - 1]:7.1f} ms; "
                  f"submit (scores once) median {1e3 * statistics.median(writes):6.1f} ms")
        print(f"ratio {args.large} / {args.small} entries: {results[args.large] / results[args.small]:.2f}x")


if __name__ == "__main__":
    main()
