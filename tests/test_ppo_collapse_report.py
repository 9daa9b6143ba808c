"""``reproduce ppo-collapse``'s settings, statistics, claim table and option checks, on synthetic runs (fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.common import metric_keys
from baselines.experiments.ppo_collapse import SETTINGS, check_setting, reproduce_ppo_collapse
from baselines.experiments.ppo_collapse_report import (
    BASE_PANELS,
    RETURN_KEY,
    claims,
    plot_variants,
    report_text,
    seed_curves,
    series_stats,
)
from baselines.training.results import Curve, RunResult
from rayenvs.cli import main

RANK, DEAD, NORM, EXC = (metric_keys.PCA_RANK, metric_keys.DEAD_FRAC, metric_keys.PREACT_NORM,
                         metric_keys.EXCESS_RATIO)  # fmt: skip


def _run(returns: list[float], metrics: dict[str, list[float]], steps: list[int] | None = None) -> RunResult:
    steps = steps or [1000 * i for i in range(len(returns))]
    curve = Curve(steps=steps, returns=[[r] for r in returns], component_returns=[[[r]] for r in returns])
    return RunResult(
        env_id="rayenvs/MultiRoom-R2-v0", algo="ppo", variant="baseline", seed=0, component_names=["c"],
        total_timesteps=steps[-1], eval=curve, train=curve,
        metrics={k: list(zip(steps, v, strict=True)) for k, v in metrics.items()}, wall_time_s=0.0,
    )  # fmt: skip


def test_seed_curves_interpolate_on_the_first_seed_and_stats_use_the_last_tenth() -> None:
    a = _run([0.0, 1.0, 2.0], {RANK: [4.0, 6.0, 8.0]})
    b = _run([2.0, 4.0], {RANK: [8.0, 10.0]}, steps=[0, 2000])
    x, ys = seed_curves([a, b], RETURN_KEY)
    np.testing.assert_array_equal(x, [0, 1000, 2000])
    np.testing.assert_allclose(ys, [[0, 1, 2], [2, 3, 4]])  # b interpolated to 3.0 at step 1000
    st = series_stats([a, b], RANK)
    # seed mean [6, 8, 9]: the last 10% of 3 points is the last point
    assert st == {"points": 3, "first": 6.0, "final": 9.0, "min": 6.0, "max": 9.0}
    empty = series_stats([a, b], EXC)
    assert empty == {"points": 0, "first": None, "final": None, "min": None, "max": None}
    long = _run([0.0] * 20, {NORM: list(np.arange(20.0))})
    assert series_stats([long], NORM)["final"] == 18.5  # mean of the last 2 of 20 points


def _stats(first: dict[str, float], final: dict[str, float], peak: float, collapsed: int) -> dict:
    out = {"variant": "v", "seeds": 3, "collapsed_runs": collapsed}
    for key in (RETURN_KEY, RANK, DEAD, NORM, EXC):
        out[key] = {"first": first.get(key), "final": final.get(key), "min": None, "max": None, "points": 9}
    out[RETURN_KEY]["max"] = peak
    return out


def _summary() -> dict:
    start = {RETURN_KEY: 0.1, RANK: 25.0, DEAD: 0.05, NORM: 6.0, EXC: 2.0}
    return {
        "roles": {"baseline": "b", "pfo": "p", "shared_trunk": "s", "adam_reset": "a"},
        "reward_kind": "sparse",
        "configs": {
            "b": _stats(start, {RETURN_KEY: 0.2, RANK: 7.0, DEAD: 0.64, NORM: 201.0, EXC: 9.0}, 0.95, 2),
            "p": _stats(start, {RETURN_KEY: 0.9, RANK: 24.0, DEAD: 0.1, NORM: 6.0, EXC: 3.0}, 0.95, 0),
            "s": _stats(start, {RETURN_KEY: 0.1, RANK: 3.0, DEAD: 0.7, NORM: 300.0, EXC: 12.0}, 0.9, 3),
            "a": _stats(start, {RETURN_KEY: 0.3, RANK: 9.0, DEAD: 0.6, NORM: 150.0, EXC: 7.0}, 0.9, 2),
        },
    }


def test_claims_read_the_summary_numbers_and_judge_each_direction() -> None:
    rows = claims(_summary())
    assert [r[2] for r in rows] == ["yes"] * 6
    assert rows[0][1] == (
        "`b`: 2/3 seeds collapsed (detector); seed-mean training return peak 0.95, final 0.2"
    )
    assert rows[1][1] == "baseline first → final: rank 25 → 7, dead 0.05 → 0.64, norm 6 → 201"
    assert rows[3][1] == "final excess ratio baseline 9 vs PFO 3"


def test_claims_say_no_or_partly_where_ours_disagrees() -> None:
    s = _summary()
    s["configs"]["b"]["collapsed_runs"] = 1  # 1/3 is not a collapse of the baseline
    s["configs"]["b"][RANK]["final"] = 30.0  # rank went up: 2 of the 3 signals moved
    s["configs"]["p"][NORM]["final"] = 250.0  # PFO's norm above the baseline's
    s["configs"]["s"][RETURN_KEY]["final"] = 0.5  # shared trunk better than baseline under sparse reward
    rows = {r[0].split(":")[0].split(",")[0]: r[2] for r in claims(s)}
    assert rows["Baseline PPO collapses"] == "no"
    assert rows["The collapse comes with a degrading representation"] == "partly (2/3)"
    assert rows["PFO keeps the representation (norm"] == "no"
    assert rows["A shared actor-critic trunk lowers the feature rank"] == "partly (rank only)"
    s["configs"]["a"][NORM]["final"] = 250.0  # Adam reset: norm above the baseline's 201, rank above its 30
    s["configs"]["a"][RANK]["final"] = 40.0
    rows = {r[0].split(",")[0]: r[2] for r in claims(s)}
    assert rows["Resetting Adam lowers the feature norm and raises the rank"] == "partly (rank only)"
    s["configs"]["a"][RANK]["final"] = 1.0
    rows = {r[0].split(",")[0]: r[2] for r in claims(s)}
    assert rows["Resetting Adam lowers the feature norm and raises the rank"] == "no"


def test_claims_leave_out_what_the_run_did_not_train() -> None:
    s = _summary()
    s["roles"] = {"baseline": "b"}
    assert len(claims(s)) == 2
    s["roles"]["fewer_epochs"] = "p"  # an epochs grid adds the epochs claim
    assert claims(s)[2][0].startswith("More epochs per rollout")
    assert claims(s)[2][2] == "yes"


def test_report_has_the_claim_table_and_one_row_per_configuration() -> None:
    s = _summary()
    s.update(quick=True, setting="cheap", timesteps=8192, seeds=3, env_id="rayenvs/MultiRoom-R2-v0",
             wall_time_s=12.0, train_time_s=600.0, runs_dir="runs-quick/cheap")  # fmt: skip
    s["claims"] = [{"claim": c, "ours": o, "in_band": b} for c, o, b in claims(s)]
    text = report_text(s, "DESCRIPTION", "TRIED")
    assert "| paper claim | ours | in band? |" in text
    for c in s["claims"]:
        assert f"| {c['claim']} | {c['ours']} | {c['in_band']} |" in text
    assert "| b | v | 0.95 → 0.2 | 25 → 7 | 0.05 → 0.64 | 6 → 201 | 9 | n/a → n/a | 2/3 |" in text
    assert "DESCRIPTION" in text and "TRIED" in text and "Quick run: 8192 env steps" in text
    assert "12.0 s wall time for this call, 600 s of training summed over the runs" in text


def test_plot_variants_writes_a_png(tmp_path: Path) -> None:
    runs = {"b": [_run([0.1, 0.9, 0.2], {RANK: [9, 5, 2]}), _run([0.2, 0.8, 0.3], {RANK: [8, 6, 1]})]}
    path = plot_variants(runs, BASE_PANELS, tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the changing-target figure: phase boundaries and the uniform-random return drawn on top
    path = plot_variants(runs, BASE_PANELS, tmp_path / "g.png", phase_steps=1000, random_return=0.34)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_settings_name_their_roles_among_their_configs() -> None:
    for st in SETTINGS.values():
        labels = {c.label for c in st.configs}
        assert set(st.roles.values()) <= labels, st.name
        assert st.quick_labels is None or set(st.quick_labels) <= labels
        assert st.roles["baseline"] in (st.quick_labels or labels)
    assert check_setting("hopper").env_id == "rayenvs/MuJoCo-Hopper-v0"
    with pytest.raises(ValueError, match=r"setting 'atari' is not one of \('cheap', 'hopper', 'permuted'\)"):
        check_setting("atari")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"setting": "walker"}, r"setting 'walker' is not one of \('cheap', 'hopper', 'permuted'\)"),
        ({"seeds": 0}, "seeds"),
        ({"timesteps": -5}, "timesteps"),
        ({"configs": ()}, "configs must be non-empty"),
    ],
)
def test_bad_arguments_fail_before_writing(tmp_path: Path, kwargs: dict, match: str) -> None:
    out = tmp_path / "never"
    with pytest.raises(ValueError, match=match):
        reproduce_ppo_collapse(out, progress=False, device="cpu", **kwargs)
    assert not out.exists()


def test_cli_setting_is_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "never"
    assert main(["reproduce", "ppo-collapse", "--setting", "walker", "--out", str(out)]) == 2
    assert "setting 'walker' is not one of ('cheap', 'hopper', 'permuted')" in capsys.readouterr().err
    assert main(["reproduce", "ray-bandit", "--setting", "cheap", "--out", str(out)]) == 2
    assert "--setting applies to ppo-collapse only, not to 'ray-bandit'" in capsys.readouterr().err
    assert not out.exists()


def test_hopper_sweep_files_cover_the_setting_at_the_paper_budget() -> None:
    from baselines.experiments.ppo_collapse import HOPPER, SWEEP_DIR
    from baselines.sweeps.sweep import load_sweep

    specs = [load_sweep(p) for p in sorted(SWEEP_DIR.glob("ppo-collapse-hopper-e*.yaml"))]
    pairs = {(v, s.overrides["n_epochs"]) for s in specs for v in s.variants}
    assert pairs == {(c.variant, c.overrides["n_epochs"]) for c in HOPPER.configs}
    for s in specs:
        assert s.envs == [HOPPER.env_id] and s.seeds == list(range(HOPPER.full_seeds))
        assert s.timesteps == 5_000_000 and set(s.overrides) == {"n_epochs"}


def test_log_axis_minor_labels_only_at_2_3_5() -> None:
    from baselines.experiments.ppo_collapse_report import _sparse_log_label

    assert [_sparse_log_label(v, 0) for v in (2.0, 3.0, 4.0, 5.0, 7.0, 20.0, 30.0, 90.0, 0.5, 0.0)] == [
        "2", "3", "", "5", "", "20", "30", "", "0.5", "",
    ]  # fmt: skip


def test_spearman_ranks_with_ties_and_refuses_too_few_or_constant() -> None:
    from baselines.experiments.ppo_collapse_report import spearman

    assert spearman([1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 400.0]) == pytest.approx(1.0)
    assert spearman([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    # ties share the mean rank: x ranks [0, 1.5, 1.5, 3], y ranks [0, 1, 2, 3] -> r = 0.9486833
    assert spearman([1.0, 2.0, 2.0, 5.0], [1.0, 2.0, 3.0, 4.0]) == pytest.approx(0.9486833, abs=1e-7)
    assert spearman([1.0, 2.0], [1.0, 2.0]) is None
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_correlation_claim_pools_every_runs_finals() -> None:
    s = _summary()
    s["configs"]["b"]["seed_finals"] = {
        NORM: [200.0, 150.0, None],
        EXC: [9.0, 8.0, 7.0],
        RANK: [7.0, 8.0, 9.0],
    }
    s["configs"]["p"]["seed_finals"] = {NORM: [6.0, 7.0, 5.0], EXC: [3.0, 4.0, 2.0], RANK: [24.0, 20.0, 25.0]}
    row = next(r for r in claims(s) if r[0].startswith("Across runs"))
    # 5 runs with a norm (the None is left out): its ranks agree with the excess ratio's; rank vs it over all 6
    assert row[1] == (
        "Spearman correlation of the runs' final values over 5 runs: norm vs excess ratio 1.00, "
        "PCA rank vs excess ratio -1.00"
    )
    assert row[2] == "yes"
    s["configs"]["p"]["seed_finals"][RANK] = [
        1.0,
        2.0,
        3.0,
    ]  # low rank with low excess ratio: against the paper
    row = next(r for r in claims(s) if r[0].startswith("Across runs"))
    assert row[2] == "partly (norm only)"
