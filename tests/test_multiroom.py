"""MultiRoom env family: API checkers, semantics, component accounting, vector/single equality."""

from __future__ import annotations

import dataclasses
import importlib.util
import pickle
import warnings
from collections import deque
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs  # noqa: F401  (registers the ids)
from rayenvs.contract import check_component_info
from rayenvs.envs.multiroom import (
    MultiRoomEnv,
    MultiRoomVectorEnv,
    _Batch,
    default_max_episode_steps,
    uniform_random_return,
)
from rayenvs.registration import CATALOG, MULTIROOM_RANDOM_RETURN

IDS = sorted(k for k, v in CATALOG.items() if v.family == "multiroom")


def test_catalog_lists_all_presets() -> None:
    assert len(IDS) == 9  # 7 presets and the two doorway variants (tests/test_multiroom_doors.py)
    assert sum("-Doors-" in i for i in IDS) == 2
    for r in (2, 4, 8):
        for seq in (False, True):
            assert (r, seq) in MULTIROOM_RANDOM_RETURN
            info = CATALOG[f"rayenvs/MultiRoom-R{r}{'-Seq' if seq else ''}-v0"]
            assert info.random_return == MULTIROOM_RANDOM_RETURN[(r, seq)]


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_and_sb3_checkers(env_id: str) -> None:
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)
    assert env.unwrapped.component_names == tuple(f"room_{k}" for k in range(CATALOG[env_id].num_components))
    env.close()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_rooms": 1, "room_size": 2},
        {"num_rooms": 1, "start": "first"},
        {"num_rooms": 3, "room_size": 2, "start": "first"},
    ],
)
def test_checker_on_smallest_layouts(kwargs: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(gym.make("rayenvs/MultiRoom-v0", **kwargs).unwrapped)


# ---------------------------------------------------------------- helpers


def _oracle_action(b: _Batch, i: int = 0) -> int:
    """First action of a shortest path (BFS on the padded grid) to the nearest pending reward."""
    grid, start = b.grid[i], int(b.pos[i])
    parent = {start: None}
    queue = deque([start])
    while queue:
        p = queue.popleft()
        if grid[p] == 2:
            while parent[p] != start and parent[p] is not None:
                p = parent[p]
            return int(np.nonzero(b.moves == p - start)[0][0])
        for m in b.moves:
            q = p + int(m)
            if grid[q] != 1 and q not in parent:
                parent[q] = p
                queue.append(q)
    raise AssertionError("no reachable pending reward")


def _run_episode(env: MultiRoomEnv, policy) -> tuple[list, bool, bool]:
    """Step to the episode's end, checking every step's info holds the running sums and the presence."""
    steps = []
    running = np.zeros(env.num_rooms)
    present = env._batch.present[0].copy()
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(env))
        steps.append((obs, reward, info))
        check_component_info(info, reward, env.num_rooms, terminated or truncated)
        running += info["component_rewards"]
        np.testing.assert_array_equal(info["component_returns"], running)
        np.testing.assert_array_equal(info["component_present"], present)
        if terminated or truncated:
            return steps, terminated, truncated


# ---------------------------------------------------------------- semantics


