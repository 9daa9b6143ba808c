"""``rayenvs analyze``: plateaus and collapse from synthetic results.json files built with RunResult."""

from __future__ import annotations

import json

import numpy as np
import pytest

from baselines.diagnostics.analysis import (
    ANALYSIS_FILE,
    analyze_path,
    analyze_result,
    component_means,
    find_results,
)
from baselines.training.results import Curve, RunResult
from rayenvs.cli import main

ENV = "rayenvs/Bandit-K2n2-v0"


def _sigmoid(t: np.ndarray, mid: float, width: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-(t - mid) / width))


def _result(j1: np.ndarray, j2: np.ndarray, metrics: dict | None = None, seed: int = 0) -> RunResult:
    """Bandit-like run: 2 episodes per point, component k's mean return is J_k / 2 (context k half the time)."""
    steps = [int(s) for s in np.arange(len(j1)) * 1000]
    rets, comps = [], []
    for a, b in zip(j1, j2, strict=True):
        comps.append([[float(a), 0.0], [0.0, float(b)]])
        rets.append([float(a), float(b)])
    curve = Curve(steps=steps, returns=rets, component_returns=comps, episodes_per_point=2)
    return RunResult(
        env_id=ENV,
        algo="ppo",
        variant="baseline",
        seed=seed,
        component_names=["context_0", "context_1"],
        total_timesteps=steps[-1],
        eval=curve,
        metrics=metrics or {},
        wall_time_s=1.0,
    )


def _plateau_run() -> RunResult:
    """Context 0 is learnt first; context 1 only much later: the total sits at ~0.5 in between."""
    t = np.arange(200, dtype=np.float64)
    return _result(_sigmoid(t, 20, 3), _sigmoid(t, 150, 3))


def test_component_means():
    m = component_means(_plateau_run().eval, 2)
    assert m.shape == (200, 2)
    np.testing.assert_allclose(m[:, 0], _sigmoid(np.arange(200.0), 20, 3) / 2)


def test_analyze_finds_the_plateau_between_the_two_contexts():
    a = analyze_result(_plateau_run())
    assert a["optimum"] == 1.0 and a["optimum_source"] == "catalog"
    total = a["plateaus"]["total"]
    assert total["count"] == 1
    (plateau,) = total["plateaus"]
    assert 25_000 <= plateau["start_step"] and plateau["end_step"] <= 150_000
    assert plateau["lead_in_improving"] == [0] and plateau["improving"] == []  # context 0 won the first stage
    # Each component alone rises once from its start to its optimum (0.5 = 1 / K): no plateau of its own.
    assert {n: r["count"] for n, r in a["plateaus"]["components"].items()} == {"context_0": 0, "context_1": 0}
    assert a["plateaus"]["components"]["context_0"]["optimum"] == 0.5
    assert not a["collapse"]["collapsed"] and a["collapse"]["step"] is None
    json.dumps(a, allow_nan=False)


def test_single_point_and_repeated_steps():
    one = analyze_result(_result(np.array([0.5]), np.array([0.5])))
    assert one["plateaus"]["total"]["skipped"].startswith("1 distinct")
    run = _plateau_run()
    run.eval.steps[1] = run.eval.steps[0]  # repeated step: averaged, not rejected
    assert analyze_result(run)["plateaus"]["total"]["count"] == 1


def test_analyze_reports_collapse_with_representation_metrics():
    t = np.arange(60, dtype=np.float64)
    j = _sigmoid(t, 10, 2)
    j[40:] = 0.05
    steps = [int(s) for s in t * 1000]
    metrics = {
        "repr/actor/pca_rank": [(s, 40.0 if s < 38_000 else 1.0) for s in steps],
        "repr/actor/dead_frac": [(s, 0.0) for s in steps],
    }
    a = analyze_result(_result(j, j, metrics))
    assert a["collapse"]["collapsed"] and a["collapse"]["step"] == 40_000
    assert a["collapse"]["signals"] == ["pca_rank", "return"]


def test_analyze_path_writes_next_to_results_or_to_out(tmp_path):
    run = tmp_path / "runs" / "r0"
    _plateau_run().save(run)
    analysis, written = analyze_path(run / "results.json")
    assert written == run / ANALYSIS_FILE
    assert (
        json.loads(written.read_text())["plateaus"]["total"]["count"]
        == analysis["plateaus"]["total"]["count"]
    )
    _, elsewhere = analyze_path(run / "results.json", tmp_path / "out")
    assert elsewhere == tmp_path / "out" / f"r0.{ANALYSIS_FILE}"


def test_find_results_accepts_files_run_dirs_and_parents(tmp_path):
    for name in ("a", "b"):
        _plateau_run().save(tmp_path / "sweep" / name)
    assert len(find_results([tmp_path / "sweep"])) == 2
    assert find_results([tmp_path / "sweep" / "a"]) == [tmp_path / "sweep" / "a" / "results.json"]
    with pytest.raises(ValueError, match="neither"):
        find_results([tmp_path / "missing"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no results.json"):
        find_results([tmp_path / "empty"])


def test_cli_analyze(tmp_path, capsys):
    _plateau_run().save(tmp_path / "r0")
    _plateau_run().save(tmp_path / "r1")
    assert main(["analyze", str(tmp_path / "r0"), str(tmp_path / "r1")]) == 0
    out = capsys.readouterr().out
    assert "rayenvs analyze" in out and ENV in out
    assert (tmp_path / "r0" / ANALYSIS_FILE).is_file() and (tmp_path / "r1" / ANALYSIS_FILE).is_file()
    assert main(["analyze", str(tmp_path / "nope")]) == 2
    assert "neither a results file" in capsys.readouterr().err


def test_cli_out_dir_and_name_clash(tmp_path, capsys):
    _plateau_run().save(tmp_path / "a" / "run")
    _plateau_run().save(tmp_path / "b" / "run")
    assert main(["analyze", str(tmp_path / "a" / "run"), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / f"run.{ANALYSIS_FILE}").is_file()
    assert not (tmp_path / "a" / "run" / ANALYSIS_FILE).exists()
    assert main(["analyze", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "out2")]) == 2
    assert "twice" in capsys.readouterr().err
