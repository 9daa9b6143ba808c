"""Batched bandit learners: exact J, initialisation, interference, stopping, and the paper's defining result."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.bandit.learners import MODES, initial_performance, train_bandit


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def runs_2x2() -> dict[str, object]:
    """200 seeds per mode at K = n = 2 with the paper's settings (budget cut to 2e4 samples to stay fast)."""
    return {
        m: train_bandit(2, 2, m, 200, seed=0, max_samples=20_000)
        for m in ("on-policy", "tabular", "uniform", "supervised")
    }


def test_on_policy_needs_far_more_updates_than_ablations(runs_2x2: dict) -> None:
    """The defining result, as it holds for the paper's algorithm: a slow on-policy tail, not a slow median.

    Measured (200 seeds, init seeds 0-3): the on-policy median is 4-10x the ablations' median, its upper
    quartile 15-43x, and 32-51% of on-policy runs take more than 10x the ablation's median while at most 3%
    of ablation runs do. Schaul et al. predict this shape: about half of the runs started at J = 0.2 hit a
    plateau that makes them ~10x slower (their Fig. 5), so an order of magnitude at the *median* would not
    hold; see the note on issue 4.
    """
    on = runs_2x2["on-policy"].stop_update
    for mode in ("tabular", "uniform", "supervised"):
        ab = runs_2x2[mode].stop_update
        assert runs_2x2[mode].solved.mean() >= 0.97, mode
        med = np.median(ab)
        # the median gap is ~5x; the order-of-magnitude gap shows in the upper quartile and the slow fraction
        assert np.median(on) >= 3 * med, (mode, np.median(on), med)
        assert np.percentile(on, 75) >= 10 * med, (mode, np.percentile(on, 75), med)
        assert (on > 10 * med).mean() >= 0.25, mode
        assert (ab > 10 * med).mean() <= 0.05, mode


def test_shapes_bounds_and_sample_counts(runs_2x2: dict) -> None:
    r = runs_2x2["on-policy"]
    rows = r.J.shape[0]
    assert r.J.shape == (rows, 200, 2)
    assert ((r.J > 0) & (r.J < 1)).all()
    assert r.updates[0] == 0 and (np.diff(r.updates) == 1).all()
    np.testing.assert_array_equal(r.samples, 2 * r.updates)
    assert r.updates[-1] == r.stop_update.max() <= 10_000
    # solved seeds crossed the threshold exactly at their stop update and stayed frozen afterwards
    for s in np.flatnonzero(r.solved)[:20]:
        u = r.stop_update[s]
        assert r.J[u, s].sum() >= 1.9 and r.J[u - 1, s].sum() < 1.9
        np.testing.assert_array_equal(r.J[u:, s], np.broadcast_to(r.J[u, s], r.J[u:, s].shape))
    assert (r.stop_update[~r.solved] == 10_000).all()


@pytest.mark.parametrize(
    "K,n,p", [(2, 2, 0.1), (4, 4, 0.1), (3, 5, 0.2), (8, 8, 0.1), (12, 12, 0.1), (2, 2, 0.6)]
)
def test_initial_total_performance(K: int, n: int, p: float) -> None:
    for mode in ("on-policy", "tabular", "separate"):
        r = train_bandit(K, n, mode, 64, init_performance=p, max_samples=K, seed=3, stop_at=float(K))
        np.testing.assert_allclose(r.J[0].sum(1), p * K, rtol=1e-9)
        assert (r.J[0] <= 0.99 + 1e-12).all() and (r.J[0] > 0).all()


def test_initialisation_is_angularly_spread_and_shared_across_modes() -> None:
    J = initial_performance(4000, 2, 0.1, torch.Generator().manual_seed(0)).numpy()
    angle = np.arctan2(J[:, 1], J[:, 0])
    # uniform on (0, pi/2): every eighth of the quarter circle gets ~1/8 of the seeds
    counts = np.histogram(angle, bins=8, range=(0, math.pi / 2))[0]
    assert counts.min() > 400 and counts.max() < 600
    firsts = [train_bandit(2, 2, m, 50, seed=7, max_samples=2).J[0] for m in MODES]
    for J0 in firsts[1:]:
        np.testing.assert_allclose(J0, firsts[0], rtol=1e-9)


