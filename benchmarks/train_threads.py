"""``rayenvs train`` with its default settings vs the same run pinned to one thread, and vs torch's default.

Issue 14 measured an 8192-step ``rayenvs train`` at 72-168 s on 2 busy cores with torch's default thread
count against 7-12.5 s with ``OMP_NUM_THREADS=1``. The command now caps torch at one thread unless
``--threads`` says otherwise. Peers, in the same run: the same command under ``OMP_NUM_THREADS=1 --threads 1``
(the target: default within 1.3x of it) and under ``--threads 0`` (torch's default, the old behaviour).
Each is a fresh ``rayenvs train`` process, best of ``--repeats`` (default 1), settings interleaved. Run: ``python benchmarks/train_threads.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ENV_ID = "rayenvs/MultiRoom-R2-v0"
SETTINGS = {
    "default": ([], {}),
    "one thread (OMP_NUM_THREADS=1 --threads 1)": (["--threads", "1"], {"OMP_NUM_THREADS": "1"}),
    "torch's default (--threads 0)": (["--threads", "0"], {}),
}


def time_train(extra: list[str], env_vars: dict[str, str], steps: int, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(env_vars)
    cmd = [sys.executable, "-m", "rayenvs.cli", "train", ENV_ID, "--timesteps", str(steps), "--out", str(out),
           "--device", "cpu", "--no-progress", *extra]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8192)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="rayenvs-threads-"))
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    print(f"{ENV_ID}, {args.steps} steps, {os.cpu_count()} CPUs, best of {args.repeats}", flush=True)
    try:
        best = {}
        for _ in range(args.repeats):  # interleaved, so load drift hits every setting alike
            for name, (extra, env_vars) in SETTINGS.items():
                t = time_train(extra, env_vars, args.steps, root / "run")
                best[name] = min(best.get(name, float("inf")), t)
                print(f"    {name}: {t:.1f} s", flush=True)
        one = best["one thread (OMP_NUM_THREADS=1 --threads 1)"]
        for name, t in best.items():
            print(f"  {name:45s} {t:7.1f} s   ratio to one thread {t / one:5.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
