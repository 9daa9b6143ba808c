"""Exact 2x2 bandit dynamics against the paper's closed forms (Schaul et al. 2019, section 2, appendix B)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.bandit import dynamics as bd

RNG = np.random.default_rng(0)
J1S, J2S = RNG.uniform(0.01, 0.99, (2, 2000))


def _grads(J1: np.ndarray, J2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """grad J1 = a (1, 0, 1), grad J2 = b (0, 1, -1) in the paper's reduced parameters theta."""
    a, b = J1 * (1 - J1), J2 * (1 - J2)
    return a[:, None] * np.array([1.0, 0, 1]), b[:, None] * np.array([0.0, 1, -1])


def test_velocity_is_inner_product_of_gradients() -> None:
    g1, g2 = _grads(J1S, J2S)
    d1, d2 = bd.j_dot(J1S, J2S)
    np.testing.assert_allclose(d1, ((g1 + g2) * g1).sum(1), rtol=1e-12)
    np.testing.assert_allclose(d2, ((g1 + g2) * g2).sum(1), rtol=1e-12)
    a, b = J1S * (1 - J1S), J2S * (1 - J2S)
    np.testing.assert_allclose(d1, 2 * a**2 - a * b, rtol=1e-12)


def test_interference_is_minus_half_everywhere() -> None:
    g1, g2 = _grads(J1S, J2S)
    cos = (g1 * g2).sum(1) / np.linalg.norm(g1, axis=1) / np.linalg.norm(g2, axis=1)
    np.testing.assert_allclose(cos, bd.INTERFERENCE, rtol=1e-12)
    # and by autograd through the sigmoid parameterisation pi(k | s_k) = sigma(theta_k +- theta_3)
    theta = torch.randn(500, 3, dtype=torch.float64, requires_grad=True)
    J1 = torch.sigmoid(theta[:, 0] + theta[:, 2])
    J2 = torch.sigmoid(theta[:, 1] - theta[:, 2])
    (gj1,) = torch.autograd.grad(J1.sum(), theta, retain_graph=True)
    (gj2,) = torch.autograd.grad(J2.sum(), theta)
    rho = torch.nn.functional.cosine_similarity(gj1, gj2, dim=1)
    np.testing.assert_allclose(rho.numpy(), -0.5, atol=1e-12)


def test_acceleration_matches_paper_polynomial_and_finite_differences() -> None:
    J1, J2 = J1S, J2S
    P = (
        -8 * J1**6 + 8 * J1**5 * J2 + 20 * J1**5 - 20 * J1**4 * J2 - 16 * J1**4 - 2 * J1**3 * J2**3
        + 3 * J1**3 * J2**2 + 15 * J1**3 * J2 + 4 * J1**3 + 3 * J1**2 * J2**3 - 4 * J1**2 * J2**2
        - 3 * J1**2 * J2 + 8 * J1 * J2**5 - 20 * J1 * J2**4 + 15 * J1 * J2**3 - 3 * J1 * J2**2
        - 8 * J2**6 + 20 * J2**5 - 16 * J2**4 + 4 * J2**3
    )  # fmt: skip
    np.testing.assert_allclose(bd.j_ddot(J1, J2), 2 * (1 - J1 - J2) * P, atol=1e-13)
    h = 1e-6
    d1, d2 = bd.j_dot(J1, J2)
    fd2 = (bd.j_total_dot(J1 + h * d1, J2 + h * d2) - bd.j_total_dot(J1 - h * d1, J2 - h * d2)) / (2 * h)
    np.testing.assert_allclose(fd2, bd.j_ddot(J1, J2), atol=1e-9)
    fd3 = (bd.j_ddot(J1 + h * d1, J2 + h * d2) - bd.j_ddot(J1 - h * d1, J2 - h * d2)) / (2 * h)
    np.testing.assert_allclose(fd3, bd.j_dddot(J1, J2), atol=1e-9)


def test_fixed_points_and_saddles() -> None:
    for corner in ((0, 0), (0, 1), (1, 0), (1, 1)):
        assert bd.j_dot(*corner) == (0.0, 0.0)
    assert bd.fixed_points() == {
        (0.0, 0.0): "unstable", (0.0, 1.0): "saddle", (1.0, 0.0): "saddle", (1.0, 1.0): "stable"
    }  # fmt: skip
    for saddle in ((0.0, 1.0), (1.0, 0.0)):
        jac = bd.logit_jacobian(*saddle)
        ev = np.sort(np.linalg.eigvals(jac).real)
        # the issue declared the old +-sqrt(3) (twice the paper's matrix) wrong: the paper's B.1 matrix gives
        np.testing.assert_allclose(ev, [-math.sqrt(3) / 2, math.sqrt(3) / 2], rtol=1e-12)
        assert np.trace(jac) == 0 and np.linalg.det(jac) == pytest.approx(-0.75, abs=1e-15)  # paper: -5/4
    # no fixed point inside the square: the speed is bounded away from 0 off the corners
    x = np.linspace(0.02, 0.98, 97)
    X, Y = np.meshgrid(x, x)
    assert np.hypot(*bd.j_dot(X, Y)).min() > 1e-5