def test_mlp_initialisation_is_exact() -> None:
    for mode, hidden, act in (
        ("on-policy", (16,), "relu"),
        ("separate", (8, 8), "tanh"),
        ("uniform", (4, 6), "relu"),
    ):
        r = train_bandit(4, 5, mode, 32, hidden=hidden, activation=act, max_samples=4, seed=1)
        np.testing.assert_allclose(r.J[0].sum(1), 0.4, rtol=1e-6)


def test_supervised_step_matches_hand_computation() -> None:
    lr = 0.3
    r = train_bandit(2, 3, "supervised", 1, lr=lr, max_samples=6, seed=5, stop_at=2.0)
    J0 = r.J[0, 0]
    # init: context k has logit x_k on arm k and 0 elsewhere, b = 0
    L = np.zeros((2, 3))
    for k in range(2):
        L[k, k] = math.log(J0[k] * 2 / (1 - J0[k]))
    for step in range(1, 4):
        P = _softmax(L)
        G = np.eye(2, 3) - P  # grad of log pi(k | s_k) w.r.t. context k's logits
        L = L + lr * G + lr * G.sum(0)  # W column k gets G_k, the shared bias gets sum_k G_k
        np.testing.assert_allclose(r.J[step, 0], np.diag(_softmax(L)[:, :2]), rtol=1e-10)


def test_on_policy_step_is_one_of_the_reward_outcomes() -> None:
    lr = 0.5
    r = train_bandit(2, 2, "on-policy", 64, lr=lr, max_samples=2, seed=11)
    for s in range(64):
        J0 = r.J[0, s]
        L0 = np.array([[math.log(J0[0] / (1 - J0[0])), 0.0], [0.0, math.log(J0[1] / (1 - J0[1]))]])
        outcomes = []
        for r1 in (0, 1):
            for r2 in (0, 1):
                G = np.array([r1, r2])[:, None] * (np.eye(2) - _softmax(L0))
                L = L0 + lr * G + lr * G.sum(0)
                outcomes.append(np.diag(_softmax(L)))
        assert min(np.abs(r.J[1, s] - o).max() for o in outcomes) < 1e-10


def test_interference_is_minus_half_for_2x2_on_policy_linear() -> None:
    r = train_bandit(2, 2, "on-policy", 64, track_interference=True, max_samples=400, seed=2)
    assert r.rho.shape == (len(r.updates), 64, 2, 2)
    np.testing.assert_allclose(r.rho[..., 0, 1], -0.5, atol=1e-9)
    np.testing.assert_allclose(r.rho_mean, -0.5, atol=1e-9)
    np.testing.assert_allclose(r.rho[..., 0, 0], 1.0, atol=1e-9)
    for mode in ("tabular", "separate"):
        t = train_bandit(2, 2, mode, 16, track_interference=True, max_samples=200, seed=2)
        np.testing.assert_allclose(t.rho_mean, 0.0, atol=1e-12)


def test_interference_matches_closed_form_for_k3() -> None:
    """Linear softmax: <grad J_k, grad J_k'> = J_k J_k' (e_k - pi_k).(e_k' - pi_k') (+ the W part if k = k')."""
    r = train_bandit(3, 4, "on-policy", 8, track_interference=True, max_samples=30, seed=4)
    # only the bias is shared and |grad_W J_k| = |grad_b J_k|, so |rho| <= 1/2 everywhere
    assert (np.abs(r.rho[..., ~np.eye(3, dtype=bool)]) <= 0.5 + 1e-12).all()
    J = r.J[0, 0]
    P = np.full((3, 4), 0.0)
    for k in range(3):
        x = math.log(J[k] * 3 / (1 - J[k]))
        P[k] = _softmax(np.where(np.arange(4) == k, x, 0.0))
    g = J[:, None] * (np.eye(3, 4) - P)
    gram = g @ g.T + np.diag((g * g).sum(1))
    want = gram / np.sqrt(np.outer(np.diag(gram), np.diag(gram)))
    np.testing.assert_allclose(r.rho[0, 0], want, atol=1e-10)


