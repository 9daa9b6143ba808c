"""Leaderboard under load: concurrent HTTP writers and readers against a real server, then a SIGKILL mid-load.

A uvicorn server process (``leaderboard.web.create_app``) serves a real SQLite file on 127.0.0.1 only. ``writers``
threads, each with its own token, POST ``submissions`` distinct bundles in total while ``readers`` threads fetch
``/`` and ``/api/entries`` in a loop. Measured: throughput, read latency (p50/p95/max, peer: the same reads on the
idle board after the load, so the ratio shows what the writers cost the readers), and whether every
acknowledged (HTTP 201) submission is stored with its content hash. Then the same load again on a fresh board,
the server SIGKILLed once ``kill_after`` submissions were acknowledged: ``PRAGMA integrity_check`` must say ok
and every acknowledged submission must be in the file.

Bounded: counts and a wall-clock limit are fixed, loopback only. Usage:
``python benchmarks/bench_leaderboard_load.py [--writers 12 --submissions 200 --readers 4]``.
tests/test_leaderboard_load.py runs a smaller version of :func:`run_load` and :func:`run_kill`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
LIMIT_S = 600.0  # the whole run never exceeds this: writers and readers stop at the deadline
SERVER_CODE = (
    "import sys, uvicorn\n"
    "from leaderboard.web import create_app\n"
    "uvicorn.run(create_app(sys.argv[1], submissions_per_minute=100000), host='127.0.0.1',"
    " port=int(sys.argv[2]), log_level='warning')\n"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_payloads(root: Path, n: int) -> list[tuple[str, str]]:
    """``n`` distinct valid bundles as ``(json, content_hash)``."""
    sys.path.insert(0, str(HERE))
    from bench_leaderboard import _bundle  # the benchmarks' small Bandit-K2n2 bundle

    out = []
    for i in range(n):
        bundle = _bundle(root, i)
        out.append((bundle.model_dump_json(), bundle.content_hash))
    return out


def make_tokens(board: Path, n: int) -> list[str]:
    from leaderboard.storage import Store
    from leaderboard.tokens import create_token

    store = Store(board)
    try:
        return [create_token(store, f"writer{i}") for i in range(n)]
    finally:
        store.close()


def start_server(board: Path) -> tuple[subprocess.Popen, str]:
    """A uvicorn process serving ``board`` on a free loopback port; waits until ``/`` answers."""
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE, str(board), str(port)],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode} before serving")
        try:
            if httpx.get(url + "/api/entries", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not answer within 60 s")


def _load(
    url: str,
    tokens: list[str],
    payloads: list[tuple[str, str]],
    readers: int,
    kill: subprocess.Popen | None = None,
    kill_after: int = 0,
) -> dict[str, Any]:
    import httpx

    acked: dict[int, str] = {}
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    writers_done = threading.Event()
    deadline = time.monotonic() + LIMIT_S

    def write(w: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            for body, digest in payloads[w :: len(tokens)]:
                if time.monotonic() > deadline:
                    return
                try:
                    r = client.post(
                        "/api/submit",
                        content=body,
                        headers={"Authorization": f"Bearer {tokens[w]}", "Content-Type": "application/json"},
                    )
                except httpx.HTTPError as exc:
                    if kill is None:
                        with lock:
                            errors.append(f"writer {w}: {exc!r}")
                    return
                with lock:
                    if r.status_code == 201:
                        acked[int(r.json()["id"])] = digest
                        if kill is not None and len(acked) == kill_after:
                            kill.send_signal(signal.SIGKILL)
                    else:
                        errors.append(f"writer {w}: HTTP {r.status_code} {r.text[:200]}")

    def read() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            i = 0
            while not writers_done.is_set() and time.monotonic() < deadline:
                path = "/" if i % 2 == 0 else "/api/entries"
                t0 = time.perf_counter()
                try:
                    r = client.get(path)
                except httpx.HTTPError:
                    return
                dt = time.perf_counter() - t0
                with lock:
                    latencies.append(dt)
                    if r.status_code != 200:
                        errors.append(f"GET {path}: HTTP {r.status_code}")
                i += 1

    t0 = time.perf_counter()
    write_threads = [threading.Thread(target=write, args=(w,)) for w in range(len(tokens))]
    read_threads = [threading.Thread(target=read) for _ in range(readers)]
    for t in write_threads + read_threads:
        t.start()
    for t in write_threads:
        t.join()
    writers_done.set()
    for t in read_threads:
        t.join()
    return {"acked": acked, "errors": errors, "latencies": latencies, "wall_s": time.perf_counter() - t0}


def stored_hashes(board: Path) -> tuple[str, dict[int, str]]:
    """``(integrity_check result, {id: content_hash})`` read straight from the SQLite file."""
    with sqlite3.connect(board) as conn:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = dict(conn.execute("SELECT id, content_hash FROM submissions").fetchall())
    return integrity, rows


def _idle_reads(url: str, n: int) -> list[float]:
    import httpx

    out = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for i in range(n):
            t0 = time.perf_counter()
            assert client.get("/" if i % 2 == 0 else "/api/entries").status_code == 200
            out.append(time.perf_counter() - t0)
    return out


def _served_run(root: Path, name: str, writers: int, submissions: int, **load: Any) -> dict[str, Any]:
    """One load on a fresh board ``root/name.sqlite``; the server stopped (or killed) before the file is read."""
    board = root / f"{name}.sqlite"
    payloads = make_payloads(root / f"runs_{name}", submissions)
    tokens = make_tokens(board, writers)
    proc, url = start_server(board)
    try:
        res = _load(url, tokens, payloads, kill=proc if load.get("kill_after") else None, **load)
        res["idle"] = [] if load.get("kill_after") else _idle_reads(url, 20)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    integrity, rows = stored_hashes(board)
    res.update(
        integrity=integrity,
        stored=len(rows),
        lost=sorted(i for i, h in res["acked"].items() if rows.get(i) != h),
        returncode=proc.returncode,
    )
    return res


def run_load(root: Path, writers: int, submissions: int, readers: int) -> dict[str, Any]:
    """The load run; returns figures plus ``lost`` (acknowledged but not stored, must be empty)."""
    res = _served_run(root, "load", writers, submissions, readers=readers)
    lat = np.asarray(res["latencies"]) if res["latencies"] else np.zeros(1)
    return {
        "submissions": submissions,
        "acked": len(res["acked"]),
        "stored": res["stored"],
        "lost": res["lost"],
        "errors": res["errors"],
        "integrity": res["integrity"],
        "wall_s": res["wall_s"],
        "reads": int(lat.size),
        "read_p50_s": float(np.percentile(lat, 50)),
        "read_p95_s": float(np.percentile(lat, 95)),
        "read_max_s": float(lat.max()),
        "idle_p95_s": float(np.percentile(res["idle"], 95)),
    }


def run_kill(root: Path, writers: int, submissions: int, kill_after: int) -> dict[str, Any]:
    """The same load, the server SIGKILLed after ``kill_after`` acknowledgements; what survives in the file."""
    res = _served_run(root, "kill", writers, submissions, readers=2, kill_after=kill_after)
    return {
        "acked": len(res["acked"]),
        "stored": res["stored"],
        "lost": res["lost"],
        "integrity": res["integrity"],
        "killed_by": -res["returncode"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", type=int, default=12)
    ap.add_argument("--submissions", type=int, default=200)
    ap.add_argument("--readers", type=int, default=4)
    ap.add_argument("--kill-after", type=int, default=60)
    args = ap.parse_args()
    if not (1 <= args.writers <= 64 and 1 <= args.submissions <= 2000 and 0 <= args.readers <= 32):
        raise SystemExit("--writers 1..64, --submissions 1..2000, --readers 0..32")
    if not 1 <= args.kill_after < args.submissions:
        raise SystemExit(f"--kill-after {args.kill_after} must be in 1..{args.submissions - 1}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        load = run_load(Path(tmp), args.writers, args.submissions, args.readers)
        print(
            json.dumps({k: v for k, v in load.items() if k != "errors"} | {"n_errors": len(load["errors"])})
        )
        print(
            f"{args.writers} writers x {args.submissions} submissions + {args.readers} readers: "
            f"{load['acked']}/{args.submissions} acknowledged, {load['stored']} stored, lost {len(load['lost'])}, "
            f"{load['submissions'] / load['wall_s']:.1f} submissions/s; {load['reads']} reads, "
            f"p50 {load['read_p50_s']:.3f}s p95 {load['read_p95_s']:.3f}s max {load['read_max_s']:.3f}s "
            f"(idle board p95 {load['idle_p95_s']:.3f}s, ratio x{load['read_p95_s'] / load['idle_p95_s']:.1f}); "
            f"integrity {load['integrity']}"
        )
        for e in load["errors"][:5]:
            print("  error:", e)
        kill = run_kill(Path(tmp), args.writers, args.submissions, args.kill_after)
        print(
            f"SIGKILL after {args.kill_after} acknowledgements: {kill['acked']} acknowledged, {kill['stored']} "
            f"stored, lost {len(kill['lost'])}, integrity {kill['integrity']}, signal {kill['killed_by']}"
        )


if __name__ == "__main__":
    main()
