"""MultiRoom-Doors: checkers, where the reward lies, the walled view, components, vector/single equality."""

from __future__ import annotations

import warnings
from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs  # noqa: F401  (registers the ids)
from rayenvs.contract import check_component_info
from rayenvs.envs.multiroom_doors import (
    MultiRoomDoorsEnv,
    MultiRoomDoorsVectorEnv,
    default_max_episode_steps,
    target_rooms,
    uniform_random_return,
)
from rayenvs.registration import CATALOG, MULTIROOM_DOORS_RANDOM_RETURN
from tests.test_multiroom import _assert_same

IDS = ["rayenvs/MultiRoom-R2-Doors-v0", "rayenvs/MultiRoom-R4-Doors-v0"]


@pytest.mark.parametrize("env_id", IDS)
def test_checkers_and_catalog(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    info = CATALOG[env_id]
    assert env.unwrapped.component_names == tuple(f"room_{k}" for k in range(info.num_components))
    assert info.random_return == MULTIROOM_DOORS_RANDOM_RETURN[info.num_components]
    assert isinstance(gym.make_vec(env_id, num_envs=3), MultiRoomDoorsVectorEnv)


def test_target_rooms_alternate_directions() -> None:
    assert target_rooms(2).tolist() == [1, 0]
    assert target_rooms(4).tolist() == [1, 0, 3, 2]
    assert target_rooms(3).tolist() == [1, 0, 1]  # the last of an odd count has no right neighbour


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_rooms": 1}, r"num_rooms=1 is out of range: must be an int >= 2"),
        ({"room_size": 1}, r"room_size=1 is out of range: must be an int >= 2"),
        ({"max_episode_steps": 0}, r"max_episode_steps=0 is out of range"),
        ({"num_rooms": 2.5}, r"num_rooms=2.5 must be an int >= 2"),
        ({"render_mode": "human"}, r"render_mode='human' is not supported"),
    ],
)
def test_bad_kwargs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MultiRoomDoorsEnv(**kwargs)
    with pytest.raises(ValueError, match=match):
        MultiRoomDoorsVectorEnv(2, **kwargs)


def _split(obs: np.ndarray, env: MultiRoomDoorsEnv) -> tuple[np.ndarray, ...]:
    w, r = env._batch.window, env.num_rooms
    return obs[:w], obs[w : 2 * w], obs[2 * w : 3 * w], obs[3 * w : 3 * w + r], obs[3 * w + r :]


def _oracle(env: MultiRoomDoorsEnv) -> int:
    """First action of a shortest path (BFS on the padded grid) to the reward."""
    b = env._batch
    grid, start = b.grid[0], int(b.pos[0])
    parent = {start: None}
    queue = deque([start])
    while queue:
        p = queue.popleft()
        if grid[p] == 2:
            while parent[p] != start:
                p = parent[p]
            return int(np.nonzero(b.moves == p - start)[0][0])
        for m in b.moves:
            q = p + int(m)
            if grid[q] != 1 and q not in parent:
                parent[q] = p
                queue.append(q)
    raise AssertionError("the reward is unreachable")


@pytest.mark.parametrize(("rooms", "size"), [(4, 3), (3, 2), (2, 4)])
def test_oracle_reaches_the_hidden_reward_through_the_doorway(rooms: int, size: int) -> None:
    env = MultiRoomDoorsEnv(num_rooms=rooms, room_size=size)
    b = env._batch
    lengths = []
    for seed in range(60):
        obs, info = env.reset(seed=seed)
        assert info == {}
        task = int(b.task[0])
        walls, reward, visible, room, pending = _split(obs, env)
        np.testing.assert_array_equal(room, np.eye(rooms)[task])
        np.testing.assert_array_equal(pending, np.eye(rooms)[task])
        assert reward.sum() == 0  # the reward lies in another room: out of sight
        assert b.room_of(np.nonzero(b.grid[0] == 2)[0])[0] == target_rooms(rooms)[task]
        assert not (walls > visible).any() and visible.sum() == (size + 2) ** 2  # the room's box, no more
        steps, seen_from = 0, None
        while True:
            obs, r, terminated, truncated, info = env.step(_oracle(env))
            steps += 1
            check_component_info(info, r, rooms, terminated or truncated)
            assert info["component"] == task
            _, reward, _, _, _ = _split(obs, env)
            if seen_from is None and reward.sum() > 0:
                seen_from = b.room_of(b.pos)[0]
            if terminated or truncated:
                break
        assert terminated and r == 1.0
        assert info["component_returns"].tolist() == np.eye(rooms)[task].tolist()
        assert info["component_present"].tolist() == (np.arange(rooms) == task).tolist()
        assert seen_from in (-1, target_rooms(rooms)[task])  # first seen from the doorway (or inside)
        lengths.append(steps)
    # the longest shortest path is 4 * size - 2; the default limit is twice that
    assert max(lengths) <= 4 * size - 2 and env.max_episode_steps == default_max_episode_steps(size) == 8 * size - 4


