"""Tests of the masked-image Glimpse env (rayenvs/envs/glimpse.py) and its image sets (glimpse_data.py)."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env, data_equivalence
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs
from rayenvs.contract import check_component_info
from rayenvs.envs.glimpse import MOVE_DOWN, MOVE_LEFT, MOVE_RIGHT, MOVE_UP, GlimpseEnv
from rayenvs.envs.glimpse_data import DEFAULT_SPLIT_SIZES, glyph_example
from rayenvs.registration import GLIMPSE_RANDOM_RETURN

ENV_ID = "rayenvs/Glimpse-v0"


def _user_set(n: int = 10, h: int = 32, w: int = 32, channels: int | None = None, seed: int = 0):
    rng = np.random.default_rng(seed)
    shape = (n, h, w) if channels is None else (n, h, w, channels)
    images = rng.integers(1, 256, size=shape, dtype=np.uint8)  # no zero pixel: masking is visible
    labels = np.arange(n) % 10
    return images, labels


def _save(tmp_path, name: str = "set.npz", **arrays) -> str:
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


@pytest.mark.parametrize("render_mode", [None, "rgb_array"])
def test_gymnasium_check_env_without_warnings(render_mode):
    env = gym.make(ENV_ID, render_mode=render_mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_sb3_check_env_default_and_rgb_sets():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default 40x40x3 observation is a valid SB3 image
        sb3_check_env(gym.make(ENV_ID).unwrapped)
    rgb = gym.make(ENV_ID, dataset=_user_set(channels=3)).unwrapped
    assert rgb.observation_space.shape == (32, 32, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(rgb)
    with pytest.warns(UserWarning, match="minimal resolution for an image is 36x36"):
        sb3_check_env(rgb)  # 32x32 user images: SB3 only warns that NatureCNN needs 36x36


def test_spaces_components_and_catalog():
    env = gym.make(ENV_ID).unwrapped
    assert env.observation_space == gym.spaces.Box(0, 255, (40, 40, 3), np.uint8)
    assert env.action_space == gym.spaces.Discrete(14)
    assert env.component_names == tuple(f"class_{k}" for k in range(10))
    info = rayenvs.env_info(ENV_ID)
    assert info.num_components == 10 and info.random_return == GLIMPSE_RANDOM_RETURN


def test_seed_selects_image_and_wraps():
    env = GlimpseEnv(split="test")
    for seed in (0, 7, 1999):
        obs, info = env.reset(seed=seed)
        image, label = glyph_example("test", seed)
        assert info == {"component": label, "image_index": seed}
        assert label == seed % 10
        assert np.array_equal(env.image[:, :, 0], image)
    _, info = env.reset(seed=DEFAULT_SPLIT_SIZES["test"] + 3)
    assert info["image_index"] == 3
    images, labels = _user_set(n=20)
    user = GlimpseEnv(dataset=(images, labels))  # train split = first 16 images
    _, info = user.reset(seed=5)
    assert np.array_equal(user.image[:, :, 0], images[5]) and info["component"] == labels[5]
    _, info = user.reset(seed=17)
    assert info["image_index"] == 1 and np.array_equal(user.image[:, :, 0], images[1])


def test_unseeded_reset_draws_from_np_random():
    a, b = GlimpseEnv(), GlimpseEnv()
    a.reset(seed=42)
    b.reset(seed=42)
    idx_a = [a.reset()[1]["image_index"] for _ in range(20)]
    idx_b = [b.reset()[1]["image_index"] for _ in range(20)]
    assert idx_a == idx_b
    assert len(set(idx_a)) > 15 and all(0 <= i < DEFAULT_SPLIT_SIZES["train"] for i in idx_a)


def test_splits_are_disjoint():
    train = {glyph_example("train", i)[0].tobytes() for i in range(300)}
    test = {glyph_example("test", i)[0].tobytes() for i in range(300)}
    assert len(train) == 300 and len(test) == 300
    assert not train & test
    images, labels = _user_set(n=10)
    tr = GlimpseEnv(split="train", dataset=(images, labels), test_fraction=0.3)
    te = GlimpseEnv(split="test", dataset=(images, labels), test_fraction=0.3)
    assert len(tr.images) == 7 and len(te.images) == 3
    assert np.array_equal(tr.images.images[:, :, :, 0], images[:7])
    assert np.array_equal(te.images.images[:, :, :, 0], images[7:])


def test_initial_observation_reveals_only_the_centre_window():
    env = GlimpseEnv()
    obs, _ = env.reset(seed=3)
    image = env.image[:, :, 0]
    expected = np.zeros((40, 40), dtype=bool)
    expected[16:24, 16:24] = True
    assert obs.dtype == np.uint8 and obs.shape == (40, 40, 3)
    assert np.array_equal(obs[:, :, 0], np.where(expected, image, 0))
    assert np.array_equal(obs[:, :, 1], expected * 255)
    assert np.array_equal(obs[:, :, 2], expected * 255)


def test_moves_reveal_the_right_pixels():
    env = GlimpseEnv()
    env.reset(seed=0)
    image = env.image[:, :, 0]
    revealed = np.zeros((40, 40), dtype=bool)
    revealed[16:24, 16:24] = True
    path = [
        (MOVE_UP, (8, 16)),
        (MOVE_UP, (0, 16)),
        (MOVE_UP, (0, 16)),  # off the image: no move
        (MOVE_RIGHT, (0, 24)),
        (MOVE_RIGHT, (0, 32)),
        (MOVE_RIGHT, (0, 32)),
        (MOVE_DOWN, (8, 32)),
        (MOVE_LEFT, (8, 24)),
    ]
    for action, (r, c) in path:
        obs, reward, terminated, truncated, _ = env.step(action)
        assert env.window == (r, c)
        revealed[r : r + 8, c : c + 8] = True
        window = np.zeros((40, 40), dtype=bool)
        window[r : r + 8, c : c + 8] = True
        assert reward == 0.0 and not terminated and not truncated
        assert np.array_equal(obs[:, :, 0], np.where(revealed, image, 0))
        assert np.array_equal(obs[:, :, 1], revealed * 255)
        assert np.array_equal(obs[:, :, 2], window * 255)


def test_windows_clip_on_images_that_do_not_tile():
    env = GlimpseEnv(dataset=_user_set(h=32, w=32))
    obs, _ = env.reset(seed=0)
    assert env.window == (12, 12) and obs[:, :, 1].sum() == 64 * 255
    env.step(MOVE_UP)
    env.step(MOVE_UP)
    assert env.window == (-4, 12)
    obs, *_ = env.step(MOVE_UP)  # would leave the image wholly: no move
    assert env.window == (-4, 12)
    assert np.array_equal(obs[0:4, 12:20, 2], np.full((4, 8), 255))
    assert obs[:, :, 2].sum() == 32 * 255
    assert np.array_equal(obs[:, :, 1] > 0, np.pad(np.ones((20, 8), bool), ((0, 12), (12, 12))))


def test_correct_and_wrong_answers():
    env = GlimpseEnv()
    _, info = env.reset(seed=13)
    label = info["component"]
    wrong = (label + 1) % 10
    obs, reward, terminated, truncated, info = env.step(wrong)
    assert (reward, terminated, truncated) == (0.0, False, False)
    check_component_info(info, reward, 10, done=False)
    assert set(info) == {"component_rewards", "component", "component_returns", "component_present"}
    assert info["component"] == label and info["component_returns"].sum() == 0.0  # running sums, nothing yet
    assert info["component_present"].tolist() == (np.arange(10) == label).tolist()
    assert np.array_equal(obs[:, :, 1], env._obs()[:, :, 1])  # answering moves nothing
    obs, reward, terminated, truncated, info = env.step(np.int64(label))
    assert (reward, terminated, truncated) == (1.0, True, False)
    check_component_info(info, reward, 10, done=True)
    expected = np.zeros(10)
    expected[label] = 1.0
    assert np.array_equal(info["component_rewards"], expected)
    assert np.array_equal(info["component_returns"], expected)
    assert info["component_present"].tolist() == (np.arange(10) == label).tolist()
    with pytest.raises(ResetNeeded):
        env.step(0)


def test_truncation_after_max_steps():
    env = GlimpseEnv()
    _, info = env.reset(seed=1)
    wrong = (info["component"] + 1) % 10
    for t in range(1, 21):
        action = wrong if t % 2 else MOVE_LEFT
        _, reward, terminated, truncated, info = env.step(action)
        assert reward == 0.0 and not terminated
        assert truncated == (t == 20)
    check_component_info(info, 0.0, 10, done=True)
    assert info["component_returns"].sum() == 0.0 and info["component_present"].sum() == 1
    short = GlimpseEnv(max_steps=3)
    _, info = short.reset(seed=0)
    short.step(MOVE_UP)
    short.step(MOVE_UP)
    _, reward, terminated, truncated, _ = short.step(info["component"])  # right at the limit
    assert (reward, terminated, truncated) == (1.0, True, False)


@pytest.mark.parametrize("answer_at", [None, 3])
def test_outer_time_limit_carries_episode_totals(answer_at):
    """``gym.make(id, max_episode_steps=N)`` truncates through Gymnasium's TimeLimit (the env's own limit stays
    20); whichever step ends the episode holds its component totals and presence."""
    env = gym.make(ENV_ID, max_episode_steps=5)
    assert isinstance(env, gym.wrappers.TimeLimit) and env.unwrapped.max_steps == 20
    for seed in range(3):
        _, info = env.reset(seed=seed)
        label = info["component"]
        total = np.zeros(10)
        for t in range(1, 6):
            action = label if t == answer_at else (label + 1) % 10 if t % 2 else MOVE_RIGHT
            _, reward, terminated, truncated, info = env.step(action)
            check_component_info(info, reward, 10, done=terminated or truncated)
            total += info["component_rewards"]
            assert np.array_equal(info["component_returns"], total)
            if terminated or truncated:
                break
        if answer_at is None:
            assert (t, terminated, truncated) == (5, False, True)  # cut by the TimeLimit, not the env
            assert env.unwrapped.steps == 5 < env.unwrapped.max_steps
        else:
            assert (t, terminated, truncated) == (answer_at, True, False)
        assert total.sum() == (answer_at is not None)
        assert info["component_present"].tolist() == (np.arange(10) == label).tolist()


def test_invalid_actions():
    env = GlimpseEnv()
    with pytest.raises(ResetNeeded):
        env.step(0)
    env.reset(seed=0)
    for action in (14, -1, 1.5, True, "3"):
        with pytest.raises(ValueError, match=r"must be an integer in \[0, 13\]"):
            env.step(action)
    env.step(np.array(MOVE_UP))


def test_seeded_determinism_and_pickle_round_trip():
    def rollout(env, actions):
        return [env.step(a) for a in actions]

    actions = [MOVE_UP, 3, MOVE_LEFT, MOVE_DOWN, 7, MOVE_RIGHT]
    a, b = gym.make(ENV_ID), gym.make(ENV_ID)
    assert data_equivalence(a.reset(seed=9), b.reset(seed=9), exact=True)
    assert data_equivalence(rollout(a, actions[:3]), rollout(b, actions[:3]), exact=True)
    clone = pickle.loads(pickle.dumps(a))
    assert data_equivalence(rollout(a, actions[3:]), rollout(clone, actions[3:]), exact=True)
    assert data_equivalence(a.reset(), clone.reset(), exact=True)


def test_close_twice():
    env = gym.make(ENV_ID, render_mode="rgb_array")
    env.reset(seed=0)
    env.close()
    env.close()


def test_render_rgb_array():
    env = GlimpseEnv(render_mode="rgb_array")
    with pytest.raises(ResetNeeded):
        env.render()
    env.reset(seed=2)
    frame = env.render()
    assert frame.shape == (40, 40, 3) and frame.dtype == np.uint8
    assert frame[0, 0].tolist() == [0, 0, 64]  # hidden
    assert frame[16, 16].tolist() == [255, 0, 0] and frame[23, 20].tolist() == [255, 0, 0]  # window outline
    inner = env.image[18, 18, 0]
    assert frame[18, 18].tolist() == [inner] * 3
    assert GlimpseEnv().render() is None


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"labels": np.zeros(4, int)}, r"lacks the key\(s\) \['images'\]"),
        ({"images": np.zeros((4, 16, 16), np.uint8)}, r"lacks the key\(s\) \['labels'\]"),
        ({"images": np.zeros((4, 16, 16)), "labels": np.zeros(4, int)}, r"'images' must have dtype uint8"),
        ({"images": np.zeros((4, 16), np.uint8), "labels": np.zeros(4, int)}, r"shape \(N, H, W\) or"),
        ({"images": np.zeros((4, 16, 16), np.uint8), "labels": np.zeros(3, int)}, r"must have shape \(4,\)"),
        (
            {"images": np.zeros((4, 16, 16), np.uint8), "labels": np.array([0, 1, 10, 2])},
            r"\[0, 9\], found 10",
        ),
        ({"images": np.zeros((4, 16, 16), np.uint8), "labels": np.array([0, -1, 1, 2])}, r"found -1"),
        ({"images": np.zeros((4, 16, 16), np.uint8), "labels": np.zeros(4)}, r"'labels' must be integers"),
        ({"images": np.zeros((4, 6, 16), np.uint8), "labels": np.zeros(4, int)}, r"6x16 px are smaller than"),
        ({"images": np.zeros((1, 16, 16), np.uint8), "labels": np.zeros(1, int)}, r"at least 2 images"),
    ],
)
def test_malformed_npz_files(tmp_path, arrays, message):
    path = _save(tmp_path, **arrays)
    with pytest.raises(ValueError, match=message) as err:
        gym.make(ENV_ID, dataset=path)
    assert "set.npz" in str(err.value)


def test_bad_dataset_sources_and_kwargs(tmp_path):
    with pytest.raises(ValueError, match="is not an existing .npz file"):
        GlimpseEnv(dataset=str(tmp_path / "missing.npz"))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="could not be read as an .npz file"):
        GlimpseEnv(dataset=junk)
    with pytest.raises(ValueError, match="dataset of type int must be None, a path"):
        GlimpseEnv(dataset=3)
    with pytest.raises(ValueError, match=r"split='val' must be one of \('train', 'test'\)"):
        GlimpseEnv(split="val")
    for bad in (0, 1, 1.5, True):
        with pytest.raises(ValueError, match=rf"test_fraction={bad!r} must be a number in \(0, 1\)"):
            GlimpseEnv(test_fraction=bad)
    with pytest.raises(ValueError, match=r"test_fraction=0.01 leaves an empty split of 10 images"):
        GlimpseEnv(dataset=_user_set(n=10), test_fraction=0.01)
    for bad in (0, -3, 2.0):
        with pytest.raises(ValueError, match=rf"max_steps={bad!r} must be an integer >= 1"):
            GlimpseEnv(max_steps=bad)
    with pytest.raises(ValueError, match=r"render_mode='human' must be None or one of \['rgb_array'\]"):
        GlimpseEnv(render_mode="human")


def test_user_npz_round_trip(tmp_path):
    images, labels = _user_set(n=10, h=24, w=16, channels=3)
    env = gym.make(ENV_ID, dataset=_save(tmp_path, images=images, labels=labels), split="test")
    obs, info = env.reset(seed=1)
    assert obs.shape == (24, 16, 5)
    assert info == {"component": int(labels[9]), "image_index": 1}
    assert np.array_equal(env.unwrapped.image, images[9])
    assert env.unwrapped.window == (8, 4)
    assert np.array_equal(obs[8:16, 4:12, :3], images[9, 8:16, 4:12])


def test_random_policy_return_matches_catalog():
    """Mean return of a uniform-random policy over 10,000 seeded episodes: the catalog's random_return."""
    env = GlimpseEnv()
    rng = np.random.default_rng(0)
    returns = np.zeros(10_000)
    for episode in range(10_000):
        env.reset(seed=episode)
        done = False
        while not done:
            _, reward, terminated, truncated, info = env.step(int(rng.integers(14)))
            returns[episode] += reward
            done = terminated or truncated
        assert info["component_returns"].sum() == returns[episode]
    assert round(float(returns.mean()), 4) == GLIMPSE_RANDOM_RETURN
    exact = 1 - (13 / 14) ** 20
    assert abs(returns.mean() - exact) < 3 * returns.std() / 100


