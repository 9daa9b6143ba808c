"""Bengio et al.'s appendix Figs. 9, 13, 14 inside ``td-interference``: exact statistics on synthetic runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.diagnostics.td_interference import value_mlp
from baselines.experiments.td_interference import TDSettings, _fmt_ci, mean_ci
from baselines.experiments.td_interference_appendix import (
    FIGURE,
    aggregate_appendix,
    appendix_claims,
    capacity_trends,
    gain_map,
    gain_stability,
    last_hidden_singular_values,
    plot_appendix,
    singular_value_trends,
)


def test_singular_values_are_the_last_hidden_layers_not_the_heads() -> None:
    model = value_mlp(3, hidden=(4, 2), seed=0)
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([[3.0, 0, 0, 0], [0, -4.0, 0, 0]]))  # the 2 x 4 last hidden layer
    assert last_hidden_singular_values(model) == pytest.approx([4.0, 3.0])
    with pytest.raises(ValueError, match="1 Linear"):
        last_hidden_singular_values(value_mlp(3, hidden=(), seed=0))


def _grid(rho: dict[str, list[float | None]]) -> list[dict]:
    """Two datasets (sizes 10, 30; seed 0) x widths 16, 64, 256; ``rho[method]`` is the per-width rho_bar."""
    return [{"method": m, "size": n, "seed": 0, "hidden": h, "rho": r}
            for m, values in rho.items() for n in (10, 30) for h, r in zip((16, 64, 256), values, strict=True)]  # fmt: skip


def test_capacity_trends_rank_width_against_rho_within_each_dataset() -> None:
    grid = _grid({"td0": [3.0, 2.0, 1.0], "regression": [1.0, None, 2.0], "classification": [1.0, 5.0, 9.0]})
    out = capacity_trends(grid, mean_ci)
    assert out["td0"]["spearman"] == pytest.approx([-1.0] * 3) and out["td0"]["decreasing_datasets"] == 2
    assert out["classification"]["spearman"] == pytest.approx([1.0] * 3)
    assert out["classification"]["decreasing_datasets"] == 0 and out["classification"]["datasets"] == 2
    assert out["regression"]["spearman"] == pytest.approx([1.0] * 3)  # the null rho is left out, not zeroed
    assert out["regression"]["mean_rho_by_width"]["64"] != out["regression"]["mean_rho_by_width"]["64"]  # NaN
    assert out["td0"]["mean_rho_by_width"] == {"16": 3.0, "64": 2.0, "256": 1.0}


def _runs(seeds: int = 3) -> list[dict]:
    """lambda scales the spectrum (1 + lambda) x [3, 2, 1]; Fig. 14 profiles: TD(0) keeps its shape, lambda=1 flips."""
    runs = []
    for s in range(seeds):
        run = {}
        for lam in (0.0, 0.5, 1.0):
            early = {str(x): float(x * x + s) for x in range(-2, 3)}
            late = {k: (-v if lam == 1.0 else 2 * v) for k, v in early.items()}
            run[str(lam)] = {"singular_values": [(1 + lam) * v for v in (3.0, 2.0, 1.0)],
                             "over_training": {"epoch": [0, 2, 8],
                                               "loss_difference_by_offset": [early, early, late]}}  # fmt: skip
        runs.append(run)
    return runs


def test_singular_value_trends_are_exact_on_scaled_spectra() -> None:
    out = singular_value_trends((0.0, 0.5, 1.0), _runs(), mean_ci)
    assert out["spearman_mean"] == pytest.approx(1.0) and out["spearman_spread"] == pytest.approx(1.0)
    assert out["mean_sigma"] == pytest.approx({"0.0": 2.0, "0.5": 3.0, "1.0": 4.0})
    assert out["std_sigma"]["0.0"] == pytest.approx(math.sqrt(2 / 3))
    assert out["top_sigma_diff"] == pytest.approx([3.0, 3.0, 3.0])  # 6 - 3 in every seed
    assert out["mean_spectrum"]["1.0"] == pytest.approx([6.0, 4.0, 2.0])


def test_gain_map_and_stability_leave_out_offset_zero() -> None:
    runs = _runs()
    epochs, offsets, m = gain_map(runs, 0.0)
    assert epochs.tolist() == [0, 2, 8] and offsets.tolist() == [-2, -1, 1, 2]
    assert m[:, 0].tolist() == pytest.approx([5.0, 2.0, 2.0, 5.0])  # x^2 + the mean seed (1)
    assert m[:, 2].tolist() == pytest.approx([10.0, 4.0, 4.0, 10.0])
    assert gain_stability(runs, 0.0, 1, mean_ci) == pytest.approx([1.0, 1.0, 1.0])  # late = 2 x early
    assert gain_stability(runs, 1.0, 1, mean_ci) == pytest.approx([-1.0, -1.0, -1.0])  # late = -early


def test_claims_follow_the_bands_and_the_figure_is_written(tmp_path: Path) -> None:
    settings = TDSettings(seeds=3, lambdas=(0.0, 0.5, 1.0), epochs=8, checkpoints=(0, 2, 8))
    runs = _runs()
    gen = {"grid": _grid({"td0": [3.0, 2.0, 1.0], "regression": [1.0, 2.0, 3.0], "classification": [1.0, 2.0, 3.0]})}
    app = aggregate_appendix(settings, runs, {"quarter_epoch": 2}, gen, mean_ci)
    rows = appendix_claims(app, _fmt_ci, settings.epochs, "90% CI")
    assert [r["in_band"] for r in rows] == [True, True, True]
    assert "epoch 2" in rows[2]["ours"] and "epoch 8" in rows[2]["ours"]
    flipped = {"grid": _grid({"td0": [1.0, 2.0, 3.0], "regression": [1.0, 2.0, 3.0], "classification": [3.0, 2.0, 1.0]})}
    rows = appendix_claims(aggregate_appendix(settings, runs, {"quarter_epoch": 2}, flipped, mean_ci), _fmt_ci, 8, "CI")
    assert [r["in_band"] for r in rows] == [False, True, True]
    shrinking = [{**r, **{lam: {**r[lam], "singular_values": [v / (1 + 2 * float(lam)) for v in r[lam]["singular_values"]]}
                          for lam in ("0.0", "0.5", "1.0")}} for r in runs]  # fmt: skip
    rows = appendix_claims(aggregate_appendix(settings, shrinking, {"quarter_epoch": 2}, gen, mean_ci), _fmt_ci, 8, "CI")
    assert [r["in_band"] for r in rows] == [True, False, True]  # the spectrum now shrinks as lambda grows
    no_grid = aggregate_appendix(settings, runs, {"quarter_epoch": 2}, None, mean_ci)
    assert no_grid["fig9"] is None and len(appendix_claims(no_grid, _fmt_ci, 8, "CI")) == 2
    path = plot_appendix(settings, runs, no_grid, None, tmp_path)
    assert path == tmp_path / FIGURE and path.stat().st_size > 0
    assert plot_appendix(settings, runs, app, gen, tmp_path).stat().st_size > 0