def test_log_every_thins_rows_but_not_the_trajectory() -> None:
    full = train_bandit(2, 2, "on-policy", 20, max_samples=600, seed=9)
    thin = train_bandit(2, 2, "on-policy", 20, max_samples=600, seed=9, log_every=7)
    assert thin.updates[0] == 0 and thin.updates[-1] == full.updates[-1]
    assert (thin.updates[1:-1] % 7 == 0).all()
    np.testing.assert_array_equal(thin.J, full.J[thin.updates])
    np.testing.assert_array_equal(thin.stop_update, full.stop_update)


def test_mlp_adam_and_mixed_modes_learn() -> None:
    r = train_bandit(3, 3, "on-policy", 32, hidden=(16,), optimizer="adam", lr=0.01, max_samples=6000, seed=0)
    assert r.J[-1].sum(1).mean() > r.J[0].sum(1).mean() + 1.0
    s = train_bandit(3, 3, "separate", 8, hidden=(8,), track_interference=True, max_samples=300, seed=0)
    np.testing.assert_allclose(s.rho_mean, 0.0, atol=1e-12)
    m = train_bandit(2, 2, "mixed", 64, mix_prob=0.5, max_samples=4000, seed=0)
    assert m.solved.mean() > 0.9


def test_float32_follows_float64() -> None:
    a = train_bandit(3, 3, "on-policy", 64, max_samples=300, seed=4)
    b = train_bandit(3, 3, "on-policy", 64, max_samples=300, seed=4, dtype="float32")
    assert b.J.dtype == np.float32 and b.config["dtype"] == "float32"
    np.testing.assert_allclose(b.J[0], a.J[0], rtol=1e-6)
    # same random stream in a different precision: the runs stay close on average
    assert abs(b.J[-1].sum(1).mean() - a.J[-1].sum(1).mean()) < 0.1


