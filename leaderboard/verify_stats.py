"""The error rates of verification's stochastic test, measured by simulation (documented in the README and
benchmarks/RESULTS.md, asserted in tests/test_leaderboard_verify_stats.py).

Model: each of ``seeds`` policies has true mean return ``p`` with Bernoulli episode returns (the worst case for
a [0, 1] return range is ``p = 0.5``, the largest variance). An honest submitter measures its claim on ``claim
episodes`` per seed; an inflating one adds ``inflation`` to that honest claim. The verifier plays its own
``episodes`` per seed and applies :func:`leaderboard.verify.stochastic_check`, the function verification uses.
"""

from __future__ import annotations

import numpy as np

from leaderboard.verify import STOCHASTIC_EPISODES, stochastic_check


def pass_rate(
    p: float,
    inflation: float,
    trials: int,
    episodes: int = STOCHASTIC_EPISODES,
    claim_episodes: int | None = None,
    seeds: int = 3,
    random_state: int = 0,
) -> float:
    """Fraction of ``trials`` in which a claim of ``honest mean + inflation`` passes the stochastic check."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p={p} must be in [0, 1]")
    if trials < 1 or episodes < 2 or seeds < 1:
        raise ValueError(f"trials={trials}, episodes={episodes}, seeds={seeds} must be >= 1, 2, 1")
    rng = np.random.default_rng(random_state)
    n_claim = episodes if claim_episodes is None else claim_episodes
    passed = 0
    for _ in range(trials):
        claim = rng.binomial(n_claim, p, size=seeds).mean() / n_claim + inflation
        matrix = (rng.random((episodes, seeds)) < p).astype(np.float64)
        passed += stochastic_check(float(claim), matrix)[0]
    return passed / trials
