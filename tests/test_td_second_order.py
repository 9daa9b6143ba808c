"""The second-order interference terms (Bengio et al. 2020, eqs. 16-17) against torch's own derivative."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, jvp

from baselines.diagnostics.td_second_order import (
    SecondOrderTerms,
    pair_gradients,
    pair_grid,
    second_order_terms,
)
from baselines.experiments.td_interference import _fmt_ci, mean_ci
from baselines.experiments.td_interference_terms import CASES, aggregate_terms, terms_claims


def _net(act: type[torch.nn.Module]) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), act(), torch.nn.Linear(6, 5), act(), torch.nn.Linear(5, 1))
    net = net.double()
    return net, {k: v.detach().clone() for k, v in net.named_parameters()}


def _rho_derivative(f, params, xa, xb, delta_fn_a, delta_fn_b) -> float:  # noqa: ANN001
    """d/dalpha at 0 of delta_A(theta') delta_B(theta') grad f_A(theta') . grad f_B(theta'), the step on B."""
    gb = grad(lambda p: f(p, xb.unsqueeze(0))[0])(params)
    step = {k: -delta_fn_b(params) * gb[k] for k in params}  # d theta' / d alpha

    def rho(p: dict[str, torch.Tensor]) -> torch.Tensor:
        fa = grad(lambda q: f(q, xa.unsqueeze(0))[0])(p)
        fb = grad(lambda q: f(q, xb.unsqueeze(0))[0])(p)
        return delta_fn_a(p) * delta_fn_b(p) * sum((fa[k] * fb[k]).sum() for k in p)

    return float(jvp(rho, (params,), (step,))[1])


@pytest.mark.parametrize("act", [torch.nn.Tanh, torch.nn.ReLU])
@pytest.mark.parametrize("target", ["fixed", "self"])
def test_terms_sum_to_minus_the_derivative_of_interference(act: type[torch.nn.Module], target: str) -> None:
    net, params = _net(act)

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(net, p, (x,)).squeeze(-1)

    g = torch.Generator().manual_seed(0)
    n = 6
    xa, xb, na, nb = (torch.randn(n, 4, generator=g, dtype=torch.float64) for _ in range(4))
    ya, yb = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    ra, rb = torch.randn(n, generator=g, dtype=torch.float64), torch.randn(n, generator=g, dtype=torch.float64)
    da = torch.tensor([0.9, 0.9, 0.0, 0.9, 0.9, 0.9], dtype=torch.float64)  # one terminal transition
    db = torch.tensor([0.9, 0.0, 0.9, 0.9, 0.9, 0.9], dtype=torch.float64)

    def delta(p: dict[str, torch.Tensor], x, y, r, nxt, d) -> torch.Tensor:  # noqa: ANN001
        v = f(p, x.unsqueeze(0))[0]
        if target == "fixed":
            return v - y
        return v - r - d * f(p, nxt.unsqueeze(0))[0]

    with torch.no_grad():
        dta = torch.stack([delta(params, xa[i], ya[i], ra[i], na[i], da[i]) for i in range(n)])
        dtb = torch.stack([delta(params, xb[i], yb[i], rb[i], nb[i], db[i]) for i in range(n)])
    terms = second_order_terms(f, params, xa, xb, dta, dtb, target=target, next_a=na, next_b=nb,
                               discount_a=da, discount_b=db)  # fmt: skip
    expected = np.array([
        _rho_derivative(f, params, xa[i], xb[i],
                        lambda p, i=i: delta(p, xa[i], ya[i], ra[i], na[i], da[i]),
                        lambda p, i=i: delta(p, xb[i], yb[i], rb[i], nb[i], db[i]))
        for i in range(n)
    ])  # fmt: skip
    np.testing.assert_allclose(terms.rho_prime, expected, rtol=1e-9, atol=1e-12)
    assert np.abs(terms.r2).min() > 1e-6
    # the paper's eq. 16 prints 2 delta_A delta_B g_AB g_BB for r2: that misses the derivative by r2 itself
    np.testing.assert_allclose(-(terms.r1 + 2 * terms.r2 + terms.r3) - expected, -terms.r2, rtol=1e-9, atol=1e-12)
    # pairs in chunks of 4 (two passes) give the same numbers as one pass
    chunked = pair_gradients(f, params, xa, xb, next_a=na, next_b=nb, chunk=4)
    again = chunked.terms(dta, dtb) if target == "fixed" else chunked.terms(dta, dtb, da, db)
    for name in ("r1", "r2", "r3"):
        np.testing.assert_allclose(getattr(again, name), getattr(terms, name), rtol=1e-12, atol=1e-15)
    if target == "fixed":
        assert (terms.r1 >= 0).all()  # delta_B^2 g_AB^2: a square when the target does not move


def test_summary_gives_fig7_lines_exactly() -> None:
    terms = SecondOrderTerms(np.array([1.0, 3.0, -2.0, 0.0]), np.array([-1.0, -1.0, -1.0, -1.0]),
                             np.array([2.0, 2.0, 2.0, 2.0]))  # fmt: skip
    s = terms.summary()
    assert s["r1"] == {"mean": 0.5, "positive_mean": 2.0, "negative_mean": -2.0, "negative_share": 0.25,
                       "mean_abs": 1.5}  # fmt: skip
    assert s["r2"]["positive_mean"] == 0.0 and s["r2"]["negative_share"] == 1.0
    assert s["r3"]["negative_mean"] == 0.0 and s["r3"]["mean"] == 2.0
    np.testing.assert_array_equal(terms.rho_prime, [-2.0, -4.0, 1.0, -1.0])


def test_pair_grid_and_bad_arguments() -> None:
    a, b = pair_grid(2, 3)
    assert list(zip(a.tolist(), b.tolist(), strict=True)) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    with pytest.raises(ValueError, match="n_a=0"):
        pair_grid(0, 3)
    net, params = _net(torch.nn.Tanh)

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(net, p, (x,)).squeeze(-1)

    x = torch.zeros(3, 4, dtype=torch.float64)
    d = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="target='td'; allowed: fixed, self"):
        second_order_terms(f, params, x, x, d, d, target="td")
    with pytest.raises(ValueError, match="needs next_a, next_b, discount_a, discount_b"):
        second_order_terms(f, params, x, x, d, d, target="self")
    with pytest.raises(ValueError, match="obs_b has 2 rows, obs_a has 3"):
        second_order_terms(f, params, x, x[:2], d, d)
    q = pair_gradients(f, params, x, x)
    with pytest.raises(ValueError, match="needs the successors"):
        q.terms(d, d, d, d)
    with pytest.raises(ValueError, match="give both discount_a and discount_b"):
        q.terms(d, d, d, None)
    with pytest.raises(ValueError, match="delta_b has 2 rows for 3 pairs"):
        q.terms(d, d[:2])
    with pytest.raises(ValueError, match="chunk=0"):
        pair_gradients(f, params, x, x, chunk=0)


def _runs(shares: dict[str, float], r3_mean: float = -0.1, r3_abs: float = 0.1, seeds: int = 3) -> list[dict]:
    """``run_seed``'s ``terms`` for two epochs: r2's negative share per case, r1 and r2 of magnitude 1."""

    def stats(share: float, mean: float, mean_abs: float) -> dict:
        return {"mean": mean, "positive_mean": 1.0, "negative_mean": -1.0, "negative_share": share,
                "mean_abs": mean_abs}  # fmt: skip

    def case(name: str, s: int) -> dict:
        return {"r1": stats(0.0, 1.0, 1.0), "r2": stats(shares[name] + 0.01 * s, 0.5, 1.0),
                "r3": stats(0.5, r3_mean, r3_abs), "delta": {"positive_share": 0.5, "independent_negative_pairs": 0.5}}  # fmt: skip

    return [{"terms": {e: {c: case(c, s) for c in CASES} for e in ("1", "2")}} for s in range(seeds)]


def test_fig7_claims_follow_the_bands_exactly() -> None:
    ci = "90% CI"
    paper_like = aggregate_terms(_runs({"regression": 0.1, "td_frozen": 0.4, "td_self": 0.45}), mean_ci)
    mean, lo, hi = paper_like["regression"]["r2"]["negative_share"]  # seeds 0.10, 0.11, 0.12
    assert mean == pytest.approx(0.11) and 0.1 <= lo < mean < hi <= 0.12
    assert paper_like["r2_negative_share_td_minus_reg"]["td_self"] == pytest.approx([0.35, 0.35, 0.35])
    assert paper_like["td_self_r3_over_others"] == pytest.approx([0.1, 0.1, 0.1])
    rows = terms_claims(paper_like, _fmt_ci, (1, 2), ci)
    assert [r["in_band"] for r in rows] == [True, True, True]
    # regression's r2 as often negative as TD's, and TD's r3 as large as the others and positive: all out
    flat = aggregate_terms(_runs({"regression": 0.45, "td_frozen": 0.4, "td_self": 0.45}, r3_mean=0.2, r3_abs=2.0),
                           mean_ci)  # fmt: skip
    assert [r["in_band"] for r in terms_claims(flat, _fmt_ci, (1, 2), ci)] == [False, False, False]
