"""The results.json schema: what training writes and everything else reads."""

import json

import pytest
from pydantic import ValidationError

from baselines.training.results import Curve, RunResult, library_versions


def _result(**overrides):
    data = dict(
        env_id="rayenvs/Bandit-K2n2-v0",
        algo="ppo",
        variant="baseline",
        seed=0,
        component_names=["context_0", "context_1"],
        total_timesteps=100,
        eval=Curve(steps=[0, 100], returns=[[0.0, 1.0], [1.0, 1.0]],
                   component_returns=[[[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]]),
        wall_time_s=1.5,
    )
    data.update(overrides)
    return RunResult(**data)


def test_round_trip_atomic(tmp_path):
    r = _result(metrics={"repr/actor/pca_rank": [(0, 12.0), (100, 3.0)]})
    path = r.save(tmp_path)
    assert path.name == "results.json"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temp file left behind
    assert RunResult.load(tmp_path) == r
    assert json.loads(path.read_text())["schema_version"] == 1


def test_rejects_unversioned_id_and_mismatched_curves():
    with pytest.raises(ValidationError, match="no -vN version"):
        _result(env_id="rayenvs/Bandit-K2n2")
    with pytest.raises(ValidationError, match="curve lengths differ"):
        Curve(steps=[0, 1], returns=[[0.0]], component_returns=[[[0.0]]])
    with pytest.raises(ValidationError, match="non-decreasing"):
        Curve(steps=[5, 1], returns=[[0.0], [0.0]], component_returns=[[[0.0]], [[0.0]]])
    with pytest.raises(ValidationError, match="non-finite"):
        Curve(steps=[0], returns=[[float("nan")]], component_returns=[[[0.0]]])


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(ValueError, match="no results.json"):
        RunResult.load(tmp_path)
    (tmp_path / "results.json").write_text("{broken")
    with pytest.raises(ValueError, match="not valid JSON"):
        RunResult.load(tmp_path)


def test_versions_name_the_core_libraries():
    v = library_versions()
    assert {"python", "gymnasium", "numpy", "torch", "stable-baselines3"} <= v.keys()


def test_component_present_conditions_component_means():
    # Two episodes per point; each started in one room, so only that room could pay.
    curve = Curve(
        steps=[0, 10],
        returns=[[1.0, 0.0], [1.0, 1.0]],
        component_returns=[[[1.0, 0.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 1.0]]],
        component_present=[[[True, False], [False, True]], [[True, False], [False, True]]],
    )
    assert curve.mean_component_returns(present_only=True) == [[1.0, 0.0], [1.0, 1.0]]
    assert curve.mean_component_returns(present_only=False) == [[0.5, 0.0], [0.5, 0.5]]
    never = Curve(steps=[0], returns=[[0.0]], component_returns=[[[0.0, 0.0]]],
                  component_present=[[[True, False]]])
    assert never.mean_component_returns()[0][0] == 0.0
    assert never.mean_component_returns()[0][1] != never.mean_component_returns()[0][1]  # NaN: never present


def test_component_present_must_match_the_returns():
    with pytest.raises(ValidationError, match="curve lengths differ"):
        Curve(steps=[0], returns=[[0.0]], component_returns=[[[0.0, 0.0]]], component_present=[])
    with pytest.raises(ValidationError, match="does not match component_returns"):
        Curve(steps=[0], returns=[[0.0]], component_returns=[[[0.0, 0.0]]], component_present=[[[True]]])