@pytest.mark.parametrize("policy", ["MlpPolicy", "CnnPolicy"])
def test_sb3_ppo_smoke(policy):
    env = gym.make(ENV_ID)
    model = PPO(policy, env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=128)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(int(action))


def test_num_images_limits_the_training_set_and_defaults_to_the_whole_split():
    import gymnasium as gym

    small = GlimpseEnv(num_images=30)
    assert small.num_images == 30 and GlimpseEnv().num_images == DEFAULT_SPLIT_SIZES["train"]
    _, info = small.reset(seed=31)
    image, label = glyph_example("train", 1)
    assert info == {"component": label, "image_index": 1} and np.array_equal(small.image[:, :, 0], image)
    small.reset(seed=0)
    assert {small.reset()[1]["image_index"] for _ in range(200)} == set(range(30))
    # the registered id is unchanged: image index = seed mod 10,000
    registered = gym.make("rayenvs/Glimpse-v0")
    assert registered.reset(seed=12_345)[1]["image_index"] == 2_345
    assert registered.unwrapped.num_images == DEFAULT_SPLIT_SIZES["train"]
    for bad in (0, DEFAULT_SPLIT_SIZES["test"] + 1, 2.5, True):
        with pytest.raises(ValueError, match=rf"num_images={bad!r} must be an integer in \[1, 2000\]"):
            GlimpseEnv(split="test", num_images=bad)
