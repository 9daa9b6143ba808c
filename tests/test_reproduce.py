"""``rayenvs reproduce``: tiny configurations of both experiments, their reports, and flag validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from baselines.experiments.ppo_collapse import PPOConfig, reproduce_ppo_collapse
from baselines.experiments.ppo_collapse_report import BASE_PANELS, CAPACITY_PANEL
from baselines.experiments.ppo_collapse_report import mean_series as _mean_series
from baselines.experiments.ray_bandit import ABLATIONS, reproduce_ray_bandit
from baselines.training.results import Curve, RunResult
from rayenvs.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG_MAGIC


@pytest.fixture(scope="module")
def bandit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("ray-bandit")
    summary = reproduce_ray_bandit(
        out, seeds=60, max_samples=20_000, contexts=(2, 4), progress=False, closed_form_size=(24, 9),
        arms=(2, 4), step_sizes=(0.3,), adam_lrs=(0.01,),
    )  # fmt: skip
    return out, summary


def test_ray_bandit_writes_every_figure_and_report(bandit: tuple[Path, dict]) -> None:
    out, summary = bandit
    names = {
        "fig1_flow.png",
        "fig1_flow_tabular.png",
        "fig1_flow_uniform.png",
        "fig1_flow_supervised.png",
        "fig3_plateau_likelihood.png",
        "fig4_scaling.png",
        # the issue asked for the missing figures: Figs. 2, 5, 6 and 8 from the exact flow
        "fig2_structure.png",
        "fig5_basins.png",
        "fig6_coupling.png",
        "fig8_eps_vs_time.png",
        # Figs. 7 and 9 and the start-recipe calibration (ray_bandit_grid)
        "fig7_grid.png",
        "fig9_optim.png",
        "fig3_init_recipes.png",
    }
    for name in names:
        assert _is_png(out / name), name
    assert {Path(f).name for f in summary["files"]} == names | {"report.md", "summary.json"}
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["modes"] == summary["modes"]
    assert set(summary["modes"]) == {"on-policy", *ABLATIONS}
    assert set(summary["scaling"]) == {"2", "4"}
    assert all(s["seeds"] == 60 for s in summary["modes"].values())
    # the on-policy K = 2 run is shared by Figure 3 and Figure 4
    assert summary["scaling"]["2"] == summary["modes"]["on-policy"]


def test_ray_bandit_on_policy_plateaus_more_than_ablations(bandit: tuple[Path, dict]) -> None:
    _, summary = bandit
    modes = summary["modes"]
    on = modes["on-policy"]
    assert on["p_slowest_le_eps"] >= 0.1  # the paper: ~20% at eps <= 1e-5
    for mode in ABLATIONS:
        assert modes[mode]["p_slowest_le_eps"] < on["p_slowest_le_eps"] / 3, mode
        assert modes[mode]["plateaus_per_run"] < on["plateaus_per_run"], mode
        assert modes[mode]["solved_frac"] == 1.0, mode
    assert modes["uniform"]["p_plateau_le_eps"] == 0.0
    assert modes["supervised"]["p_plateau_le_eps"] == 0.0


def test_ray_bandit_report_states_the_summary_numbers(bandit: tuple[Path, dict]) -> None:
    out, summary = bandit
    report = (out / "report.md").read_text()
    on, tab = summary["modes"]["on-policy"], summary["modes"]["tabular"]
    assert f"| on-policy | {on['solved_frac']:.1%} |" in report
    assert (
        f"| {on['p_slowest_le_eps']:.1%} | {on['p_plateau_le_eps']:.1%} | {on['plateaus_per_run']:.2f} |"
        in report
    )
    assert f"| tabular | {tab['solved_frac']:.1%} | {tab['median_samples_solved']:.0f} |" in report
    k4 = summary["scaling"]["4"]
    assert f"| 4 | {k4['solved_frac']:.1%} |" in report
    assert "60 seeds per setting, at most 20000 samples" in report
    assert "| paper claim | ours | in band? |" in report
    for claim in summary["claims"]:
        assert f"| {claim['claim']} | {claim['ours']} | {'yes' if claim['in_band'] else 'no'} |" in report
    assert summary["closed_form"]["fig6"] == {"on-policy": 0.0, "supervised": 1.0, "mixed": 0.05}


def test_ray_bandit_grid_optimizers_and_recipes(bandit: tuple[Path, dict]) -> None:
    from baselines.experiments.ray_bandit_grid import log_ratio_se, recipe_distance

    out, summary = bandit
    sweeps, on = summary["sweeps"], summary["modes"]["on-policy"]
    fig7 = sweeps["fig7"]
    assert list(fig7) == ["2,2", "2,4", "4,4"]  # n >= K only, sorted by K then n
    # the K = n cells, SGD at lr 0.1 and the default recipe reuse the main on-policy runs
    assert fig7["2,2"]["p_slowest_smoothed_le_eps"] == on["p_slowest_smoothed_le_eps"]
    assert fig7["4,4"]["solved_frac"] == summary["scaling"]["4"]["solved_frac"]
    assert sweeps["fig9"]["step_sizes"]["0.1"]["p_slowest_le_eps"] == on["p_slowest_le_eps"]
    assert sweeps["recipes"]["angle"]["p_slowest_le_eps"] == on["p_slowest_le_eps"]
    assert list(sweeps["fig9"]["step_sizes"]) == ["0.1", "0.3"]
    assert list(sweeps["fig9"]["optimizers"]) == ["SGD lr 0.1", "Adam lr 0.01"]
    # Fig. 7's ordering on this seed: more arms is easier, K = n = 4 is harder than K = n = 2
    assert fig7["2,4"]["median_samples"] < fig7["2,2"]["median_samples"] < fig7["4,4"]["median_samples"]
    table = sweeps["recipe_table"]
    assert set(table) == {"angle", "simplex", "logit-sphere"} and sweeps["recipe_default"] == "angle"
    for name, row in table.items():
        assert row["distance"] == recipe_distance(row["fig3_learners"], row["fig5_flow"])
        assert row["fig5_flow"] == summary["closed_form"]["by_recipe"][name]["fig5"]
    assert table[sweeps["recipe_closest"]]["distance"] == min(r["distance"] for r in table.values())
    seeds = sweeps["recipes"]["angle"]["seeds"]
    assert seeds == 60 and sweeps["recipe_tolerance"] == 2 * log_ratio_se(table["angle"]["fig3_learners"], seeds)
    assert table["angle"]["fig5_flow"] == summary["closed_form"]["fig5"]["0.2"]["p_at_eps_10x"]
    claims = [c["claim"] for c in summary["claims"]]
    for prefix in ("Fig. 7: K < n", "Fig. 7 / App. A", "Fig. 9 (left", "Fig. 9 (right", "The start recipe"):
        assert sum(c.startswith(prefix) for c in claims) == 1, prefix
    report = (out / "report.md").read_text()
    assert "| 2 | 4 | " in report and "| Adam lr 0.01 | " in report and "| angle (default) | " in report


def test_ray_bandit_grid_cells_and_recipe_distance() -> None:
    from baselines.experiments.ray_bandit_grid import grid_cells, log_ratio_se, recipe_distance

    assert grid_cells((4, 2), (16, 2, 4)) == [(2, 2), (2, 4), (2, 16), (4, 4), (4, 16)]
    assert recipe_distance(0.2, 0.5) == 0.0
    assert recipe_distance(0.4, 0.5) == pytest.approx(np.log(2))
    assert recipe_distance(0.2, 0.125) == pytest.approx(np.log(4))  # the larger miss counts
    assert recipe_distance(0.0, 0.5) == np.inf
    assert log_ratio_se(0.2, 1000) == pytest.approx(np.sqrt(0.8 / 200))
    assert log_ratio_se(0.0, 1000) == np.inf


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"arms": (1, 4)}, "arms="),
        ({"step_sizes": (0.0,)}, "step_sizes="),
        ({"adam_lrs": (20.0,)}, "adam_lrs="),
        ({"init_recipe": "gauss"}, "init_recipe='gauss'"),
        ({"seeds": 1}, "seeds=1"),
        ({"contexts": (2, 1)}, "contexts="),
        ({"max_samples": 50}, "max_samples=50"),
        ({"device": "tpu"}, "device='tpu'"),
    ],
)
def test_ray_bandit_bad_arguments_fail_before_writing(tmp_path: Path, kwargs: dict, match: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=match):
        reproduce_ray_bandit(out, progress=False, **kwargs)
    assert not out.exists()


def test_cli_bad_flags_exit_2_before_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "atari-collapse", "--out", str(out)])
    assert exc.value.code == 2
    assert main(["reproduce", "ray-bandit", "--seeds", "0", "--out", str(out)]) == 2
    assert "--seeds 0 must be >= 1" in capsys.readouterr().err
    assert main(["reproduce", "ppo-collapse", "--quick", "--device", "tpu", "--out", str(out)]) == 2
    assert "device='tpu'" in capsys.readouterr().err
    assert not out.exists()
    (tmp_path / "file").write_text("x")
    assert main(["reproduce", "ray-bandit", "--quick", "--out", str(tmp_path / "file")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def _run(steps: list[int], returns: list[float], metric: list[tuple[int, float]]) -> RunResult:
    curve = Curve(steps=steps, returns=[[r] for r in returns], component_returns=[[[r]] for r in returns])
    return RunResult(
        env_id="rayenvs/MuJoCo-Hopper-v0",
        algo="ppo",
        variant="baseline",
        seed=0,
        component_names=["c"],
        total_timesteps=steps[-1],
        eval=curve,
        metrics={"repr/actor/pca_rank": metric},
        wall_time_s=0.0,
    )


def test_mean_series_averages_seeds_on_the_first_seeds_steps() -> None:
    a = _run([0, 10, 20], [0.0, 1.0, 2.0], [(10, 4.0), (20, 6.0)])
    b = _run([0, 20], [2.0, 4.0], [(10, 8.0), (20, 10.0)])
    x, y = _mean_series([a, b], "return")
    np.testing.assert_array_equal(x, [0, 10, 20])
    np.testing.assert_allclose(y, [1.0, 2.0, 3.0])  # b interpolated to 3.0 at step 10
    x, y = _mean_series([a, b], "repr/actor/pca_rank")
    np.testing.assert_allclose(y, [6.0, 8.0])
    x, y = _mean_series([a, b], "trust/excess_ratio")
    assert x.size == 0 and y.size == 0


def test_ppo_collapse_tiny_run_plots_all_five_series(tmp_path: Path) -> None:
    configs = (
        PPOConfig("ppo-epochs20", "baseline", {"n_epochs": 2}),  # the labels of the setting's roles
        PPOConfig("pfo-last-epochs20", "pfo-last", {"n_epochs": 6}),
    )
    kwargs = dict(
        setting="hopper",
        timesteps=768,
        seeds=1,  # the full run's default is the paper's five
        configs=configs,
        overrides={"n_steps": 128, "batch_size": 64},
        eval_episodes=1,
        device="cpu",
        progress=False,
    )
    summary = reproduce_ppo_collapse(tmp_path, **kwargs)
    assert _is_png(tmp_path / "ppo_collapse.png")
    assert summary["timesteps"] == 768
    assert set(summary["configs"]) == {"ppo-epochs20", "pfo-last-epochs20"}
    for label, stats in summary["configs"].items():
        assert stats["collapsed_runs"] in (0, 1)
        for key, _, _ in (*BASE_PANELS, CAPACITY_PANEL):
            assert stats[key]["points"] >= 2, (label, key)
            assert stats[key]["final"] is not None, (label, key)
        assert 1 <= stats["repr/actor/pca_rank"]["final"] <= 64
        assert 0.0 <= stats["repr/actor/dead_frac"]["final"] <= 1.0
        assert stats["trust/excess_ratio"]["final"] > 0
    assert summary["configs"]["pfo-last-epochs20"]["overrides"] == {
        "n_steps": 128,
        "batch_size": 64,
        "n_epochs": 6,
    }
    report = (tmp_path / "report.md").read_text()
    assert "| ppo-epochs20 | baseline |" in report and "| pfo-last-epochs20 | pfo-last |" in report
    assert (tmp_path / "runs" / "hopper" / "pfo-last-epochs20" / "seed_0" / "results.json").is_file()
    # only the roles of the trained configurations are judged: collapse, representation, PFO, excess ratio
    assert summary["roles"] == {"baseline": "ppo-epochs20", "pfo": "pfo-last-epochs20"}
    assert len(summary["claims"]) == 4 and "| paper claim | ours | in band? |" in report
    # a second call reuses the finished runs: same numbers, no retraining
    again = reproduce_ppo_collapse(tmp_path, **kwargs)
    assert again["configs"] == summary["configs"]


def test_exact_slowest_progress_is_the_learner_rate_away_from_start_and_optimum() -> None:
    from types import SimpleNamespace

    from baselines.experiments.ray_bandit import exact_slowest_progress

    J = np.array([[[0.1, 0.1], [0.1, 0.1]], [[0.2, 0.8], [0.2, 0.8]], [[0.95, 0.95], [0.95, 0.95]]])
    res = SimpleNamespace(J=J, updates=np.array([0, 10, 20]), stop_update=np.array([20, 0]),
                          config={"num_arms": 2, "hidden": [], "optimizer": "sgd"})  # fmt: skip
    slow = exact_slowest_progress(res, "on-policy")
    # row 1 is 44% of the way: |grad J|^2 of the full W, b = 2 * 2 * 0.2^2 * 0.8^2; row 2 is 94% of the way
    assert slow[0] == pytest.approx(0.1024, rel=1e-12)
    assert slow[1] == np.inf  # stopped at its start: no row away from it
    assert exact_slowest_progress(res, "separate")[0] == pytest.approx(4 * 2 * 0.16**2, rel=1e-12)
    res.config["num_arms"] = 3
    with pytest.raises(ValueError, match="num_arms=3"):
        exact_slowest_progress(res, "on-policy")
