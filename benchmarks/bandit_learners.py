"""Seed-updates per second of the batched ``train_bandit`` against a plain Python loop over seeds.

The peer runs the same algorithm (linear softmax, shared bias, on-policy REINFORCE, one sample per context per
update, exact J after every update) for one seed at a time in numpy, in the same process and run. Like the
batched learner it computes the softmax once per update: the probabilities after an update give both the
logged J and the next update's sampling probabilities and gradient. Both do a fixed number of updates (no
early stopping: ``stop_at=K``) and log J after every update, so the ratio is per unit of work. The two are
timed alternately ``--repeats`` times and the best time of each is kept, so load from other processes on a
shared machine hits both alike. On CPU the batched learner is timed twice: its default update (fused in numba,
``baselines.bandit.fused``) and the torch-ops fallback, so the fusion's gain is measured in the same run too.

    OMP_NUM_THREADS=1 python benchmarks/bandit_learners.py --threads 1
    python benchmarks/bandit_learners.py            # torch's default thread count for the batched learner
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from baselines.bandit import fused
from baselines.bandit.learners import train_bandit


def loop_over_seeds(
    num_contexts: int, num_seeds: int, updates: int, lr: float = 0.1, seed: int = 0
) -> np.ndarray:
    """Reference: the same learner, one seed at a time (numpy, closed-form REINFORCE gradient).

    Returns the (updates + 1, seeds, K) exact J after every update, as ``train_bandit`` logs it.
    """
    K = n = num_contexts
    rng = np.random.default_rng(seed)
    eye = np.eye(K, n)
    diag = np.arange(K)
    J = np.empty((updates + 1, num_seeds, K))
    for s in range(num_seeds):
        z = np.abs(rng.standard_normal(K))
        J0 = 0.1 * K * z / z.sum()
        W = np.diag(np.log(J0 * (n - 1) / (1 - J0)))  # (K, n): row k = context k's weights
        b = np.zeros(n)
        logits = W + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        J[0, s] = p[diag, diag]
        for t in range(1, updates + 1):
            r = rng.random(K) < p[diag, diag]  # reward iff the sampled arm is the right one
            G = r[:, None] * (eye - p)
            W += lr * G
            b += lr * G.sum(0)
            logits = W + b  # exact J after the update, and the next update's policy
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            J[t, s] = p[diag, diag]
    return J


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4096)
    ap.add_argument("--contexts", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--updates", type=int, default=300)
    ap.add_argument(
        "--loop-seeds", type=int, default=64, help="seeds timed in the Python loop (rate is per seed)"
    )
    ap.add_argument("--repeats", type=int, default=3, help="alternating timings of each; the best is kept")
    ap.add_argument(
        "--threads", type=int, default=0, help="torch threads for the batched learner (0: default)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, dtype {args.dtype}, device {args.device}")
    paths = {"fused": True, "torch": False} if args.device == "cpu" and fused.AVAILABLE else {"torch": False}
    print(
        f"{'K':>3} {'path':>6} {'batched seed-upd/s':>19} {'loop seed-upd/s':>16} {'speedup':>8}"
        "  mean final J (batched, loop)"
    )
    for K in args.contexts:  # warm-up: numba loads (or compiles) its kernels on first use
        train_bandit(K, K, "on-policy", 8, max_samples=4 * K, device=args.device, dtype=args.dtype)
    for K in args.contexts:
        batched_s: dict[str, list[float]] = {p: [] for p in paths}
        loop_s = []
        for _ in range(args.repeats):
            for path, use in paths.items():
                fused.AVAILABLE = use
                t0 = time.perf_counter()
                res = train_bandit(
                    K,
                    K,
                    "on-policy",
                    args.seeds,
                    max_samples=K * args.updates,
                    stop_at=float(K),
                    device=args.device,
                    dtype=args.dtype,
                )
                batched_s[path].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = loop_over_seeds(K, args.loop_seeds, args.updates)
            loop_s.append(time.perf_counter() - t0)
        fused.AVAILABLE = "fused" in paths
        loop = args.loop_seeds * args.updates / min(loop_s)
        same = f"{res.J[-1].sum(1).mean():.3f}, {ref[-1].sum(1).mean():.3f}"  # same algorithm: close
        for path, times in batched_s.items():
            batched = args.seeds * args.updates / min(times)
            print(f"{K:>3} {path:>6} {batched:>19,.0f} {loop:>16,.0f} {batched / loop:>7.1f}x  {same}")

if __name__ == "__main__":
    main()
