"""Leaderboard benchmarks, each a ratio against a named peer measured in the same run.

1. Bootstrap CIs: :func:`leaderboard.scoring.stratified_bootstrap_ci` (one vectorised call over all resamples)
   vs the peer "rliable per-resample loop" (``rliable.metrics.aggregate_iqm`` called once per resample, which is
   what ``rliable.library.StratifiedBootstrap`` does). Both use the same resample indices, so the CIs must agree.
2. Submissions to one SQLite board: 4 concurrent processes vs the peer "1 process, serial", same bundles.
3. Front page: rendering the index of N entries vs the peer "scoring only" (to show where the time goes).

Usage: ``python benchmarks/bench_leaderboard.py [--entries 40]``; prints one line per benchmark.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import numpy as np
from rliable import metrics as rly_metrics

from baselines.training.results import Curve, RunResult
from leaderboard.bundle import build_bundle
from leaderboard.render import index_html
from leaderboard.schema import Bundle
from leaderboard.scoring import CI_LEVEL, batched_iqm, score_board, stratified_bootstrap_ci
from leaderboard.storage import Store
from leaderboard.web import APP_URLS


def _loop_ci(scores: np.ndarray, reps: int, seed: int) -> tuple[float, float]:
    rng = np.random.RandomState(seed)
    n_runs, n_tasks = scores.shape
    idx = rng.randint(0, n_runs, size=(reps, n_runs, n_tasks))
    values = [rly_metrics.aggregate_iqm(scores[idx[r], np.arange(n_tasks)[None, :]]) for r in range(reps)]
    tail = (1 - CI_LEVEL) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def bench_bootstrap(reps: int = 2000) -> None:
    scores = np.random.default_rng(0).random((10, 5))
    t0 = time.perf_counter()
    ours = stratified_bootstrap_ci(batched_iqm, scores, reps=reps)
    t1 = time.perf_counter()
    peer = _loop_ci(scores, reps, 0)
    t2 = time.perf_counter()
    print(
        f"bootstrap IQM CI (10 runs x 5 tasks, {reps} reps): vectorised {t1 - t0:.4f}s, "
        f"rliable per-resample loop {t2 - t1:.4f}s, speed-up x{(t2 - t1) / (t1 - t0):.1f}, "
        f"same CI: {np.allclose(ours, peer)}"
    )


def _bundle(root: Path, tag: int) -> Bundle:
    dirs = []
    for seed in range(3):
        level = (tag % 5) / 4 if seed == 0 else 1.0
        wins = round(level * 4)
        rets = [[1.0 if j < wins else 0.0 for j in range(4)] for _ in range(4)]
        comps = [[[r, 0.0] if j % 2 == 0 else [0.0, r] for j, r in enumerate(point)] for point in rets]
        d = root / f"{tag}" / f"s{seed}"
        d.mkdir(parents=True)
        RunResult(
            env_id="rayenvs/Bandit-K2n2-v0",
            algo=f"algo{tag}",
            variant="baseline" if tag == 0 else "pfo-last",
            seed=seed,
            config={"learning_rate": 3e-4, "tag": tag},
            component_names=["context_0", "context_1"],
            total_timesteps=300,
            eval=Curve(steps=[0, 100, 200, 300], returns=rets, component_returns=comps, episodes_per_point=4),
            wall_time_s=1.0,
        ).save(d)
        dirs.append(d)
    return build_bundle(dirs)


def _submit_all(board: str, payloads: list[str]) -> int:
    store = Store(board)
    for js in payloads:
        store.submit(Bundle.model_validate_json(js))
    store.close()
    return len(payloads)


def bench_submissions(root: Path, n: int, workers: int = 4) -> list[str]:
    payloads = [_bundle(root / "runs", i).model_dump_json() for i in range(n)]
    t0 = time.perf_counter()
    _submit_all(str(root / "serial.sqlite"), payloads)
    serial = time.perf_counter() - t0
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    Store(root / "parallel.sqlite").close()
    t0 = time.perf_counter()
    with ctx.Pool(workers) as pool:
        pool.starmap(
            _submit_all, [(str(root / "parallel.sqlite"), payloads[w::workers]) for w in range(workers)]
        )
    parallel = time.perf_counter() - t0
    stored = Store(root / "parallel.sqlite").count()
    print(
        f"{n} submissions to SQLite: {workers} processes {parallel:.2f}s ({n / parallel:.1f}/s), "
        f"1 process serial {serial:.2f}s ({n / serial:.1f}/s), ratio x{serial / parallel:.2f}, "
        f"stored {stored}/{n}"
    )
    return payloads


def bench_index(root: Path) -> None:
    store = Store(root / "serial.sqlite")
    entries = store.entries()
    t0 = time.perf_counter()
    scores = score_board(entries)
    t1 = time.perf_counter()
    html = index_html(entries, scores, APP_URLS)
    t2 = time.perf_counter()
    print(
        f"front page of {len(entries)} entries: scoring {t1 - t0:.3f}s, scoring + HTML {t2 - t0:.3f}s "
        f"(HTML adds x{(t2 - t0) / (t1 - t0):.2f}), {len(html) // 1024} KiB"
    )


def main() -> None:
    import rayenvs  # noqa: F401

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=40)
    args = parser.parse_args()
    bench_bootstrap()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bench_submissions(root, args.entries)
        bench_index(root)


if __name__ == "__main__":
    main()