def test_plateaus_on_the_anti_diagonal() -> None:
    t = np.linspace(0.001, 0.999, 2001)
    np.testing.assert_allclose(bd.j_ddot(t, 1 - t), 0.0, atol=1e-15)
    np.testing.assert_allclose(bd.j_total_dot(t, 1 - t), bd.plateau_epsilon(t), rtol=1e-12)
    lo, hi = bd.PLATEAU_J1_GAP
    pos = bd.j_dddot(t, 1 - t) > 0
    outside = (t < lo - 1e-3) | (t > hi + 1e-3)
    inside = (t > lo + 1e-3) & (t < hi - 1e-3)
    assert pos[outside].all() and not pos[inside].any()
    assert bd.is_plateau(0.2, 0.8, eps=0.06) and not bd.is_plateau(0.2, 0.8, eps=0.05)  # eps = 2*.04*.64
    assert not bd.is_plateau(0.5, 0.5, eps=1.0)  # an inflection, but J''' < 0: not a plateau
    assert not bd.is_plateau(0.3, 0.5, eps=1.0)  # J'' != 0
    for eps in (1e-8, 1e-5, 1e-2):
        assert bd.plateau_epsilon(bd.plateau_j1(eps)) == pytest.approx(eps, rel=1e-9)
    with pytest.raises(ValueError, match="eps=0.5 is outside the allowed range"):
        bd.plateau_j1(0.5)


def test_nullclines_and_wta_probability_near_origin() -> None:
    arcs = bd.nullclines()
    for arc in arcs["j1"]:
        np.testing.assert_allclose(bd.j_dot(arc[:, 0], arc[:, 1])[0], 0.0, atol=1e-15)
    for arc in arcs["j2"]:
        np.testing.assert_allclose(bd.j_dot(arc[:, 0], arc[:, 1])[1], 0.0, atol=1e-15)
    starts = bd.angular_starts(100_000, radius=1e-4)
    p = (bd.wta_winner(starts[:, 0], starts[:, 1]) >= 0).mean()
    assert bd.WTA_PROBABILITY_NEAR_ORIGIN == pytest.approx(0.5903, abs=1e-4)
    assert p == pytest.approx(bd.WTA_PROBABILITY_NEAR_ORIGIN, abs=2e-3)
    # below the J1 null cline only J2 improves
    assert bd.wta_winner(0.01, 0.2) == 1 and bd.wta_winner(0.2, 0.01) == 0 and bd.wta_winner(0.1, 0.1) == -1


def test_trajectories_from_wta_starts_cross_flat_plateaus() -> None:
    starts = bd.angular_starts(40, radius=0.1)
    t, traj = bd.integrate(starts, t_max=1e6, num_points=400)
    assert traj.shape == (40, 400, 2) and t[0] == 0
    np.testing.assert_allclose(traj[:, 0], starts)
    assert (traj[:, -1].sum(1) > 1.99).all()  # everything reaches the optimum eventually
    wta = bd.wta_winner(starts[:, 0], starts[:, 1]) >= 0
    assert wta.sum() == 22  # 40 angles: the fraction in WTA regions is ~(4/pi) arctan(1/2)
    # closest approach to a saddle: the loser's performance once the winner is nearly learned
    loser_min = np.where(traj.max(axis=2) > 0.9, traj.min(axis=2), 1.0).min(axis=1)
    assert (loser_min[wta] < 0.005).all()
    assert (loser_min[19:21] > 0.5).all()  # the two most balanced starts never approach a saddle
    # flatness of the crossed plateau: slowest dJ/dt away from start and optimum
    speed = bd.j_total_dot(traj[..., 0], traj[..., 1])
    tot = traj.sum(2)
    eps = np.where((tot > 0.4) & (tot < 1.8), speed, np.inf).min(1)
    assert (eps[wta] < 5e-5).all()
    assert (np.diff(eps[:20]) > 0).all()  # the more imbalanced the start, the flatter the plateau
    assert (eps[~wta] < 1e-4).any()  # basins of flat plateaus extend beyond the WTA regions
    with pytest.raises(ValueError, match="open square"):
        bd.integrate([[0.0, 0.5]], t_max=1.0)