def test_seed_reproducibility_and_auto_device() -> None:
    a = train_bandit(2, 3, "uniform", 16, max_samples=200, seed=5, device="auto")
    b = train_bandit(2, 3, "uniform", 16, max_samples=200, seed=5)
    np.testing.assert_array_equal(a.J, b.J)
    c = train_bandit(2, 3, "uniform", 16, max_samples=200, seed=6)
    assert not np.array_equal(a.J[-1], c.J[-1])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mode": "reinforce"}, r"mode='reinforce' is not one of \('on-policy', 'tabular'"),
        ({"num_arms": 1}, "num_arms=1"),
        ({"num_contexts": 3, "num_arms": 2}, "num_arms=2"),
        ({"num_contexts": 0}, "num_contexts=0"),
        ({"num_seeds": 0}, "num_seeds=0"),
        ({"lr": 0.0}, r"lr=0.0 is outside the allowed range \(0.0, inf\)"),
        ({"max_samples": 1}, "max_samples=1"),
        ({"init_performance": 0.0}, "init_performance=0.0"),
        ({"init_performance": 1.0}, "init_performance=1.0"),
        ({"mix_prob": 1.5}, r"mix_prob=1.5 is outside the allowed range \[0.0, 1.0\]"),
        ({"mode": "tabular", "hidden": (4,)}, "not allowed with mode='tabular'"),
        ({"hidden": (0,)}, "hidden="),
        ({"activation": "gelu"}, "activation='gelu'"),
        ({"optimizer": "rmsprop"}, r"optimizer='rmsprop' is not one of \('sgd', 'adam'\)"),
        ({"log_every": 0}, "log_every=0"),
        ({"stop_at": 2.5}, r"stop_at=2.5 is outside the allowed range \(0.0, 2.0\]"),
        ({"device": "tpu:7"}, "device='tpu:7'"),
        ({"dtype": "float16"}, r"dtype='float16' is not one of \('float64', 'float32'\)"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    args = {"num_contexts": 2, "num_arms": 2, "mode": "on-policy", "num_seeds": 4, "max_samples": 10}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        train_bandit(**args)


@pytest.mark.parametrize(
    "K,n,mode,lr,optimizer",
    [
        (3, 5, "on-policy", 0.5, "sgd"),
        (6, 6, "on-policy", 0.5, "sgd"),
        (8, 8, "on-policy", 0.5, "sgd"),  # lazy max-shift every 11 updates: 2 shifts inside the run
        (2, 2, "on-policy", 60.0, "sgd"),  # logits jump by up to 180 per update: shifted every update
        (6, 7, "tabular", 0.5, "sgd"),
        (4, 4, "separate", 0.5, "sgd"),
        (4, 6, "uniform", 0.5, "sgd"),
        (4, 4, "supervised", 0.5, "sgd"),
        (4, 4, "mixed", 0.5, "sgd"),
        (4, 5, "on-policy", 0.3, "adam"),
        (3, 3, "separate", 0.3, "adam"),
        (3, 4, "tabular", 0.3, "adam"),
    ],
)
def test_batched_learner_matches_seed_major_reference(
    K: int, n: int, mode: str, lr: float, optimizer: str
) -> None:
    """Plain seed-major REINFORCE (the algorithm as written in the paper: ``(onehot - pi) * r`` on W and b,
    a max-subtracted softmax every update) gives the same J to rounding, and hence draws the same rewards."""
    from baselines.bandit.policies import _target_logits

    S, updates, seed, mix = 40, 30, 3, 0.1
    kw = {"seed": seed, "stop_at": float(K), "mix_prob": mix, "optimizer": optimizer}
    r = train_bandit(K, n, mode, S, lr=lr, max_samples=K * updates, **kw)
    W = _target_logits(initial_performance(S, K, 0.1, torch.Generator().manual_seed(seed)), n)
    b = (
        torch.zeros(S, K, n, dtype=torch.float64)
        if mode == "separate"
        else torch.zeros(S, 1, n, dtype=torch.float64)
    )
    rng = np.random.default_rng(seed + 1)  # the CPU learner's uniforms: one (K, S) draw per update
    eye = torch.eye(K, n, dtype=torch.float64)
    moments = {
        "W": (torch.zeros_like(W), torch.zeros_like(W)),
        "b": (torch.zeros_like(b), torch.zeros_like(b)),
    }

    def step(name: str, g: torch.Tensor, t: int) -> torch.Tensor:
        if optimizer == "sgd":
            return lr * g
        m, v = moments[name]  # torch.optim.Adam's defaults
        m.mul_(0.9).add_(0.1 * g)
        v.mul_(0.999).add_(0.001 * g * g)
        return lr * (m / (1 - 0.9**t)) / ((v / (1 - 0.999**t)).sqrt() + 1e-8)

    for t in range(updates + 1):
        logits = W if mode == "tabular" else W + b
        e = (logits - logits.amax(-1, keepdim=True)).exp()
        p = e / e.sum(-1, keepdim=True)
        J = p.diagonal(dim1=1, dim2=2)  # (S, K)
        np.testing.assert_allclose(r.J[t], J.numpy(), rtol=1e-11, atol=1e-14, err_msg=f"update {t}")
        u = torch.from_numpy(rng.random((K, S))).T
        behaviour = {"uniform": torch.full_like(J, 1 / n), "mixed": (1 - mix) * J + mix / n}.get(mode, J)
        reward = torch.ones_like(J) if mode == "supervised" else (u < behaviour).to(torch.float64)
        G = (eye - p) * reward[..., None]
        W += step("W", G, t + 1)
        if mode in ("on-policy", "uniform", "supervised", "mixed"):
            b += step("b", G.sum(1, keepdim=True), t + 1)
        elif mode == "separate":
            b += step("b", G, t + 1)
    assert np.isfinite(r.J).all()


def test_log_growth_and_truncation_keep_the_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    import baselines.bandit.row_log as bl

    kw = {"max_samples": 4000, "seed": 1, "log_every": 7, "track_interference": True}
    want = train_bandit(2, 2, "tabular", 30, **kw)
    # all seeds stopped at update 596, off the logging grid: row 602 was logged, then dropped; 596 appended
    assert want.solved.all() and want.stop_update.max() == 596
    np.testing.assert_array_equal(want.updates[-3:], [588, 595, 596])
    monkeypatch.setattr(bl, "_LOG_PREALLOC_BYTES", 1)  # a one-row log at first, then doubling
    got = train_bandit(2, 2, "tabular", 30, **kw)
    np.testing.assert_array_equal(got.updates, want.updates)
    np.testing.assert_array_equal(got.J, want.J)
    np.testing.assert_array_equal(got.rho, want.rho)
    assert got.rho.shape == (len(want.updates), 30, 2, 2)


def test_lazy_max_shift_keeps_huge_logits_finite_and_the_policy_unchanged() -> None:
    """The linear learner skips the per-update max-subtraction and shifts W per context instead."""
    from baselines.bandit.policies import _SeedLastLinear

    g = torch.Generator().manual_seed(0)
    W = torch.randn(5, 3, 4, generator=g, dtype=torch.float64) * 3 + 2000.0  # (S, K, n): exp would overflow
    b = torch.randn(5, 4, generator=g, dtype=torch.float64)
    want = torch.softmax(W + b[:, None, :], dim=-1).diagonal(dim1=1, dim2=2)  # (S, K)
    lin = _SeedLastLinear(
        "shared", [W.clone(), b.clone()], renorm_every=1, J_out=torch.empty(3, 5, dtype=torch.float64)
    )
    assert torch.isfinite(lin.J).all()
    torch.testing.assert_close(lin.J.T, want, rtol=1e-13, atol=0)
    shift = (W + b[:, None, :]).permute(1, 2, 0) - lin.L  # a constant per (context, seed): the same policy
    torch.testing.assert_close(shift, shift[:, :1].expand_as(shift), rtol=1e-13, atol=1e-9)
    assert float(shift.abs().min()) > 1000


def test_device_staged_log_keeps_every_row(monkeypatch: pytest.MonkeyPatch) -> None:
    """The GPU path buffers logged rows on the device; exercised here on CPU with a 3-row stage."""
    import baselines.bandit.row_log as bl

    row_bytes = 5 * 4 * 8
    monkeypatch.setattr(bl, "_STAGE_BYTES", 3 * row_bytes)
    rows = [torch.full((5, 4), float(i), dtype=torch.float64) for i in range(11)]
    log = bl._RowLog(rows[0], max_rows=11, staged=True)
    assert log.stage is not None and len(log.stage) == 3
    for r in rows[1:7]:
        log.append(r)
    log.truncate(5)  # flushes what is staged, then drops rows 5 and 6
    for r in rows[7:]:
        log.append(r)
    want = torch.stack(rows[:5] + rows[7:]).numpy()
    np.testing.assert_array_equal(log.rows(), want)


def test_bandit_config_is_the_single_source_of_truth() -> None:
    import dataclasses

    from baselines.bandit.learners import BanditConfig

    cfg = BanditConfig(2, 2, "tabular", 8, max_samples=400, seed=3, hidden=[])
    assert cfg.hidden == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    by_config = train_bandit(config=cfg)
    by_fields = train_bandit(2, 2, "tabular", 8, max_samples=400, seed=3)
    np.testing.assert_array_equal(by_config.J, by_fields.J)
    with pytest.raises(TypeError, match="either config= or"):
        train_bandit(2, config=cfg)
    with pytest.raises(ValueError, match=r"num_seeds=0 must be an integer >= 1"):
        BanditConfig(2, 2, "tabular", 0)


@pytest.mark.parametrize(
    ("K", "n", "mode", "lr", "dtype"),
    [
        (8, 8, "on-policy", 0.5, "float64"),  # lazy max-shifts inside the run
        (2, 2, "on-policy", 60.0, "float64"),  # shifted every update
        (5, 6, "tabular", 0.5, "float64"),
        (4, 4, "separate", 0.5, "float64"),
        (4, 6, "uniform", 0.5, "float64"),
        (3, 3, "supervised", 0.5, "float64"),
        (4, 4, "mixed", 0.5, "float64"),
        (2, 2, "on-policy", 0.5, "float32"),
        (8, 8, "on-policy", 0.5, "float32"),
    ],
)
def test_fused_update_matches_the_torch_update(
    K: int, n: int, mode: str, lr: float, dtype: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The numba update (CPU default) and the torch ops (fallback, CUDA) give the same runs to rounding,
    including which seeds stop when (frozen seeds and compaction exercised by the default stop_at)."""
    from baselines.bandit import fused

    if not fused.AVAILABLE:
        pytest.skip("numba is not importable")
    kw = {"lr": lr, "max_samples": K * 400, "seed": 4, "dtype": dtype}
    calls: list[int] = []
    kernel = fused.sgd_update
    monkeypatch.setattr(fused, "sgd_update", lambda *a: calls.append(1) or kernel(*a))
    got = train_bandit(K, n, mode, 150, **kw)
    # the default CPU path is the fused one, once per update (up to the sync after the last seed stopped)
    assert got.stop_update.max() <= len(calls) < got.stop_update.max() + 64
    assert got.J.dtype == np.dtype(dtype)
    monkeypatch.setattr(fused, "AVAILABLE", False)
    want = train_bandit(K, n, mode, 150, **kw)
    rtol = 1e-11 if dtype == "float64" else 2e-5
    np.testing.assert_allclose(got.J, want.J, rtol=rtol, atol=1e-5 if dtype == "float32" else 1e-13)
    np.testing.assert_array_equal(got.stop_update, want.stop_update)
    np.testing.assert_array_equal(got.solved, want.solved)
    np.testing.assert_array_equal(got.updates, want.updates)


def test_start_recipes() -> None:
    from baselines.bandit.learners import INIT_RECIPES

    gen = lambda: torch.Generator().manual_seed(1)  # noqa: E731
    assert INIT_RECIPES == ("angle", "simplex", "logit-sphere")
    # simplex: J1 uniform on the segment J1 + J2 = 0.2 (every tenth gets ~1/10 of the seeds)
    J = initial_performance(4000, 2, 0.1, gen(), "simplex").numpy()
    np.testing.assert_allclose(J.sum(1), 0.2, rtol=1e-12)
    counts = np.histogram(J[:, 0], bins=10, range=(0, 0.2))[0]
    assert counts.min() > 330 and counts.max() < 470
    # logit-sphere: target logits on the unit sphere around the balanced logit log(0.1 (n - 1) / 0.9)
    for n in (2, 5):
        J = initial_performance(500, 3, 0.1, gen(), "logit-sphere", num_arms=n).numpy()
        x = np.log(J * (n - 1) / (1 - J)) - np.log(0.1 * (n - 1) / 0.9)
        np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-9)
        assert (x < 0).any() and (x > 0).any()
    # the learners start exactly where the recipe says, for every mode
    r = train_bandit(2, 2, "tabular", 50, seed=7, max_samples=2, init_recipe="simplex")
    np.testing.assert_allclose(r.J[0], initial_performance(50, 2, 0.1, torch.Generator().manual_seed(7), "simplex"))
    assert r.config["init_recipe"] == "simplex"
    with pytest.raises(ValueError, match="init_recipe='gauss' is not one of"):
        train_bandit(2, 2, "on-policy", 4, init_recipe="gauss")
    with pytest.raises(ValueError, match="needs num_arms"):
        initial_performance(4, 2, 0.1, gen(), "logit-sphere")