def test_doorway_sees_both_rooms_and_walls_block_the_view() -> None:
    env = MultiRoomDoorsEnv(num_rooms=2, room_size=3)
    b = env._batch
    env.reset(seed=1)
    while b.room_of(b.pos)[0] != -1:  # walk the oracle's path into the doorway
        env.step(_oracle(env))
    obs = b.observe()[0]
    walls, reward, visible, room, _ = _split(obs, env)
    assert reward.sum() == 1 and room.sum() == 0
    # from the doorway (grid column 4) both rooms' boxes are visible: columns 0..8 within the view radius 3
    vis = visible.reshape(7, 7)
    assert vis[:, :].any(axis=0).all() and vis.sum() == 7 * 5
    # in a room, the other rooms' columns are hidden however close
    env.reset(seed=2)
    _, _, visible, _, _ = _split(b.observe()[0], env)
    ay, ax = divmod(int(b.pos[0]), b.pw)
    x = ax - b.view
    cols = np.arange(7) + x - 3
    room_lo = (x // 4) * 4
    expect_cols = (cols >= room_lo) & (cols <= room_lo + 4)
    np.testing.assert_array_equal(visible.reshape(7, 7).any(axis=0), expect_cols)


def test_truncation_and_random_policy_accounting() -> None:
    env = MultiRoomDoorsEnv(max_episode_steps=5)
    rng = np.random.default_rng(0)
    ends = {"terminated": 0, "truncated": 0}
    for seed in range(60):
        env.reset(seed=seed)
        steps = 0
        while True:
            _, r, terminated, truncated, info = env.step(int(rng.integers(4)))
            steps += 1
            check_component_info(info, r, 4, terminated or truncated)
            if terminated or truncated:
                break
        assert terminated != truncated and steps <= 5 and (truncated == (steps == 5 and r == 0.0))
        ends["terminated" if terminated else "truncated"] += 1
    assert ends["truncated"] == 60  # no 5-step random walk reaches a reward behind a doorway of a 3x3 room


@pytest.mark.parametrize("kwargs", [{}, {"num_rooms": 3, "room_size": 2, "max_episode_steps": 9}])
def test_vector_streams_equal_sync_vector_of_single_envs(kwargs: dict) -> None:
    n = 8
    ref = SyncVectorEnv([lambda: MultiRoomDoorsEnv(**kwargs)] * n, autoreset_mode=AutoresetMode.SAME_STEP)
    vec = MultiRoomDoorsVectorEnv(n, **kwargs)
    _assert_same(vec.reset(seed=11), ref.reset(seed=11))
    rng = np.random.default_rng(0)
    ends = rewards = 0
    for _ in range(400):
        actions = rng.integers(0, 4, size=n)
        out_v, out_r = vec.step(actions), ref.step(actions)
        _assert_same(out_v, out_r)
        ends += int((out_r[2] | out_r[3]).sum())
        rewards += int(out_r[1].sum())
    assert ends > 50 and rewards > 3
    mask = np.zeros(n, dtype=bool)
    mask[[2, 6]] = True
    _assert_same(
        vec.reset(seed=[None] * n, options={"reset_mask": mask.copy()}),
        ref.reset(seed=[None] * n, options={"reset_mask": mask.copy()}),
    )


def test_seeded_determinism_and_render() -> None:
    a, b = MultiRoomDoorsEnv(render_mode="rgb_array"), MultiRoomDoorsEnv()
    for seed in (0, 7):
        np.testing.assert_array_equal(a.reset(seed=seed)[0], b.reset(seed=seed)[0])
        for act in (3, 0, 3, 1, 2):
            out_a, out_b = a.step(act), b.step(act)
            np.testing.assert_array_equal(out_a[0], out_b[0])
            assert out_a[1:4] == out_b[1:4]
    frame = a.render()
    assert frame.shape == (5 * 8, 17 * 8, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("r", [2, 4])
def test_random_reference(r: int) -> None:
    """A fresh sample of 3,000 seeds agrees with the stored 10,000-episode reference."""
    n = 3000
    got = uniform_random_return(n, seed=10_000, num_rooms=r)
    stored = MULTIROOM_DOORS_RANDOM_RETURN[r]
    sd = np.sqrt(stored * (1 - stored))
    assert abs(got - stored) < 4 * sd / np.sqrt(n), (got, stored)


def test_tasks_restrict_the_start_rooms() -> None:
    env = MultiRoomDoorsEnv(tasks=[2])
    seen = set()
    for seed in range(20):
        obs, _ = env.reset(seed=seed)
        seen.add(int(env._batch.task[0]))
        assert obs[-4:].tolist() == [0, 0, 1, 0]
    assert seen == {2}
    two = MultiRoomDoorsVectorEnv(64, tasks=(1, 3))
    two.reset(seed=0)
    assert set(two._batch.task.tolist()) == {1, 3}
    # the default draws every room and keeps the streams of tasks=None
    a, b = MultiRoomDoorsEnv(), MultiRoomDoorsEnv(tasks=[0, 1, 2, 3])
    np.testing.assert_array_equal(a.reset(seed=5)[0], b.reset(seed=5)[0])


@pytest.mark.parametrize("tasks", [[], [4], [1, 1], "01", [-1], 2])
def test_bad_tasks(tasks: object) -> None:
    with pytest.raises(ValueError, match=r"tasks"):
        MultiRoomDoorsEnv(tasks=tasks)