def test_ablation_flows_have_no_saddle_slowdown() -> None:
    a, b = J1S * (1 - J1S), J2S * (1 - J2S)
    np.testing.assert_allclose(
        bd.j_dot(J1S, J2S, "supervised")[0], a * (1 - 2 * J1S + J2S), rtol=1e-12
    )  # B.5
    np.testing.assert_allclose(bd.j_dot(J1S, J2S, "uniform")[0], 0.5 * a * (1 - 2 * J1S + J2S), rtol=1e-12)
    np.testing.assert_allclose(bd.j_dot(J1S, J2S, "tabular")[1], b**2, rtol=1e-12)
    # near the (0, 1) saddle the on-policy J1 barely moves; supervised and mixed keep learning it
    assert bd.j_dot(1e-4, 0.999)[0] < 1e-7
    assert bd.j_dot(1e-4, 0.999, "supervised")[0] > 1e-4
    assert bd.j_dot(1e-4, 0.999, "mixed", mix_prob=0.1)[0] > 1e-6
    with pytest.raises(ValueError, match="mode='td' is not one of"):
        bd.j_dot(0.5, 0.5, "td")


def test_plot_flow_field_writes_a_png_atomically(tmp_path) -> None:
    _, traj = bd.integrate(bd.angular_starts(6, 0.05), t_max=1e3, num_points=50)
    out = bd.plot_flow_field(tmp_path / "flow.png", trajectories=list(traj))
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.png"]  # no temp files left
    bd.plot_flow_field(tmp_path / "sup.svg", mode="supervised")
    assert (tmp_path / "sup.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(ValueError, match=r"trajectory has shape \(5,\)"):
        bd.plot_flow_field(tmp_path / "bad.png", trajectories=[np.zeros(5)])
    assert not (tmp_path / "bad.png").exists()


def test_logit_jacobian_is_the_papers_matrix_with_determinant_three_quarters() -> None:
    np.testing.assert_array_equal(bd.logit_jacobian(0.25, 0.75), [[0.5, 0.25], [-0.25, -0.5]])
    np.testing.assert_array_equal(bd.logit_jacobian(0.0, 0.0), [[1.0, -0.5], [-0.5, 1.0]])
    for (J1, J2), det, trace in (
        ((0, 0), 0.75, 2),
        ((0, 1), -0.75, 0),
        ((1, 0), -0.75, 0),
        ((1, 1), 0.75, -2),
    ):
        jac = bd.logit_jacobian(J1, J2)
        assert np.linalg.det(jac) == pytest.approx(det, abs=1e-15)  # the paper's table prints +-5/4
        assert np.trace(jac) == pytest.approx(trace, abs=1e-15)
    # half the Jacobian of the logit flow (2a - b, 2b - a), by central differences
    J1, J2, h = 0.3, 0.6, 1e-6

    def logit_flow(x: float, y: float) -> np.ndarray:
        return np.array(bd.j_dot(x, y)) / np.array([x * (1 - x), y * (1 - y)])

    fd = np.stack([(logit_flow(J1 + h, J2) - logit_flow(J1 - h, J2)) / (2 * h),
                   (logit_flow(J1, J2 + h) - logit_flow(J1, J2 - h)) / (2 * h)], axis=1)  # fmt: skip
    np.testing.assert_allclose(bd.logit_jacobian(J1, J2), fd / 2, atol=1e-8)


def test_one_learner_update_advances_the_flow_by_two_lr() -> None:
    from baselines.bandit.learners import train_bandit

    lr, updates = 0.01, 200
    t = float(bd.updates_to_flow_time(updates, lr))
    assert t == 4.0 and bd.LEARNER_FLOW_RATE == 2.0
    res = train_bandit(2, 2, "on-policy", 20_000, lr=lr, max_samples=2 * updates, init_performance=0.3,
                       seed=1, log_every=updates)  # fmt: skip
    J0, J_end = res.J[0], res.J[-1]
    gain = (J_end.sum(1) - J0.sum(1)).mean()
    _, traj = bd.integrate(J0, t_max=t, num_points=3)
    assert gain == pytest.approx(
        (traj[:, -1].sum(1) - J0.sum(1)).mean(), rel=0.01
    )  # measured 0.3498 vs 0.3504
    _, slow = bd.integrate(J0, t_max=t / 2, num_points=3)  # the old convention (t = lr per update) is far off
    assert (slow[:, -1].sum(1) - J0.sum(1)).mean() < 0.7 * gain
    # the exact per-update rate / lr is twice the flow's |grad J|^2 (full W, b); separate networks: 4 a^2
    np.testing.assert_allclose(bd.learner_rate(J1S, J2S), 2 * bd.j_total_dot(J1S, J2S), rtol=1e-12)
    a = J1S * (1 - J1S)
    b = J2S * (1 - J2S)
    np.testing.assert_allclose(bd.learner_rate(J1S, J2S, "separate"), 4 * (a**2 + b**2), rtol=1e-12)
    assert bd.learner_rate(0.2, 0.8) == pytest.approx(2 * bd.plateau_epsilon(0.2), rel=1e-12)
    with pytest.raises(ValueError, match=r"lr=0 is outside the allowed range"):
        bd.updates_to_flow_time(1, 0)
