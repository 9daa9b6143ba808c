"""``td-interference``'s generalisation grid (Bengio et al. 2020, Figs. 1, 2, 6, 8): statistics, measures, verdicts."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.diagnostics.td_interference import TrajectoryData, function_interference, per_sample_grads
from baselines.experiments.td_generalisation import (
    CLASSIFIERS,
    METHODS,
    GeneralisationSettings,
    analyse,
    behaviour_value,
    cross_entropy,
    interference,
    json_safe,
    pearson,
    pearson_ci,
    run_fig6_cell,
    run_grid_cell,
    td0_errors,
)
from baselines.experiments.td_generalisation_report import _r, claims, report_lines
from baselines.experiments.td_interference import (
    TDSettings,
    collect_glimpse_labelled,
    monte_carlo_returns,
    reproduce_td_interference,
)


def test_pearson_on_constructed_cases() -> None:
    # x = 1..4, y = 1, 3, 2, 4: centred x (-1.5, -.5, .5, 1.5), y (-1.5, .5, -.5, 1.5); x.y = 4, |x|^2 = |y|^2 = 5
    assert pearson(np.array([1, 2, 3, 4]), np.array([1, 3, 2, 4])) == pytest.approx(0.8)
    assert math.isnan(pearson(np.array([1.0, 2.0]), np.array([2.0, 1.0])))  # < 3 pairs
    assert math.isnan(pearson(np.array([1.0, 2.0, 3.0]), np.array([5.0, 5.0, 5.0])))  # constant
    # NaNs (a rho_bar <= 0 has no log) are dropped pairwise
    assert pearson(np.array([1, 2, np.nan, 3, 4]), np.array([1, 3, 7, 2, 4])) == pytest.approx(0.8)


def test_pearson_ci_is_exact_on_lines_and_brackets_r() -> None:
    x = np.arange(8.0)
    assert pearson_ci(x, 3 * x + 1) == pytest.approx((1.0, 1.0, 1.0))  # every resample is a line too
    assert pearson_ci(x, -2 * x) == pytest.approx((-1.0, -1.0, -1.0))
    y = x + np.array([3, -2, 1, 0, -3, 2, -1, 4.0])
    r, lo, hi = pearson_ci(x, y, draws=500)
    assert r == pytest.approx(np.corrcoef(x, y)[0, 1]) and lo < r < hi <= 1.0
    assert pearson_ci(x, y, draws=500) == (r, lo, hi)  # seeded
    assert all(math.isnan(v) for v in pearson_ci(x[:2], y[:2]))
    with pytest.raises(ValueError, match="1-d arrays of one length"):
        pearson_ci(x, y[:5])


def test_interference_in_chunks_equals_the_whole_gradient_matrix() -> None:
    """Linear V(s) = w.s + b: grad = (s, 1), so rho_bar = mean over pairs of s_u.s_v + 1, by hand."""
    obs = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [0, 2]], dtype=np.float32)
    model = torch.nn.Sequential(torch.nn.Linear(2, 1))
    dots = [obs[u] @ obs[v] + 1.0 for u in range(5) for v in range(5) if u != v]
    assert interference(model, obs, classifier=False, chunk=2) == pytest.approx(np.mean(dots))
    torch.manual_seed(0)
    clf = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 10))
    params = {k: v.detach() for k, v in clf.named_parameters()}

    def f(p: dict, b: dict) -> torch.Tensor:
        return torch.softmax(torch.func.functional_call(clf, p, (b["obs"],)), -1).max(-1).values

    whole = function_interference(per_sample_grads(f, params, {"obs": torch.as_tensor(obs)}))
    assert interference(clf, obs, classifier=True, chunk=3) == pytest.approx(whole, rel=1e-6)
    with pytest.raises(ValueError, match=">= 2 states"):
        interference(model, obs[:1], classifier=False)


def test_behaviour_value_by_hand_and_against_the_observed_returns() -> None:
    kw = {"gamma": 0.9, "p_move": 0.6, "known_classes": 5}
    # known class: q = 0.4; one action left: 0.4; two: 0.4 + 0.9 * 0.6 * 0.4
    np.testing.assert_allclose(behaviour_value(np.array([3, 3]), np.array([19, 18]), **kw), [0.4, 0.616])
    # unknown class: q = 0.04 on the last action
    np.testing.assert_allclose(behaviour_value(np.array([7]), np.array([19]), **kw), [0.04])
    with pytest.raises(ValueError, match="steps"):
        behaviour_value(np.array([0]), np.array([20]), **kw)
    # the mean observed return from each episode's first state matches V^pi per known / unknown class
    td = TDSettings(seeds=2, num_images=50)
    data, labels, steps = collect_glimpse_labelled(td, "train", 1500, seed=0)
    g = monte_carlo_returns(data, td.gamma)
    start = steps == 0
    for known in (True, False):
        sel = start & ((labels < 5) == known)
        v = behaviour_value(labels[sel][:1], steps[sel][:1], **kw)[0]
        se = g[sel].std() / math.sqrt(sel.sum())
        assert abs(g[sel].mean() - v) < 4 * se, (known, g[sel].mean(), v, se)


def test_cross_entropy_and_td0_errors_by_hand() -> None:
    assert cross_entropy(np.zeros((1, 2)), np.array([0])) == pytest.approx(math.log(2))
    assert cross_entropy(np.array([[0.0, math.log(3)], [5.0, 5.0]]), np.array([1, 0])) == pytest.approx(
        (math.log(4 / 3) + math.log(2)) / 2)  # fmt: skip
    model = torch.nn.Linear(1, 1)
    with torch.no_grad():
        model.weight.fill_(2.0)
        model.bias.fill_(0.0)
    obs = np.array([[1.0], [2.0]], dtype=np.float32)
    data = TrajectoryData(obs, np.array([1.0, 0.5]), np.array([[3.0], [0.0]], dtype=np.float32),
                          np.array([False, True]), np.array([0, 0]))  # fmt: skip
    # delta_0 = 1 + 0.5 * V(3) - V(1) = 1 + 3 - 2; delta_1 = 0.5 - V(2) (terminal)
    np.testing.assert_allclose(td0_errors(model, data, 0.5), [2.0, -3.5])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"sizes": (10,)}, "sizes"), ({"sizes": (30, 10)}, "sizes"), ({"sizes": (10, 10_000)}, r"\[1, 9999\]"), ({"fig6_size": 10_000}, "fig6_size"),
     ({"hidden_units": (8, 8)}, "hidden_units"), ({"hidden_units": (8, 16), "seeds": 1}, "correlation needs >= 3"),
     ({"fig6_lrs": (1e-3,)}, "fig6_lrs"), ({"lr": 0.0}, "lr"), ({"probe_states": 1}, "probe_states"),
     ({"fig6_size": 0}, "fig6_size"), ({"bootstrap": 10}, "bootstrap")],
)  # fmt: skip
def test_settings_refuse_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GeneralisationSettings(**kwargs)


def test_bad_generalisation_argument_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="generalisation="):
        reproduce_td_interference(tmp_path / "a", generalisation={"size": (10, 20)})
    with pytest.raises(ValueError, match="sizes"):
        reproduce_td_interference(tmp_path / "b", generalisation={"sizes": (10,)})
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


GEN = GeneralisationSettings(sizes=(10, 100), hidden_units=(8, 16), seeds=2, fig6_lrs=(1e-2, 1e-4), bootstrap=200)


def _grid(classification_sign: float = 1.0) -> tuple[list[dict], list[dict]]:
    """Synthetic runs: per size, log10 rho_bar = base + 0.1 i over the 4 runs (capacity x seed)."""
    grid = []
    for m in METHODS:
        for n in GEN.sizes:
            for i, (h, s) in enumerate((h, s) for h in GEN.hidden_units for s in range(GEN.seeds)):
                if m in CLASSIFIERS:  # gap rises with rho_bar, which falls with the size
                    lr = (2.0 if n == 10 else 1.0) + 0.1 * i
                    gap = classification_sign * lr
                else:  # gap falls with the size and, within a size, with rho_bar, which rises with the size
                    lr = (1.0 if n == 10 else 2.0) + 0.1 * i
                    gap = (3.0 if n == 10 else 1.0) - 0.1 * lr
                grid.append({"method": m, "size": n, "hidden": h, "seed": s, "rho": 10**lr, "gap": gap,
                             "gap_true_value": math.nan if m in CLASSIFIERS else gap / 2 + (n == 10), "epochs": 3,
                             "train_loss": 0.5 * lr})
    fig6 = [{"lr": lr, "hidden": h, "seed": s, "rho": 10 ** (k / 4), "sign_variance": 0.05 * k, "test_error": 0.1 * k}
            for k, (lr, h, s) in enumerate((a, h, s) for a in GEN.fig6_lrs for h in GEN.hidden_units
                                            for s in range(GEN.seeds))]  # fmt: skip
    return grid, fig6


def test_json_safe_and_undefined_r() -> None:
    assert json_safe({"a": [1.0, math.nan, (math.inf, 2)], "b": "x", "c": 3}) == {"a": [1.0, None, [None, 2]], "b": "x",
                                                                                 "c": 3}  # fmt: skip
    assert _r([0.5, 0.25, 0.75]) == "+0.50 [+0.25, +0.75]" and _r([math.nan] * 3) == _r([None] * 3) == "n/a"


def test_analyse_and_claims_follow_the_numbers() -> None:
    grid, fig6 = _grid()
    agg = analyse(GEN, grid, fig6)
    bm = agg["by_method"]
    for n in ("10", "100"):
        assert bm["classification"]["r_by_size"][n] == pytest.approx([1.0, 1.0, 1.0])
        assert bm["td0"]["r_by_size"][n] == pytest.approx([-1.0, -1.0, -1.0])
    runs = [r for r in grid if r["method"] == "td0"]
    lrho, gap = np.log10([r["rho"] for r in runs]), np.array([r["gap"] for r in runs])
    assert bm["td0"]["r_all"][0] == pytest.approx(np.corrcoef(lrho, gap)[0, 1]) and bm["td0"]["r_all"][0] < -0.9
    size_r = np.corrcoef(np.log10([r["size"] for r in runs]), gap)[0, 1]
    assert bm["regression"]["r_size_gap"][0] == pytest.approx(size_r) and size_r < -0.99
    assert bm["classification"]["mean_gap_by_size"] == pytest.approx({"10": 2.15, "100": 1.15})
    assert "mean_gap_true_value_by_size" not in bm["classification"] and bm["classification_es"]["mean_epochs"] == 3
    # td0 at 10 images: gap 3 - 0.1 (1.15) = 2.885 on average, halved plus 1; at 100: (1 - 0.215) / 2
    assert bm["td0"]["mean_gap_true_value_by_size"] == pytest.approx({"10": 2.4425, "100": 0.3925})
    assert bm["td0"]["r_all_true_value"][0] == pytest.approx(np.corrcoef(lrho, gap / 2 + (np.array([r["size"] for r in runs]) == 10))[0, 1])
    f6 = agg["fig6"]
    assert f6["r_rho_sign_variance"] == pytest.approx([1.0, 1.0, 1.0])
    # the 8 runs' k = 0..7: above both medians are k = 4..7, mean error 0.55 vs 0.15
    assert (f6["high_high_runs"], f6["error_high_high"], f6["error_rest"]) == (4, pytest.approx(0.55), pytest.approx(0.15))
    rows = claims(GEN, agg)
    assert len(rows) == 7 and [r["in_band"] for r in rows] == [True] * 7
    # the classifier's gap falling as rho_bar rises: Figs. 1-2's classification rows and Fig. 8 leave the band
    flipped = claims(GEN, analyse(GEN, *_grid(classification_sign=-1.0)))
    assert [r["in_band"] for r in flipped] == [False, True, False, True, False, True, True]
    section = {"settings": {**GEN.__dict__}, "aggregate": agg, "wall_time_s": 1.0}
    text = "\n".join(report_lines(section))
    assert "(stopped at epoch 3.0 on average)" in text and "TD(0) policy evaluation +1.00" in text
    assert bm["classification"]["r_rho_train_loss"] == pytest.approx(1.0) and "memorisation" in text
    table = [line for line in report_lines(section) if line.startswith("| ") and "method" not in line]
    assert len(table) == 6 and all(line.count(" | ") == len(GEN.sizes) + 1 for line in table)


def test_grid_and_fig6_cells_train_every_method_on_one_dataset() -> None:
    torch.set_num_threads(1)
    td = TDSettings(seeds=2)
    gen = replace(GEN, train_episodes=6, test_episodes=4, probe_states=8, epochs=1, fig6_size=10)
    runs = run_grid_cell(td, gen, 10, 0)
    assert [(r["method"], r["hidden"]) for r in runs] == [(m, h) for h in gen.hidden_units for m in METHODS]
    for r in runs:
        assert r["gap"] == pytest.approx(r["test_loss"] - r["train_loss"]) and math.isfinite(r["rho"])
        assert r["size"] == 10 and r["transitions"] == runs[0]["transitions"]
    ce = [r["train_loss"] for r in runs if r["method"] in CLASSIFIERS]
    assert all(0.5 < x < 5 for x in ce)  # about log(10) after one epoch on a few transitions (or at the init)
    assert {r["epochs"] for r in runs if r["method"] != "classification_es"} == {1}
    assert all(r["epochs"] in (0, 1) for r in runs if r["method"] == "classification_es")
    six = run_fig6_cell(td, gen, 1)
    assert [(r["lr"], r["hidden"]) for r in six] == [(a, h) for a in gen.fig6_lrs for h in gen.hidden_units]
    assert all(0.0 <= r["sign_variance"] <= 1.0 and r["seed"] == 1 for r in six)


def test_validation_episodes_need_unseen_train_images() -> None:
    with pytest.raises(ValueError, match="split='train'"):
        collect_glimpse_labelled(TDSettings(seeds=2), "test", 2, seed=0, unseen_train_images=True)
    with pytest.raises(ValueError, match="no unseen train images"):
        collect_glimpse_labelled(TDSettings(seeds=2, num_images=10_000), "train", 2, seed=0, unseen_train_images=True)
    data, labels, steps = collect_glimpse_labelled(TDSettings(seeds=2), "train", 3, seed=0, unseen_train_images=True)
    assert len(labels) == len(steps) == len(data.obs) and steps[0] == 0