def test_reset_observation_layout() -> None:
    env = MultiRoomEnv(num_rooms=3, room_size=4, start="random")
    obs, info = env.reset(seed=3)
    b = env._batch
    w = (2 * 4 + 1) ** 2
    assert obs.shape == (2 * w + 6,) and obs.dtype == np.float32 and info == {}
    start = int(np.nonzero(b.present[0])[0][0])
    onehot = np.eye(3, dtype=np.float32)[start]
    np.testing.assert_array_equal(obs[2 * w : 2 * w + 3], onehot)  # room the agent is in
    np.testing.assert_array_equal(obs[2 * w + 3 :], onehot)  # pending rewards
    assert obs[w : 2 * w].sum() == 1.0  # the start room's reward is in view
    assert obs[w + w // 2] == 0.0 and obs[w // 2] == 0.0  # agent cell: no reward, no wall
    # The egocentric window is centred on the agent and shows the grid's walls around it.
    window = obs[:w].reshape(9, 9)
    ay, ax = divmod(int(b.pos[0]), b.pw)
    full = b.grid[0].reshape(-1, b.pw)
    np.testing.assert_array_equal(window, full[ay - 4 : ay + 5, ax - 4 : ax + 5] == 1)
    y = ay - b.view  # the agent's row in the unpadded grid, 1..room_size
    assert window[4 - y].all() and window[4 + (4 + 1 - y)].all()  # top and bottom outer walls
    assert not window[4, 4] and window[4 - y + 1 : 4 + (5 - y), 4].sum() == 0  # its room's column is free


def test_random_start_collects_own_room_and_terminates() -> None:
    for seed in range(20):
        env = MultiRoomEnv(num_rooms=4, start="random")
        env.reset(seed=seed)
        start = int(np.nonzero(env._batch.present[0])[0][0])
        steps, terminated, truncated = _run_episode(env, lambda e: _oracle_action(e._batch))
        assert terminated and not truncated
        assert len(steps) <= 2 * (env.room_size - 1)
        rewards = [s[1] for s in steps]
        assert rewards == [0.0] * (len(steps) - 1) + [1.0]
        info = steps[-1][2]
        assert info["component"] == start
        np.testing.assert_array_equal(info["component_returns"], np.eye(4)[start])
        np.testing.assert_array_equal(info["component_present"], np.eye(4, dtype=bool)[start])


def test_first_start_collects_every_room_once() -> None:
    for seed in range(10):
        env = MultiRoomEnv(num_rooms=3, start="first")
        env.reset(seed=seed)
        assert env._batch.room_of(env._batch.pos)[0] == 0
        steps, terminated, truncated = _run_episode(env, lambda e: _oracle_action(e._batch))
        assert terminated and not truncated
        rewarded = [s[2]["component"] for s in steps if s[1] == 1.0]
        assert sorted(rewarded) == [0, 1, 2]
        # every step carries the running sums: one more room's reward after each rewarded step
        sums = [s[2]["component_returns"].sum() for s in steps]
        np.testing.assert_array_equal(sums, np.cumsum([s[1] for s in steps]))
        np.testing.assert_array_equal(steps[-1][2]["component_returns"], np.ones(3))
        assert steps[-1][2]["component_present"].all()
        # pending flags in the observation drop as rewards are collected
        assert steps[-1][0][-3:].sum() == 0.0


def test_collected_reward_is_gone() -> None:
    env = MultiRoomEnv(num_rooms=2, start="first")
    env.reset(seed=1)
    b = env._batch
    while b.pending[0].sum() == 2:
        _, reward, _, _, info = env.step(_oracle_action(b))
    assert reward == 1.0
    cell = int(b.pos[0])
    away = next(a for a in range(4) if b.grid[0, cell + b.moves[a]] != 1)
    back = int(np.nonzero(b.moves == -b.moves[away])[0][0])
    env.step(away)
    _, reward, terminated, _, info = env.step(back)
    assert int(b.pos[0]) == cell and reward == 0.0 and not terminated
    np.testing.assert_array_equal(info["component_rewards"], np.zeros(2))


def test_walls_block_and_doorway_component_is_none() -> None:
    env = MultiRoomEnv(num_rooms=2, room_size=3, start="first")
    env.reset(seed=0)
    b = env._batch
    for _ in range(5):  # bump the top wall: position stops changing
        env.step(0)
    top = int(b.pos[0])
    env.step(0)
    assert int(b.pos[0]) == top
    # Walk into the doorway of wall 1 and check the component there is -1.
    door = int(np.nonzero(b.grid[0].reshape(-1, b.pw)[:, b.view + 4] == 0)[0][0])
    b.grid[0, b.grid[0] == 2] = 0  # remove rewards so the walk cannot end the episode
    b.pending[0] = True
    target = door * b.pw + b.view + 4
    while int(b.pos[0]) != target:
        y, x = divmod(int(b.pos[0]), b.pw)
        ty, tx = divmod(target, b.pw)
        action = 1 if y < ty else 0 if y > ty else 3
        obs, _, _, _, info = env.step(action)
    assert info["component"] == -1
    w = (2 * 3 + 1) ** 2
    assert obs[2 * w : 2 * w + 2].sum() == 0.0


def test_component_accounting_random_policy() -> None:
    rng = np.random.default_rng(0)
    for start in ("random", "first"):
        env = MultiRoomEnv(num_rooms=3, room_size=3, start=start)
        for seed in range(30):
            env.reset(seed=seed)
            present = env._batch.present[0].copy()
            steps, _, _ = _run_episode(env, lambda e: int(rng.integers(4)))
            total = np.sum([s[2]["component_rewards"] for s in steps], axis=0)
            last = steps[-1][2]
            np.testing.assert_array_equal(last["component_returns"], total)
            np.testing.assert_array_equal(last["component_present"], present)
            assert last["component_returns"].sum() == sum(s[1] for s in steps)
            assert np.all(last["component_returns"][~present] == 0.0)


def test_truncation_at_max_episode_steps() -> None:
    assert MultiRoomEnv().max_episode_steps == default_max_episode_steps(2, 5, "random") == 20
    assert MultiRoomEnv(num_rooms=4, start="first").max_episode_steps == 4 * 5 * 7
    assert gym.make("rayenvs/MultiRoom-R8-Seq-v0").unwrapped.max_episode_steps == 4 * 5 * 15
    rng = np.random.default_rng(0)
    env = MultiRoomEnv(num_rooms=2, room_size=6, max_episode_steps=4)
    lengths = []
    for seed in range(40):
        env.reset(seed=seed)
        steps, terminated, truncated = _run_episode(env, lambda e: int(rng.integers(4)))
        assert terminated != truncated
        assert len(steps) <= 4
        if truncated:
            assert len(steps) == 4 and steps[-1][1] == 0.0
            assert steps[-1][2]["component_returns"].sum() == 0.0
        lengths.append(len(steps))
    assert lengths.count(4) > 20  # most random episodes in a 6x6 room run out of time


@pytest.mark.parametrize("seed", range(4))
def test_outer_time_limit_truncation_carries_episode_totals(seed: int) -> None:
    """``gym.make(id, max_episode_steps=N)`` truncates through Gymnasium's TimeLimit, not the env; the
    truncating step must still hold the episode's component totals (it is an ordinary env step)."""
    n = 12
    env = gym.make("rayenvs/MultiRoom-R2-Seq-v0", max_episode_steps=n)
    assert isinstance(env, gym.wrappers.TimeLimit) and env.unwrapped.max_episode_steps == 60 > n
    env.reset(seed=seed)
    b = env.unwrapped._batch
    total = np.zeros(2)
    for t in range(1, n + 1):
        # Collect the nearest reward, then walk up inside its room: nothing more to earn, no termination.
        action = _oracle_action(b) if b.pending[0].all() else 0
        _, reward, terminated, truncated, info = env.step(action)
        check_component_info(info, reward, 2, terminated or truncated)
        total += info["component_rewards"]
        assert not terminated and truncated == (t == n)
    assert b.t[0] == n  # the env's own counter is far from its limit: the TimeLimit truncated
    np.testing.assert_array_equal(total, ~b.pending[0])  # exactly the one collected room's reward
    assert total.sum() == 1.0
    np.testing.assert_array_equal(info["component_returns"], total)
    np.testing.assert_array_equal(info["component_present"], [True, True])


def test_outer_time_limit_random_policy_matches_episode_sums() -> None:
    env = gym.make("rayenvs/MultiRoom-v0", max_episode_steps=5)
    env.reset(seed=0)
    env.action_space.seed(0)
    total, length, outer = np.zeros(2), 0, 0
    for _ in range(400):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        check_component_info(info, reward, 2, terminated or truncated)
        total += info["component_rewards"]
        length += 1
        if terminated or truncated:
            np.testing.assert_array_equal(info["component_returns"], total)
            assert info["component_present"].sum() == 1
            outer += truncated and length == 5
            total, length = np.zeros(2), 0
            env.reset()
    assert outer > 20  # most random episodes are cut by the 5-step TimeLimit (the env's own limit is 20)


def test_seeded_determinism_pickling_and_close() -> None:
    env_a, env_b = MultiRoomEnv(num_rooms=3), MultiRoomEnv(num_rooms=3)
    obs_a, _ = env_a.reset(seed=7)
    obs_b, _ = env_b.reset(seed=7)
    np.testing.assert_array_equal(obs_a, obs_b)
    env_a.reset(seed=7)
    for a in [0, 3, 3, 1]:
        env_a.step(a)
        env_b.step(a)
    clone = pickle.loads(pickle.dumps(env_a))
    for a in [2, 2, 1, 0, 3, 3, 3, 1]:
        out_a, out_c = env_a.step(a), clone.step(a)
        np.testing.assert_array_equal(out_a[0], out_c[0])
        assert out_a[1:4] == out_c[1:4]
        np.testing.assert_array_equal(out_a[4]["component_rewards"], out_c[4]["component_rewards"])
        if out_a[2] or out_a[3]:
            break
    # The layout (doorways, rewards, start) differs across seeds.
    layouts = set()
    for seed in range(10):
        env_a.reset(seed=seed)
        layouts.add((env_a._batch.grid[0].tobytes(), int(env_a._batch.pos[0])))
    assert len(layouts) == 10
    env = gym.make("rayenvs/MultiRoom-R2-v0")
    env.close()
    env.close()
    venv = gym.make_vec("rayenvs/MultiRoom-R2-v0", num_envs=2)
    venv.close()
    venv.close()


def test_render_rgb_array() -> None:
    env = gym.make("rayenvs/MultiRoom-R2-v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert frame.shape == (7 * 8, 13 * 8, 3) and frame.dtype == np.uint8
    assert (frame == np.array([220, 0, 0], dtype=np.uint8)).all(axis=2).sum() == 64  # one agent tile
    assert (frame == np.array([0, 200, 0], dtype=np.uint8)).all(axis=2).sum() == 64  # one reward tile


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_rooms": 0}, "num_rooms=0.*>= 1"),
        ({"num_rooms": 2.0}, "num_rooms=2.0.*int >= 1"),
        ({"num_rooms": True}, "num_rooms=True.*int"),
        ({"room_size": 1}, "room_size=1.*>= 2"),
        ({"room_size": "5"}, "room_size='5'.*int >= 2"),
        ({"start": "last"}, "start='last'.*random, first"),
        ({"start": None}, "start=None"),
        ({"render_mode": "ansi"}, "render_mode='ansi'.*None, 'rgb_array'"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*render_mode='ansi'")
def test_bad_kwargs_fail_at_make(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        gym.make("rayenvs/MultiRoom-v0", **kwargs)
    if "render_mode" not in kwargs:
        with pytest.raises(ValueError, match=match):
            gym.make_vec("rayenvs/MultiRoom-v0", num_envs=2, **kwargs)


@pytest.mark.parametrize("value", [0, -3, 2.5, "10"])
def test_bad_max_episode_steps(value: object) -> None:
    with pytest.raises(ValueError, match=f"max_episode_steps={value!r}.*int >= 1"):
        MultiRoomEnv(max_episode_steps=value)
    with pytest.raises(ValueError, match=f"max_episode_steps={value!r}.*int >= 1"):
        gym.make_vec("rayenvs/MultiRoom-v0", num_envs=2, max_episode_steps=value)
    spec = gym.spec("rayenvs/MultiRoom-v0")
    with pytest.raises(ValueError, match="max_episode_steps"):
        gym.make(dataclasses.replace(spec, kwargs={"max_episode_steps": value}))


def test_single_bad_step() -> None:
    env = MultiRoomEnv()
    with pytest.raises(RuntimeError, match="before reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action=4"):
        env.step(4)


def test_vector_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_envs=0"):
        MultiRoomVectorEnv(0)
    venv = MultiRoomVectorEnv(3)
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step(np.zeros(3, dtype=np.int64))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"\[0, 3\]"):
        venv.step(np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="num_envs=3"):
        venv.reset(seed=[1, 2])


# ---------------------------------------------------------------- vector env


def _assert_same(a: object, b: object, path: str = "") -> None:
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b), path
        for k, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{k}]")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), (path, sorted(a), sorted(b))
        for k in a:
            _assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert b.dtype == object and a.shape == b.shape, path
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y, path)
    elif a is None:
        assert b is None, path
    else:
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape, (path, a.dtype, b.dtype, a.shape, b.shape)
        np.testing.assert_array_equal(a, b, err_msg=path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_rooms": 2, "start": "random"},
        {"num_rooms": 3, "room_size": 3, "start": "first"},
        {"num_rooms": 2, "room_size": 3, "start": "first", "max_episode_steps": 9},
        {"num_rooms": 1, "room_size": 2, "start": "random"},
    ],
)
def test_vector_streams_equal_sync_vector_of_single_envs(kwargs: dict) -> None:
    n = 8
    ref = SyncVectorEnv([lambda: MultiRoomEnv(**kwargs)] * n, autoreset_mode=AutoresetMode.SAME_STEP)
    vec = MultiRoomVectorEnv(n, **kwargs)
    _assert_same(vec.reset(seed=11), ref.reset(seed=11))
    rng = np.random.default_rng(0)
    ends = running = 0
    for _ in range(300):
        actions = rng.integers(0, 4, size=n)
        out_v, out_r = vec.step(actions), ref.step(actions)
        _assert_same(out_v, out_r)
        ends += int((out_r[2] | out_r[3]).sum())
        live = ~(out_v[2] | out_v[3])
        if live.any():  # sub-envs that go on carry their running sums at the top level
            assert out_v[4]["_component_returns"].tolist() == live.tolist()
            running += int(out_v[4]["component_returns"].sum() > 0)
    assert ends > 20
    # With start="first" a live sub-env can have collected rooms already; with "random" collecting ends it.
    assert (running > 0) == (kwargs["start"] == "first")
    # Partial reset through options["reset_mask"], as SyncVectorEnv does it.
    mask = np.zeros(n, dtype=bool)
    mask[[1, 5]] = True
    _assert_same(
        vec.reset(seed=[None] * n, options={"reset_mask": mask.copy()}),
        ref.reset(seed=[None] * n, options={"reset_mask": mask.copy()}),
    )
    for _ in range(20):
        actions = rng.integers(0, 4, size=n)
        _assert_same(vec.step(actions), ref.step(actions))


