"""The component contract's helpers: ComponentTracker bookkeeping and check_component_info's rules."""

from __future__ import annotations

import numpy as np
import pytest

from rayenvs.contract import ComponentTracker, check_component_info, one_hot_reward


def _info(rewards, component=0, returns=None, present=None) -> dict:
    info = {"component_rewards": np.asarray(rewards, dtype=np.float64), "component": component}
    if returns is not None:
        info["component_returns"] = np.asarray(returns, dtype=np.float64)
    if present is not None:
        info["component_present"] = np.asarray(present, dtype=bool)
    return info


def test_tracker_every_step_emits_running_sums() -> None:
    tracker = ComponentTracker(3, every_step=True)
    tracker.reset(present=[True, False, True])
    a = tracker.step_info(np.array([1.0, 0.0, 0.5]), 0, done=False)
    b = tracker.step_info(np.array([0.0, 0.0, 2.0]), 2, done=False, info={"other": 1})
    c = tracker.step_info(np.array([-1.0, 0.0, 0.0]), -1, done=True)
    assert a["component_returns"].tolist() == [1.0, 0.0, 0.5]
    assert b["component_returns"].tolist() == [1.0, 0.0, 2.5] and b["other"] == 1
    assert c["component_returns"].tolist() == [0.0, 0.0, 2.5] and c["component"] == -1
    for info in (a, b, c):
        assert info["component_present"].tolist() == [True, False, True]
    # Each step owns its arrays: later steps do not rewrite earlier infos.
    assert a["component_returns"] is not b["component_returns"]
    assert a["component_present"] is not b["component_present"]
    tracker.reset()
    d = tracker.step_info(np.zeros(3), 1, done=True)
    assert d["component_returns"].tolist() == [0.0, 0.0, 0.0] and d["component_present"].all()


def test_tracker_default_emits_episode_keys_on_last_step_only() -> None:
    tracker = ComponentTracker(2)
    tracker.reset()
    first = tracker.step_info(np.array([1.0, 0.0]), 0, done=False)
    assert set(first) == {"component_rewards", "component"}
    last = tracker.step_info(np.array([0.0, 3.0]), 1, done=True)
    assert last["component_returns"].tolist() == [1.0, 3.0]
    assert last["component_present"].tolist() == [True, True]


def test_tracker_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_components=0"):
        ComponentTracker(0)
    with pytest.raises(ValueError, match=r"present has shape \(3,\), expected \(2,\)"):
        ComponentTracker(2).reset(present=[True, False, True])


def test_one_hot_reward() -> None:
    assert one_hot_reward(3, 1, 2.5).tolist() == [0.0, 2.5, 0.0]
    assert one_hot_reward(3, -1, 2.5).tolist() == [0.0, 0.0, 0.0]


def test_check_accepts_well_formed_infos() -> None:
    check_component_info(_info([0.5, 0.5]), 1.0, 2, done=False)  # episode keys optional mid-episode
    check_component_info(_info([0.5, 0.5], 1, [1.0, 0.5], [True, True]), 1.0, 2, done=False)
    check_component_info(_info([0.0, 1.0], -1, [0.0, 1.0], [False, True]), 1.0, 2, done=True)


@pytest.mark.parametrize(
    ("info", "reward", "done"),
    [
        (_info([0.5, 0.5]), 1.0, True),  # last step without the episode keys
        (_info([1.0, 0.0], 0, [1.0, 0.0]), 1.0, True),  # returns without presence
        (_info([1.0, 0.0], 0, None, [True, True]), 1.0, False),  # presence without returns, mid-episode
        (_info([1.0, 0.0], 0, [1.0, 0.0], [True]), 1.0, False),  # wrong presence shape
        (_info([1.0, 0.0], 0, [1.0], [True, True]), 1.0, True),  # wrong returns shape
        (_info([0.0, 1.0], 1, [0.0, 1.0], [True, False]), 1.0, False),  # earned on an absent component
        (_info([0.5, 0.0]), 1.0, False),  # component rewards do not sum to the reward
        (_info([1.0, 0.0], 2), 1.0, False),  # component index out of range
        ({**_info([1.0, 0.0]), "episode": {"r": 1.0}}, 1.0, False),  # the 'episode' key is Monitor's
    ],
)
def test_check_rejects_broken_infos(info: dict, reward: float, done: bool) -> None:
    with pytest.raises(AssertionError):
        check_component_info(info, reward, 2, done)


def test_check_rejects_wrong_dtypes() -> None:
    info = _info([1.0, 0.0], 0, [1.0, 0.0], [True, True])
    info["component_returns"] = info["component_returns"].astype(np.float32)
    with pytest.raises(AssertionError):
        check_component_info(info, 1.0, 2, done=True)
    info = _info([1.0, 0.0], 0, [1.0, 0.0], [True, True])
    info["component_present"] = info["component_present"].astype(np.int64)
    with pytest.raises(AssertionError):
        check_component_info(info, 1.0, 2, done=False)
