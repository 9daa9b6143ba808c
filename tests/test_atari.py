"""The reward-masked Atari presets: ALE settings, components, raw returns, checkers, determinism, pickling.

Gymnasium's ``check_env`` warns that a wrapped env differs from its unwrapped version; our ids are wrapper
stacks by design (the contract lives in the wrappers), so that one warning is filtered, every other warning
is an error. Reloading the ROM on each seeded reset (~0.3 s) makes checking every id slow, so the default
run checks one masked and one unmasked id and the ``slow`` test covers all of them.
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
from wrappers.atari import (
    FRAMESKIP,
    GAMES,
    LifeComponents,
    RewardValueComponents,
    make_atari_env,
    reward_class_names,
)

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

ATARI_IDS = sorted(i for i, info in rayenvs.CATALOG.items() if info.family == "atari")
WRAPPED_WARNING = r".*is different from the unwrapped version"


def _checkers(env_id):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=WRAPPED_WARNING)
        gym_check_env(gym.make(env_id), skip_render_check=True)
        sb3_check_env(gym.make(env_id), warn=True)


def test_all_games_registered_plain_and_masked():
    assert len(ATARI_IDS) == 2 * len(GAMES)
    for game in GAMES:
        assert rayenvs.CATALOG[f"rayenvs/Atari-{game}-v0"].kwargs == {"game": game, "mask_prob": 0.0}
        assert rayenvs.CATALOG[f"rayenvs/Atari-{game}-Masked-v0"].kwargs == {"game": game, "mask_prob": 0.9}


@pytest.mark.parametrize("env_id", ATARI_IDS)
def test_checkers(env_id):
    _checkers(env_id)


@pytest.mark.parametrize("game", GAMES)
def test_catalog_matches_ale(game):
    """Components = starting lives read from ALE; spaces and raw-reward classes as documented."""
    env = gym.make(f"rayenvs/Atari-{game}-v0")
    obs, info = env.reset(seed=0)
    names = env.unwrapped.component_names
    assert len(names) == rayenvs.CATALOG[f"rayenvs/Atari-{game}-v0"].num_components == max(1, info["lives"])
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    assert env.action_space.n == len(env.unwrapped.ale.getMinimalActionSet())


def test_ale_settings_frameskip_sticky_no_maxpool():
    import cv2

    env = gym.make("rayenvs/Atari-Phoenix-v0")
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == pytest.approx(0.25)
    assert ale.getInt("max_num_frames_per_episode") == 108_000
    _, info = env.reset(seed=1)
    plain = gym.make("ALE/Phoenix-v5", frameskip=3)
    _, plain_info = plain.reset(seed=1)
    assert info["episode_frame_number"] == plain_info["episode_frame_number"]  # no no-op reset
    frames = [info["episode_frame_number"]]
    env.action_space.seed(1)
    for _ in range(20):
        obs, _, _, _, info = env.step(env.action_space.sample())
        frames.append(info["episode_frame_number"])
        assert ale.getEpisodeFrameNumber() == frames[-1]
        # The newest frame is the current screen resized: no max-pooling with the previous frame.
        current = cv2.resize(ale.getScreenGrayscale(), (84, 84), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(obs[-1], current)
    assert set(np.diff(frames)) == {FRAMESKIP}


def test_full_episode_accounting_masked_phoenix():
    """Sign-clipped, masked reward; lives as components; raw score and raw per-life scores at the end."""
    env = gym.make("rayenvs/Atari-Phoenix-Masked-v0")
    k = 5
    _, info = env.reset(seed=0)
    env.action_space.seed(0)
    raw_total, clipped_total, masked_total, life_lost_steps = 0.0, 0.0, 0.0, 0
    lives, last_component = info["lives"], 0
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        done = terminated or truncated
        check_component_info(info, reward, k, done)
        assert info["unmasked_reward"] == np.sign(info["raw_reward"])
        assert reward in (0.0, info["unmasked_reward"])
        assert info["component"] >= last_component  # lives are spent in order
        last_component = info["component"]
        if info["lives"] < lives and not done:
            life_lost_steps += 1  # no episodic life: losing a life does not end the episode
        lives = info["lives"]
        raw_total += info["raw_reward"]
        clipped_total += info["unmasked_reward"]
        masked_total += reward
    assert terminated and info["lives"] == 0 and life_lost_steps == k - 1
    assert info["raw_return"] == raw_total > clipped_total > masked_total
    assert info["raw_component_returns"].sum() == raw_total
    assert info["unmasked_component_returns"].sum() == clipped_total
    assert info["component_returns"].sum() == pytest.approx(masked_total)
    assert (info["raw_component_returns"] > 0).sum() >= 3  # points were scored in several lives


def test_life_components_count_lost_lives():
    rule = LifeComponents(3)
    rule.reset(None, {"lives": 3})
    # lives seen after each step: one lost, a bonus life, two more lost, then more after the last one
    sequence = [3, 2, 2, 3, 2, 1, 0]
    components = [rule(None, 1.0, {"lives": n})[0] for n in sequence]
    assert components == [0, 0, 1, 1, 1, 2, 2]
    _, rewards = rule(None, -1.0, {"lives": 0})
    np.testing.assert_array_equal(rewards, [0.0, 0.0, -1.0])
    rule.reset(None, {"lives": 3})
    assert rule(None, 0.0, {"lives": 3})[0] == 0
    with pytest.raises(ValueError, match="num_lives"):
        LifeComponents(0)


def test_reward_value_classes():
    phoenix = RewardValueComponents("Phoenix")
    assert phoenix.names == ("reward_lt100", "reward_100to1000", "reward_ge1000")
    for raw, expected in [(20.0, 0), (80.0, 0), (100.0, 1), (450.0, 1), (1000.0, 2), (8000.0, 2), (0.0, -1)]:
        component, rewards = phoenix(None, float(np.sign(raw)), {"raw_reward": raw})
        assert component == expected
        assert rewards.sum() == np.sign(raw) and rewards.shape == (3,)
    with pytest.raises(ValueError, match="negative raw reward"):
        phoenix(None, -1.0, {"raw_reward": -20.0})
    dunk = RewardValueComponents("DoubleDunk")
    assert dunk.names == ("reward_neg", "reward_pos")
    assert dunk(None, -1.0, {"raw_reward": -1.0})[0] == 0
    assert dunk(None, 1.0, {"raw_reward": 2.0})[0] == 1


def test_reward_value_mode_on_qbert():
    env = gym.make("rayenvs/Atari-Qbert-v0", components="reward_value")
    assert env.unwrapped.component_names == reward_class_names("Qbert")
    env.reset(seed=0)
    env.action_space.seed(0)
    seen = set()
    for _ in range(400):
        _, reward, terminated, truncated, info = env.step(env.action_space.sample())
        check_component_info(info, reward, 3, terminated or truncated)
        if info["raw_reward"] == 25.0:  # a cube changes colour
            assert info["component"] == 0 and info["component_rewards"][0] == 1.0
        seen.add(info["component"])
        if terminated or truncated:
            env.reset()
    assert 0 in seen and -1 in seen


def test_seeded_determinism_and_mask_seed():
    def rollout(seed, steps=60):
        env = gym.make("rayenvs/Atari-Phoenix-Masked-v0")
        obs, _ = env.reset(seed=seed)
        actions = np.random.default_rng(0).integers(env.action_space.n, size=steps)
        out = [obs]
        rewards = []
        for a in actions:
            obs, reward, _, _, info = env.step(int(a))
            out.append(obs)
            rewards.append((reward, info["unmasked_reward"]))
        return np.stack(out), rewards

    obs_a, rew_a = rollout(5)
    obs_b, rew_b = rollout(5)
    np.testing.assert_array_equal(obs_a, obs_b)
    assert rew_a == rew_b
    obs_c, _ = rollout(6)
    assert not np.array_equal(obs_a, obs_c)  # sticky actions depend on the seed


def test_pickle_rebuilds_an_equivalent_env():
    """ALE pickles by constructor arguments (EzPickle): the copy is a fresh env with the same behaviour."""
    env = gym.make("rayenvs/Atari-Gravitar-Masked-v0")
    env.reset(seed=2)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.component_names == env.unwrapped.component_names
    a, _ = env.reset(seed=3)
    b, _ = clone.reset(seed=3)
    np.testing.assert_array_equal(a, b)
    for action in [1, 2, 3, 4, 5]:
        out_a, out_b = env.step(action), clone.step(action)
        np.testing.assert_array_equal(out_a[0], out_b[0])
        assert out_a[1:4] == out_b[1:4]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"components": "score"}, r"components='score'.*\('life', 'reward_value'\)"),
        ({"mask_prob": 1.5}, r"mask_prob=1.5 must be in \[0, 1\]"),
        ({"mask_prob": -0.1}, r"mask_prob=-0.1 must be in \[0, 1\]"),
        ({"game": "Pong"}, r"game='Pong'.*Phoenix"),
    ],
)
def test_bad_kwargs_fail_at_make(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("rayenvs/Atari-Phoenix-Masked-v0", **kwargs)


def test_reward_class_names_unknown_game():
    with pytest.raises(ValueError, match="Breakout"):
        make_atari_env("Breakout")


def test_sb3_ppo_smoke():
    from stable_baselines3 import PPO

    env = gym.make("rayenvs/Atari-Phoenix-Masked-v0")
    model = PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    assert model.num_timesteps == 128