def test_make_vec_uses_native_vector_env() -> None:
    venv = gym.make_vec("rayenvs/MultiRoom-R4-Seq-v0", num_envs=5, max_episode_steps=7)
    assert isinstance(venv, MultiRoomVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.num_rooms == 4 and venv.start == "first" and venv.max_episode_steps == 7
    obs, info = venv.reset(seed=0)
    assert obs.shape == venv.observation_space.shape == (5, 2 * 121 + 8)
    assert venv.observation_space.contains(obs)
    for _ in range(7):
        _, _, terminated, truncated, info = venv.step(venv.action_space.sample())
    assert (terminated | truncated).all()  # nothing survives the 7-step limit
    assert info["_final_info"].all() and "final_obs" in info


# ---------------------------------------------------------------- reference numbers


@pytest.mark.parametrize(("r", "seq"), [(2, False), (2, True), (8, False)])
def test_random_reference(r: int, seq: bool) -> None:
    """A fresh sample of 2,000 seeds agrees with the stored 10,000-episode reference."""
    n = 2000
    stored = MULTIROOM_RANDOM_RETURN[(r, seq)]
    got = uniform_random_return(n, seed=10_000, num_rooms=r, start="first" if seq else "random")
    sd_bound = (float(r) if seq else 1.0) / 2  # Popoviciu: sd <= half the range of the episode return
    assert abs(got - stored) < 4 * sd_bound / np.sqrt(n), (got, stored)


def test_uniform_random_return_is_exact_function_of_seed() -> None:
    a = uniform_random_return(300, seed=5, num_rooms=2)
    assert a == uniform_random_return(300, seed=5, num_rooms=2)
    assert 0.2 < a < 0.5
    with pytest.raises(ValueError, match="num_episodes=0"):
        uniform_random_return(0)


@pytest.mark.slow
def test_ppo_defaults_learn_r2() -> None:
    """SB3 PPO with default hyperparameters reaches mean return >= 0.9 on MultiRoom-R2-v0 in 200k steps."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    torch.set_num_threads(1)
    env_id = "rayenvs/MultiRoom-R2-v0"
    model = PPO("MlpPolicy", make_vec_env(env_id, n_envs=4, seed=0), seed=0)
    model.learn(200_000)
    mean, _ = evaluate_policy(
        model, make_vec_env(env_id, n_envs=1, seed=1000), n_eval_episodes=200, deterministic=False
    )
    assert mean >= 0.9, mean


# ---------------------------------------------------------------- observe vs the previous implementation

_BENCH = importlib.util.spec_from_file_location(
    "bench_multiroom_observe", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_multiroom_observe.py"
)
bench_observe = importlib.util.module_from_spec(_BENCH)
_BENCH.loader.exec_module(bench_observe)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_rooms": 2},
        {"num_rooms": 4, "start": "first"},
        {"num_rooms": 3, "room_size": 2, "start": "first", "max_episode_steps": 7},
        {"num_rooms": 1, "room_size": 7},
    ],
)
def test_observe_bit_identical_to_previous_implementation(kwargs: dict) -> None:
    """The strided-window observe() equals the previous per-cell gather byte for byte over random play."""
    n = 37
    env = MultiRoomVectorEnv(n, **kwargs)
    b = env._batch
    obs, _ = env.reset(seed=5)
    rng = np.random.default_rng(1)
    collected = 0
    for _ in range(400):
        prev = bench_observe.previous_observe(b)
        assert obs.dtype == prev.dtype == np.float32 and obs.shape == prev.shape == (n, b.obs_size)
        assert obs.tobytes() == prev.tobytes()
        assert b.observe().tobytes() == prev.tobytes()
        rows = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        assert b.observe(rows).tobytes() == bench_observe.previous_observe(b, rows).tobytes()
        obs, reward, _, _, info = env.step(rng.integers(0, 4, size=n))
        collected += int(reward.sum())
        if "final_obs" in info:
            idx = np.nonzero(info["_final_obs"])[0]
            assert all(info["final_obs"][i].dtype == np.float32 for i in idx)
    assert collected > 20  # rewards were collected, so reward cells vanished from the windows on the way
    single = MultiRoomEnv(**kwargs)
    o, _ = single.reset(seed=2)
    assert o.tobytes() == bench_observe.previous_observe(single._batch)[0].tobytes()


def test_observe_window_view_survives_pickling() -> None:
    """The window view is rebuilt from the live grid on every call, so a copied env observes its own grid."""
    env = MultiRoomVectorEnv(4, num_rooms=2)
    env.reset(seed=0)
    clone = pickle.loads(pickle.dumps(env))
    actions = np.array([0, 1, 2, 3])
    for _ in range(30):
        a, b = env.step(actions), clone.step(actions)
        _assert_same(a, b)
        assert a[0].tobytes() == bench_observe.previous_observe(clone._batch).tobytes()
