"""Seed-updates per second of the batched ``train_bandit`` against a plain Python loop over seeds.

The peer runs the same algorithm (linear softmax, shared bias, on-policy REINFORCE, one sample per context per
update, exact J after every update) for one seed at a time in numpy, in the same process and run. Both do a
fixed number of updates (no early stopping: ``stop_at=K``), so the ratio is per unit of work.

    OMP_NUM_THREADS=1 python benchmarks/bandit_learners.py --seeds 4096 --contexts 2 4 8
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from baselines.bandit_learners import train_bandit


def loop_over_seeds(
    num_contexts: int, num_seeds: int, updates: int, lr: float = 0.1, seed: int = 0
) -> np.ndarray:
    """Reference: the same learner, one seed at a time (numpy, closed-form REINFORCE gradient)."""
    K = n = num_contexts
    rng = np.random.default_rng(seed)
    finals = np.empty((num_seeds, K))
    for s in range(num_seeds):
        z = np.abs(rng.standard_normal(K))
        J0 = 0.1 * K * z / z.sum()
        W = np.diag(np.log(J0 * (n - 1) / (1 - J0)))  # (n, K): column k = logits of context k
        b = np.zeros(n)
        for _ in range(updates):
            logits = W.T + b  # (K, n)
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            r = (rng.random(K) < np.diag(p)).astype(float)  # reward iff the sampled arm is the right one
            G = r[:, None] * (np.eye(K, n) - p)
            W += lr * G.T
            b += lr * G.sum(0)
            logits = W.T + b  # exact J after the update, as train_bandit records it
            q = np.exp(logits - logits.max(1, keepdims=True))
            J = np.diag(q / q.sum(1, keepdims=True))
        finals[s] = J
    return finals


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4096)
    ap.add_argument("--contexts", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--updates", type=int, default=500)
    ap.add_argument(
        "--loop-seeds", type=int, default=64, help="seeds timed in the Python loop (rate is per seed)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args()
    print(f"{'K':>3} {'batched seed-upd/s':>19} {'loop seed-upd/s':>16} {'speedup':>8}")
    for K in args.contexts:
        t0 = time.perf_counter()
        train_bandit(
            K, K, "on-policy", args.seeds, max_samples=K * args.updates, stop_at=float(K), device=args.device
        )
        batched = args.seeds * args.updates / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        loop_over_seeds(K, args.loop_seeds, args.updates)
        loop = args.loop_seeds * args.updates / (time.perf_counter() - t0)
        print(f"{K:>3} {batched:>19,.0f} {loop:>16,.0f} {batched / loop:>7.0f}x")


if __name__ == "__main__":
    main()
