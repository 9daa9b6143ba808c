"""The toy setting of Moalla et al. (2024, Section 3.2.1): exact PPO-Clip SGD steps and the reproduction."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from baselines.experiments.ppo_trust_toy import (
    ToySettings,
    angle_problems,
    paper_problems,
    reproduce_ppo_trust_toy,
    simulate,
)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def test_first_steps_match_the_closed_form_updates() -> None:
    # phi(x) = 1, phi(y) = 3 (alpha = 3), theta = 0: pi_old = 1/2 on both states
    phi = np.array([[[1.0], [3.0]]])
    run = simulate(phi, np.zeros((1, 2, 1)), ToySettings(steps=2))
    # step on x: theta_1 += 1.5 * 1 / 0.5 * 0.25 * 1 = 0.75, theta_2 -= 0.75 -> logit gap 1.5 phi(s)
    np.testing.assert_allclose(run.ratios[1, 0], [_sigmoid(1.5) / 0.5, _sigmoid(4.5) / 0.5], rtol=1e-12)
    # y's ratio (1.978) is past 1 + eps: its own update is clipped, nothing moves
    np.testing.assert_array_equal(run.ratios[2], run.ratios[1])
    np.testing.assert_array_equal(run.clipped_steps, [[0, 1]])
    np.testing.assert_array_equal(run.drift, [[0.0, 0.0]])  # x was not clipped when y's (zero) update ran


def test_collinear_features_push_clipped_ratios_and_orthogonal_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    eps = ToySettings().clip_eps
    over = simulate(*paper_problems(3.0, 2000, rng))
    assert (over.drift.max(axis=1) > 1e-12).mean() > 0.25  # measured 35%
    inter = simulate(*paper_problems(-1.0, 2000, rng))
    assert (inter.ratios[-1].min(axis=1) < 1.0).all()  # A > 0 on both, yet one probability ends lower
    orth = simulate(*angle_problems(90.0, 2000, rng))
    assert orth.drift.max() <= 1e-12 and (orth.ratios[-1] >= 1.0 - 1e-12).all()
    # a clipped state is frozen unless another state moves it: with orthogonal features it stays put
    r = orth.ratios
    clipped_before = r[:-1] >= 1 + eps
    assert np.abs(np.diff(r, axis=0))[clipped_before].max() <= 1e-12


def test_bad_settings_and_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="clip_eps=1.5 is outside the allowed range"):
        ToySettings(clip_eps=1.5)
    with pytest.raises(ValueError, match="steps=1 must be an integer >= 2"):
        ToySettings(steps=1)
    with pytest.raises(ValueError, match=r"must both be \(seeds, 2, d\)"):
        simulate(np.zeros((3, 2, 1)), np.zeros((3, 2, 2)))


def test_reproduction_writes_figure_report_and_summary(tmp_path: Path) -> None:
    summary = reproduce_ppo_trust_toy(tmp_path, seeds=200, progress=False)
    names = {Path(f).name for f in summary["files"]}
    assert names == {"fig5_trust_toy.png", "report.md", "summary.json"}
    assert (tmp_path / "fig5_trust_toy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((tmp_path / "summary.json").read_text())["seeds"] == 200
    report = (tmp_path / "report.md").read_text()
    assert "| paper claim | ours | in band? |" in report and report.count("| yes |") == 4
    assert summary["interfere"]["frac_below_start"] == 1.0 and summary["orthogonal"]["max_drift"] <= 1e-12
    assert summary["sweep"]["frac_pushed_while_clipped"][18] == 0.0  # psi = 90 degrees
    with pytest.raises(ValueError, match="seeds=1 must be an integer >= 2"):
        reproduce_ppo_trust_toy(tmp_path / "never", seeds=1)
