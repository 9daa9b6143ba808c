"""The MuJoCo presets: reward-term components, frozen observation statistics, checkers, pickling, PPO.

As in tests/test_atari.py, only check_env's "wrapped env" warning is filtered (the ids are wrapper stacks
by design). Every make runs the normalisation warmup (4,000 steps by default, up to ~1.5 s on Humanoid), so
default tests that do not test the warmup itself pass ``warmup_steps=FAST_WARMUP``; the ``slow`` test runs
the checkers on every id exactly as registered.
"""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs
from rayenvs.contract import check_component_info
from wrappers.mujoco import REWARD_TERMS, TASKS, UnitActionScaling

pytest.importorskip("mujoco")

MUJOCO_IDS = sorted(i for i, info in rayenvs.CATALOG.items() if info.family == "mujoco")
WRAPPED_WARNING = r".*is different from the unwrapped version"
FAST_WARMUP = 300
OBS_DIMS = {"Hopper": 11, "HalfCheetah": 17, "Ant": 105, "Humanoid": 348}


def _checkers(env_id, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=WRAPPED_WARNING)
        gym_check_env(gym.make(env_id, **kwargs), skip_render_check=True)
        sb3_check_env(gym.make(env_id, **kwargs), warn=True)


def test_all_tasks_registered():
    assert MUJOCO_IDS == sorted(f"rayenvs/MuJoCo-{t}-v0" for t in TASKS)


@pytest.mark.parametrize("env_id", ["rayenvs/MuJoCo-Hopper-v0", "rayenvs/MuJoCo-HalfCheetah-v0"])
def test_checkers_fast_warmup(env_id):
    _checkers(env_id, warmup_steps=FAST_WARMUP)


@pytest.mark.parametrize("env_id", MUJOCO_IDS)
def test_checkers(env_id):
    _checkers(env_id)  # the registered default: 4,000 warm-up steps


@pytest.mark.parametrize("task", TASKS)
def test_components_are_the_reward_terms(task):
    env_id = f"rayenvs/MuJoCo-{task}-v0"
    env = gym.make(env_id, warmup_steps=FAST_WARMUP)
    names = env.unwrapped.component_names
    assert names == REWARD_TERMS[task] and len(names) == rayenvs.CATALOG[env_id].num_components
    assert env.observation_space.shape == (OBS_DIMS[task],) and env.spec.max_episode_steps == 1000
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    env.reset(seed=0)
    env.action_space.seed(0)
    totals = np.zeros(len(names))
    for _ in range(200):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
        check_component_info(info, reward, len(names), done)
        np.testing.assert_allclose(info["component_rewards"], [info[k] for k in names], atol=1e-9)
        assert info["component"] == -1 and obs in env.observation_space
        totals += info["component_rewards"]
        if done:
            np.testing.assert_allclose(info["component_returns"], totals, atol=1e-9)
            totals[:] = 0
            env.reset()
    assert info["reward_ctrl"] < 0  # a cost term, kept with its sign


def test_normalisation_uses_frozen_random_rollout_stats(tmp_path):
    env = gym.make("rayenvs/MuJoCo-HalfCheetah-v0")
    stats = env.get_wrapper_attr("obs_stats")
    assert stats.count == 4001 + 4  # reset + 4,000 steps + a reset after each 1,000-step episode
    same = gym.make("rayenvs/MuJoCo-HalfCheetah-v0")
    np.testing.assert_array_equal(same.get_wrapper_attr("obs_mean"), stats.mean)
    other = gym.make("rayenvs/MuJoCo-HalfCheetah-v0", warmup_seed=1)
    assert not np.array_equal(other.get_wrapper_attr("obs_mean"), stats.mean)
    # Evaluation env from saved statistics: identical observations, stats unchanged by use.
    path = env.get_wrapper_attr("save_stats")(tmp_path / "obs_stats.npz")
    evaluation = gym.make("rayenvs/MuJoCo-HalfCheetah-v0", obs_stats_path=str(path), warmup_seed=99)
    reused = gym.make("rayenvs/MuJoCo-HalfCheetah-v0", obs_stats=stats, warmup_seed=99)
    raw = gym.make("HalfCheetah-v5")
    obs = [e.reset(seed=4)[0] for e in (env, evaluation, reused)]
    raw_obs, _ = raw.reset(seed=4)
    for _ in range(100):
        np.testing.assert_array_equal(obs[0], obs[1])
        np.testing.assert_array_equal(obs[0], obs[2])
        expected = np.clip((raw_obs - stats.mean) / np.sqrt(stats.var + 1e-8), -10, 10).astype(np.float32)
        np.testing.assert_array_equal(obs[0], expected)
        action = raw.action_space.sample()
        obs = [e.step(action)[0] for e in (env, evaluation, reused)]
        raw_obs = raw.step(action)[0]
    np.testing.assert_array_equal(env.get_wrapper_attr("obs_mean"), stats.mean)
    # Statistics passed as a kwarg survive Gymnasium's spec round trip (check_env re-makes the id).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=WRAPPED_WARNING)
        gym_check_env(reused, skip_render_check=True)


def test_pickle_round_trip():
    env = gym.make("rayenvs/MuJoCo-Hopper-v0", warmup_steps=FAST_WARMUP)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.component_names == REWARD_TERMS["Hopper"]
    np.testing.assert_array_equal(clone.get_wrapper_attr("obs_mean"), env.get_wrapper_attr("obs_mean"))
    a, _ = env.reset(seed=1)
    b, _ = clone.reset(seed=1)
    np.testing.assert_array_equal(a, b)
    action = np.full(3, 0.3, dtype=np.float32)
    out_a, out_b = env.step(action), clone.step(action)
    np.testing.assert_array_equal(out_a[0], out_b[0])
    assert out_a[1] == out_b[1]


def test_unit_action_scaling_maps_onto_humanoid_bounds():
    env = UnitActionScaling(gym.make("Humanoid-v5"))
    low, high = env.env.action_space.low, env.env.action_space.high
    assert np.all(high == 0.4) and np.all(low == -0.4)
    ones = np.ones(17, dtype=np.float32)
    np.testing.assert_allclose(env.action(ones), high, rtol=1e-6)
    np.testing.assert_allclose(env.action(-ones), low, rtol=1e-6)
    np.testing.assert_allclose(env.action(0.5 * ones), 0.2, rtol=1e-6)
    assert env.action(ones).dtype == np.float32
    clone = pickle.loads(pickle.dumps(gym.make("rayenvs/MuJoCo-Humanoid-v0", warmup_steps=FAST_WARMUP)))
    assert clone.action_space == env.action_space
    with pytest.raises(ValueError, match="bounded Box"):
        UnitActionScaling(gym.make("CartPole-v1"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "Walker2d"}, r"task='Walker2d'.*Hopper"),
        ({"warmup_steps": 1}, r"warmup_steps=1 must be >= 2"),
    ],
)
def test_bad_kwargs_fail_at_make(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("rayenvs/MuJoCo-Hopper-v0", **kwargs)


def test_sb3_ppo_smoke():
    from stable_baselines3 import PPO

    env = gym.make("rayenvs/MuJoCo-Hopper-v0", warmup_steps=FAST_WARMUP)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps == 256
