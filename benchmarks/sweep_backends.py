"""Jobs per second of a 1,000-job bandit sweep: the Ray backend against the local process pool, same run.

Each job learns one seed of the tabular learner on Bandit-K2n2 for ``--samples`` samples
(``seeds_per_job: 1``), so the time is the backends' per-job cost: scheduling, shipping the run directory
(Ray: a tar through the object store, unpacked by the driver) and the driver's bookkeeping. Both backends use
``--cpus`` workers; Ray runs a fresh local cluster of that many CPUs (``ray.init(num_cpus=...)``) with its
default in-flight window (twice the CPUs), the pool with ``--cpus`` jobs in flight. The driver's
resident memory is sampled during each sweep: at 10% of the jobs and at the end, so a driver that kept every
result would show it growing.

    OMP_NUM_THREADS=1 python benchmarks/sweep_backends.py --jobs 1000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

from baselines.sweeps.sweep import COMPLETIONS_LOG, SweepSpec, run_sweep


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def timed_sweep(spec: SweepSpec, root: Path, backend: str, cpus: int) -> dict[str, float]:
    seen = {"finished": 0, "rss_10": float("nan"), "rss_max": 0.0}
    total = len(spec.seeds)

    def on_update(job_id: str, st) -> None:
        if job_id and st.state in ("done", "failed"):
            seen["finished"] += 1
            if seen["finished"] == max(1, total // 10):
                seen["rss_10"] = rss_mb()
        seen["rss_max"] = max(seen["rss_max"], rss_mb())

    t0 = time.perf_counter()
    report = run_sweep(spec, root, backend=backend, max_concurrent=None if backend == "ray" else cpus,
                       on_update=on_update)
    wall = time.perf_counter() - t0
    logged = (root / COMPLETIONS_LOG).read_text().split()
    assert not report.failed and sorted(logged) == sorted(j.job_id for j in report.jobs), "a job ran twice or not"
    return {"wall": wall, "jobs_s": total / wall, "rss_10": seen["rss_10"], "rss_end": rss_mb(),
            "rss_max": seen["rss_max"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()
    import ray

    spec = SweepSpec(name="bench", algo="bandit", envs=["rayenvs/Bandit-K2n2-v0"], variants=["tabular"],
                     seeds=list(range(args.jobs)), seeds_per_job=1, timesteps=args.samples, max_retries=0)
    print("load before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as tmp:
        local = timed_sweep(spec, Path(tmp) / "local", "local", args.cpus)
        # a throwaway loopback instance: Ray 2.60 would otherwise generate an auth token into ~/.ray,
        # which every later `ray start` on the machine then picks up
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
        try:
            on_ray = timed_sweep(spec, Path(tmp) / "ray", "ray", args.cpus)
        finally:
            ray.shutdown()
    print("load after:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print("| backend | wall | jobs/s | driver RSS at 10% | at end | peak |\n|---|---|---|---|---|---|")
    for name, r in (("local pool", local), ("ray", on_ray)):
        print(f"| {name} | {r['wall']:.1f} s | {r['jobs_s']:.1f} | {r['rss_10']:.0f} MB | {r['rss_end']:.0f} MB "
              f"| {r['rss_max']:.0f} MB |")
    print(f"ray / local jobs/s: {on_ray['jobs_s'] / local['jobs_s']:.2f} ({args.jobs} jobs, {args.cpus} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')})")


if __name__ == "__main__":
    main()
