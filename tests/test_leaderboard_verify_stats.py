"""Verification's stochastic test has the error rates the docs state (simulated with the verifier's own check).

Chosen: 1% false-fail on honest claims measured with the verifier's episode count (one-sided z = 2.326), and,
with the default 2,000 episodes per seed and 3 seeds, under 1% false-pass on claims inflated by +0.05 and
essentially none at +0.1, for the worst-case variance (Bernoulli returns with p = 0.5).
"""

from __future__ import annotations

import pytest

from leaderboard.verify import stochastic_check
from leaderboard.verify_stats import pass_rate

TRIALS = 600


def test_honest_claims_fail_about_one_percent_of_the_time():
    false_fail = 1.0 - pass_rate(0.5, 0.0, TRIALS)
    assert false_fail <= 0.03  # 1% expected; 3% is > 4 standard errors above it at 600 trials


@pytest.mark.parametrize(("inflation", "limit"), [(0.05, 0.02), (0.1, 0.0)])
def test_inflated_claims_rarely_pass(inflation, limit):
    assert pass_rate(0.5, inflation, TRIALS) <= limit


def test_fewer_verifier_episodes_means_a_wider_tolerance():
    """With 200 episodes per seed the same +0.05 inflation passes often: the tolerance is the verifier's."""
    assert pass_rate(0.5, 0.05, TRIALS, episodes=200) > 0.3


def test_check_is_exact_on_constant_returns():
    import numpy as np

    ones = np.ones((10, 3))
    assert stochastic_check(1.0, ones) == (True, 0.0)
    assert stochastic_check(1.0 + 1e-9, ones)[0] is False
    with pytest.raises(ValueError, match="p=2"):
        pass_rate(2.0, 0.0, 1)
