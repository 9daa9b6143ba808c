"""``rayenvs reproduce td-interference`` (Bengio et al. 2020): its pieces with exact values, and a tiny end-to-end run."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from baselines.diagnostics.td_interference import (
    TrajectoryData,
    td_lambda_measures,
    train_td_lambda,
    value_mlp,
)
from baselines.experiments.td_generalisation import FIGURES as GEN_FIGURES
from baselines.experiments.td_interference import (
    FIGURES,
    TDSettings,
    first_episodes,
    mean_ci,
    monte_carlo_returns,
    near_mean,
    pool_observation,
    reproduce_td_interference,
)
from baselines.experiments.td_interference_appendix import FIGURE as APPENDIX_FIGURE

TINY = dict(seeds=2, lambdas=(0.0, 1.0), num_images=20, train_episodes=16, test_episodes=6, measure_episodes=10,
            hidden=(8,), epochs=2, checkpoints=(0, 2), anchors=4, checkpoint_anchors=2, term_epochs=(1, 2),
            term_pairs=4, progress=False,
            generalisation={"sizes": (5, 10), "hidden_units": (4, 8), "seeds": 2, "train_episodes": 8, "test_episodes": 4,
                            "probe_states": 8, "epochs": 1, "fig6_size": 10, "bootstrap": 100})  # fmt: skip


def _data() -> TrajectoryData:
    """Two episodes: 5 steps ending in reward 1 (terminated), then 2 steps cut by the dataset end."""
    obs = np.array([[1, 0], [0, 1], [1, 1], [2, 0], [0, 2], [1, 2], [2, 1]], dtype=np.float32)
    return TrajectoryData(obs, np.array([0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5]), obs[::-1].copy(),
                          np.array([False] * 4 + [True, False, False]), np.array([0] * 5 + [1] * 2))  # fmt: skip


def test_pool_observation_averages_blocks() -> None:
    obs = np.zeros((4, 4, 1), dtype=np.uint8)
    obs[:2, :2] = 255
    obs[2:, 2:] = 51
    np.testing.assert_allclose(pool_observation(obs, 2), [1.0, 0.0, 0.0, 0.2], atol=1e-7)
    assert pool_observation(np.zeros((40, 40, 3), dtype=np.uint8)).shape == (300,)
    with pytest.raises(ValueError, match="divisible"):
        pool_observation(np.zeros((6, 6, 1), dtype=np.uint8), 4)


def test_monte_carlo_returns_and_first_episodes() -> None:
    data = _data()
    np.testing.assert_allclose(monte_carlo_returns(data, 0.5), [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 0.25, 0.5])
    sub = first_episodes(data, 1)
    assert len(sub.obs) == 5 and sub.terminated[-1] and set(sub.episode_ids) == {0}


def test_function_interference_of_a_linear_value_is_the_mean_input_dot_plus_one() -> None:
    """V(s) = w.s + b: grad V(s) = (s, 1), so rho_bar = mean over pairs u != v of s_u.s_v + 1, by hand."""
    data = _data()
    model = value_mlp(2, hidden=(), seed=0)
    m = td_lambda_measures(model, data, gamma=0.5, lr=0.1, num_anchors=2, max_offset=2)
    x = data.obs.astype(np.float64)
    dots = [x[u] @ x[v] + 1.0 for u in range(7) for v in range(7) if u != v]
    # s_u.s_v over the 21 pairs u < v of the 7 states sums to 38 (by hand: [1,0] with the later states 0+1+2+0+1+2,
    # [0,1] 1+0+2+2+1, [1,1] 2+2+3+3, [2,0] 0+2+4, [0,2] 4+2, [1,2] 4), so rho_bar = 1 + 38 / 21
    assert m.function_interference == pytest.approx(np.mean(dots)) == pytest.approx(1.0 + 38 / 21)
    # stiffness at offset 1 inside episodes: pairs (0,1), (1,2), (2,3), (3,4), (5,6); cosines of (s, 1)
    cos = [1 / 2, 2 / math.sqrt(2 * 3), 3 / math.sqrt(3 * 5), 1 / 5, 5 / 6]
    assert m.stiffness[1] == pytest.approx(np.mean(cos)) and m.stiffness[-1] == pytest.approx(np.mean(cos))


def test_train_td_lambda_calls_on_epoch_before_and_after_each_epoch() -> None:
    seen: list[int] = []
    train_td_lambda(_data(), lam=0.5, gamma=0.5, hidden=(4,), epochs=3, on_epoch=lambda e, _m: seen.append(e))
    assert seen == [0, 1, 2, 3]


def test_near_mean_and_mean_ci() -> None:
    by = {x: float(abs(x)) for x in range(-6, 7)}
    by[0] = 1e9  # the update sample itself is excluded
    assert near_mean(by) == pytest.approx(3.0)
    assert mean_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0, 2.0)
    m, lo, hi = mean_ci(np.array([0.0, 1.0, 2.0, 3.0, np.nan]))
    assert m == 1.5 and 0.0 <= lo < m < hi <= 3.0
    assert all(math.isnan(v) for v in mean_ci(np.array([np.nan])))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"seeds": 1}, "seeds"), ({"lambdas": (0.0, 0.5)}, "include 0"), ({"lambdas": (0.0, 1.5)}, "lambdas"),
     ({"checkpoints": (0, 5)}, "checkpoints"), ({"measure_episodes": 500}, "measure_episodes"),
     ({"gamma": 0.0}, "gamma"), ({"term_epochs": (0, 1)}, "term_epochs"), ({"term_epochs": (2, 40)}, "term_epochs"),
     ({"term_pairs": 0}, "term_pairs")],
)  # fmt: skip
def test_settings_refuse_bad_values(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TDSettings(**kwargs)


def test_unknown_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown settings"):
        reproduce_td_interference(tmp_path, epoch=3)


@pytest.mark.slow  # trains 4 small networks: ~20 s on an idle machine, minutes on a busy one
def test_tiny_run_writes_figures_report_and_summary(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    summary = reproduce_td_interference(tmp_path, **TINY)
    for name in (*FIGURES.values(), *GEN_FIGURES.values(), APPENDIX_FIGURE, "report.md", "summary.json"):
        assert (tmp_path / name).stat().st_size > 0
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert {"experiment", "quick", "settings", "aggregate", "claims", "runs", "wall_time_s"} <= set(saved)
    assert saved["experiment"] == "td-interference" and len(saved["runs"]) == 2
    assert set(saved["aggregate"]["by_lambda"]) == {"0.0", "1.0"}
    run = saved["runs"][0]["0.0"]
    assert run["over_training"]["epoch"] == [0, 2] and len(run["stiffness"]) == 21
    assert run["stiffness"]["0"] == pytest.approx(1.0)
    report = (tmp_path / "report.md").read_text()
    assert report.startswith("# ") and "Full run: 2 seeds" in report
    assert "| paper claim | ours | in band? |" in report
    assert len(summary["claims"]) == 13 and len(summary["generalisation"]["claims"]) == 7  # 7 + 3 Fig. 7 + 3 appendix
    assert len(run["singular_values"]) == 8  # hidden=(8,): the 8 x 300 input layer is the last hidden one
    assert len(run["over_training"]["loss_difference_by_offset"]) == 2
    assert set(saved["runs"][0]["terms"]) == {"1", "2"}
    assert set(saved["runs"][0]["terms"]["1"]) == {"regression", "td_frozen", "td_self"}
    assert saved["aggregate"]["terms"]["regression"]["r1"]["negative_share"] == [0.0, 0.0, 0.0]  # a square
    assert len(saved["generalisation"]["grid"]) == 2 * 2 * 2 * 4 and "## Generalisation gap vs interference" in report
    assert sum("(band:" in line for line in report.splitlines()) == 20
    for claim in [*summary["claims"], *summary["generalisation"]["claims"]]:
        assert claim["claim"].split("(")[0][:40] in report
        assert isinstance(claim["in_band"], bool) and claim["band"]
    for fig in ("Fig. 3", "Fig. 5", "Fig. 7", "Fig. 11", "App. D.2", "Fig. 1:", "Fig. 2:", "App. Fig. 8", "Fig. 6", "App. Fig. 9",
                "App. Fig. 13", "Fig. 14"):
        assert fig in report


def _fake_runs(settings: TDSettings, values: dict[float, dict[str, float]], seeds: int = 2) -> list[dict]:
    """Per-seed results as ``run_seed`` returns them, with the given final numbers (seed s adds 0.01 s to ρ̄)."""
    offsets = range(-settings.max_offset, settings.max_offset + 1)
    runs = []
    for s in range(seeds):
        run: dict = {"train_transitions": 100, "probe_transitions": 50}
        for lam in settings.lambdas:
            v = values[lam]
            rho = v["function_interference"] * (1 + 0.01 * s)
            run[str(lam)] = {
                **v, "function_interference": rho, "sign_variance": 0.5,
                "stiffness": {str(x): 1.0 if x == 0 else v["stiffness_near"] for x in offsets},
                "loss_difference": {str(x): v["loss_difference_near"] for x in offsets},
                "over_training": {"epoch": list(settings.checkpoints), "rho": [rho / 1.5, rho / 1.2, rho],
                                  "stiffness": [0.5] * 3, "loss_difference": [0.0] * 3,
                                  "train_error": [0.2, 0.1, v["train_error"]], "test_error": [0.3, 0.2, v["test_error"]]},
            }  # fmt: skip
        runs.append(run)
    return runs


def test_claims_verdicts_follow_the_bands_exactly(tmp_path: Path) -> None:
    """Synthetic results (no training): the paper-like case is in band on every row but the D.2 row, and the
    report has one table row per claim."""
    from baselines.experiments.td_interference import aggregate
    from baselines.experiments.td_interference_figures import plot_lambda_summary
    from baselines.experiments.td_interference_report import claims, report_text

    settings = TDSettings(seeds=2, lambdas=(0.0, 0.5, 1.0), epochs=8, checkpoints=(0, 2, 8))
    values = {
        0.0: {"function_interference": 1.0, "stiffness_near": 0.4, "loss_difference_near": -1e-5,
              "train_error": 0.10, "test_error": 0.30},
        0.5: {"function_interference": 1.5, "stiffness_near": 0.5, "loss_difference_near": 1e-4,
              "train_error": 0.10, "test_error": 0.25},
        1.0: {"function_interference": 2.0, "stiffness_near": 0.6, "loss_difference_near": 1e-3,
              "train_error": 0.10, "test_error": 0.20},
    }  # fmt: skip
    runs = _fake_runs(settings, values)
    agg = aggregate(settings, runs)
    assert agg["quarter_epoch"] == 2
    assert agg["td0_vs_mc"]["loss_difference_ratio_per_seed"] == pytest.approx([100.0, 100.0])
    assert agg["td0_vs_mc"]["rho_ratio"] == pytest.approx([0.5, 0.5, 0.5])  # (mean, lo, hi): equal per seed
    assert agg["td0_vs_mc"]["test_error_diff"] == pytest.approx([0.1, 0.1, 0.1])
    assert agg["spearman_lambda"] == pytest.approx({"function_interference": 1.0, "stiffness_near": 1.0,
                                                    "loss_difference_near": 1.0})  # fmt: skip
    assert agg["rho_late_over_quarter"]["0.0"] == pytest.approx([1.2, 1.2, 1.2])
    rows = claims(settings, agg)
    assert [r["in_band"] for r in rows] == [True] * 7
    # regression's gain only 5x TD(0)'s: the Fig. 3-4 row leaves the band; TD(0) more interfering: row 2 too
    values[1.0] = {**values[1.0], "loss_difference_near": 5e-5, "function_interference": 0.5}
    rows = claims(settings, aggregate(settings, _fake_runs(settings, values)))
    assert [r["in_band"] for r in rows][:2] == [False, False]
    summary = {"quick": True, "settings": asdict(settings), "mean_train_transitions": 100.0, "wall_time_s": 1.0,
               "aggregate": agg, "claims": claims(settings, agg)}  # fmt: skip
    report = report_text(summary)
    table = [line for line in report.splitlines() if line.startswith("| ") and "(band:" in line]
    assert len(table) == 7 and all(line.count(" | ") == 2 for line in table)  # 3 cells: no stray '|'
    assert "Quick run: 2 seeds" in report
    assert plot_lambda_summary(settings, runs, agg, tmp_path).stat().st_size > 0


def test_cli_refuses_one_seed_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rayenvs.cli import main

    assert main(["reproduce", "td-interference", "--seeds", "1", "--out", str(tmp_path / "out")]) == 2
    assert "seeds=1" in capsys.readouterr().err and not (tmp_path / "out").exists()
