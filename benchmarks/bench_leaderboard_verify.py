"""The stochastic verification test's error rates, measured by simulation with the verifier's own check.

Peer: the same claims under the verifier's check with 200 episodes per seed (a small sample), to show that the
tolerance, and so the false-pass rate, comes from the verifier's sample size. Worst-case variance: Bernoulli
episode returns with p = 0.5 on a [0, 1] return range (so inflations are in normalised units).

Usage: ``python benchmarks/bench_leaderboard_verify.py [--trials 4000]``; prints one line per rate.
"""

from __future__ import annotations

import argparse

import numpy as np

from leaderboard.verify import STOCHASTIC_EPISODES, Z_ONE_SIDED
from leaderboard.verify_stats import pass_rate


def _se(rate: float, trials: int) -> float:
    return float(np.sqrt(max(rate * (1 - rate), 1.0 / trials) / trials))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=4000)
    args = ap.parse_args()
    if not 10 <= args.trials <= 100_000:
        raise SystemExit(f"--trials {args.trials} must be in 10..100000")
    print(f"z = {Z_ONE_SIDED}, 3 seeds, p = 0.5, {args.trials} trials per cell")
    for episodes in (STOCHASTIC_EPISODES, 200):
        honest = 1.0 - pass_rate(0.5, 0.0, args.trials, episodes=episodes, random_state=1)
        line = [
            f"verifier {episodes} episodes/seed: false-fail (honest) {honest:.4f} +- {_se(honest, args.trials):.4f}"
        ]
        for inflation in (0.05, 0.1):
            fp = pass_rate(0.5, inflation, args.trials, episodes=episodes, random_state=2)
            line.append(f"false-pass (+{inflation}) {fp:.4f} +- {_se(fp, args.trials):.4f}")
        print("; ".join(line))
    small = 1.0 - pass_rate(0.5, 0.0, args.trials, claim_episodes=100, random_state=3)
    print(
        f"honest claim measured on 100 episodes/seed, verifier {STOCHASTIC_EPISODES}: "
        f"false-fail {small:.4f} +- {_se(small, args.trials):.4f} (the claim's noise is the submitter's risk)"
    )


if __name__ == "__main__":
    main()
