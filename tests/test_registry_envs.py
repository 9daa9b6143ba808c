"""Contract tests every registered core id must pass (Atari/MuJoCo ids are covered by their own tests)."""

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs
from rayenvs.contract import check_component_info

CORE_IDS = sorted(
    i for i, info in rayenvs.CATALOG.items() if info.family in {"bandit", "multiroom", "glimpse"}
)


def _rollout(env, seed, steps):
    """Seeded random rollout returning every transition (obs, reward, flags, info)."""
    rng = np.random.default_rng(seed)
    out = []
    obs, info = env.reset(seed=seed)
    out.append((obs, info))
    for _ in range(steps):
        action = int(rng.integers(env.action_space.n))
        obs, reward, terminated, truncated, info = env.step(action)
        out.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs, info))
    return out


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple | list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_core_families_registered():
    families = {rayenvs.CATALOG[i].family for i in CORE_IDS}
    assert families == {"bandit", "multiroom", "glimpse"}
    assert all(i.startswith("rayenvs/") and i.endswith("-v0") for i in CORE_IDS)


@pytest.mark.parametrize("env_id", CORE_IDS)
def test_gymnasium_and_sb3_checkers(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id), warn=False)


@pytest.mark.parametrize("env_id", CORE_IDS)
def test_component_contract_on_random_rollout(env_id):
    env = gym.make(env_id)
    k = rayenvs.CATALOG[env_id].num_components
    assert len(env.unwrapped.component_names) == k
    assert all(isinstance(n, str) for n in env.unwrapped.component_names)
    episode_sum = np.zeros(k)
    episode_return = 0.0
    episodes = 0
    env.reset(seed=3)
    env.action_space.seed(3)
    for _ in range(600):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
        check_component_info(info, float(reward), k, done)
        episode_sum += info["component_rewards"]
        episode_return += float(reward)
        # The suite's envs carry the running sums on every step, not only the last.
        np.testing.assert_allclose(info["component_returns"], episode_sum, atol=1e-12)
        assert np.all(info["component_returns"][~info["component_present"]] == 0)
        if done:
            np.testing.assert_allclose(info["component_returns"], episode_sum, atol=1e-12)
            assert np.isclose(info["component_returns"].sum(), episode_return)
            assert info["component_present"].any()
            # Nothing can be earned on a component that was not present.
            assert np.all(info["component_returns"][~info["component_present"]] == 0)
            episode_sum[:] = 0
            episode_return = 0.0
            episodes += 1
            env.reset()
    assert episodes >= 1


@pytest.mark.parametrize("env_id", CORE_IDS)
def test_outer_time_limit_keeps_the_contract(env_id):
    """``gym.make(id, max_episode_steps=N)`` wraps the env in Gymnasium's TimeLimit instead of passing N to it;
    episodes it truncates must still end with the contract's episode keys holding the episode's sums."""
    limit = 3
    env = gym.make(env_id, max_episode_steps=limit)
    assert isinstance(env, gym.wrappers.TimeLimit)
    k = rayenvs.CATALOG[env_id].num_components
    env.reset(seed=4)
    env.action_space.seed(4)
    episode_sum, length, cut = np.zeros(k), 0, 0
    for _ in range(300):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        check_component_info(info, float(reward), k, terminated or truncated)
        episode_sum += info["component_rewards"]
        length += 1
        if terminated or truncated:
            np.testing.assert_allclose(info["component_returns"], episode_sum, atol=1e-12)
            assert info["component_present"].any()
            cut += truncated and length == limit
            episode_sum, length = np.zeros(k), 0
            env.reset()
    # Multi-step envs (own limits of 20 steps or more) see the outer limit cut episodes; bandits end at once.
    assert (cut > 0) == (rayenvs.CATALOG[env_id].family != "bandit")


@pytest.mark.parametrize("env_id", CORE_IDS)
def test_seeded_determinism(env_id):
    a = _rollout(gym.make(env_id), seed=11, steps=150)
    b = _rollout(gym.make(env_id), seed=11, steps=150)
    assert _equal(a, b)
    c = _rollout(gym.make(env_id), seed=12, steps=150)
    assert not _equal(a, c)


@pytest.mark.parametrize("env_id", CORE_IDS)
def test_pickle_and_double_close(env_id):
    env = gym.make(env_id)
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    action = 0
    assert _equal(env.step(action), clone.step(action))
    env.close()
    env.close()
    clone.close()
    clone.close()
