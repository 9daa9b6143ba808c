"""One update step of the seed-last linear bandit learner: the fused numba update against the torch ops.

Both run the same step on the same state (shared bias, on-policy draw, SGD): the float64 uniforms, the reward
draw, the REINFORCE step, ``exp``, the arm sums and ``J``; no logging and no stopping bookkeeping, so this is
the part of ``train_bandit`` that ``baselines.bandit.fused`` replaces. Best of ``--repeats`` x ``--steps``.

    OMP_NUM_THREADS=1 python benchmarks/bandit_update_step.py
"""

from __future__ import annotations

import argparse
import time

import torch

from baselines.bandit import fused
from baselines.bandit.policies import _SeedLastLinear
from baselines.bandit.updates import _Optimizer, _reward_weights, _Uniforms


def time_step(K: int, S: int, dtype: torch.dtype, use_fused: bool, steps: int, repeats: int) -> float:
    """Best seconds per update step."""
    g = torch.Generator().manual_seed(0)
    W = torch.randn(S, K, K, generator=g, dtype=torch.float64).to(dtype)
    b = torch.zeros(S, K, dtype=dtype)
    lin = _SeedLastLinear("shared", [W, b], 55, torch.empty(K, S, dtype=dtype), fused=use_fused)
    opt = _Optimizer("sgd", 0.1, lin.params, seed_last=True)
    uniforms = _Uniforms(1, torch.device("cpu"))
    active_w = torch.ones(S, dtype=dtype)
    active = active_w.bool()
    sample = (torch.empty(K, S, dtype=torch.float64), torch.empty(K, S, dtype=dtype))

    def step() -> None:
        if lin.fused:
            uniforms.fill(sample[0])
            lin.fused_step(0, sample[0], active_w, 0.1, 0.1)
        else:
            w = _reward_weights("on-policy", lin.J, active_w, 0.1, K, uniforms, sample)
            lin.apply_reinforce(w, opt, active)
            lin.refresh(active_w)

    step()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--contexts", type=int, nargs="+", default=[2, 8])
    ap.add_argument("--seeds", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not fused.AVAILABLE:
        raise SystemExit("numba does not import: there is no fused update to time")
    print(f"{'K':>3} {'dtype':>8} {'torch ops ms':>13} {'fused ms':>9} {'ratio':>6}")
    for K in args.contexts:
        for dtype in (torch.float64, torch.float32):
            t_torch = time_step(K, args.seeds, dtype, False, args.steps, args.repeats)
            t_fused = time_step(K, args.seeds, dtype, True, args.steps, args.repeats)
            name = str(dtype).removeprefix("torch.")
            print(f"{K:>3} {name:>8} {t_torch * 1e3:>13.3f} {t_fused * 1e3:>9.3f} {t_torch / t_fused:>5.2f}x")


if __name__ == "__main__":
    main()
