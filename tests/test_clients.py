"""Third-party clients nobody here wrote, driven for real: SB3 (make_vec_env, SubprocVecEnv, VecMonitor,
PPO.load), Gymnasium (spec JSON round trip, max_episode_steps, vector rendering)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

import rayenvs  # noqa: F401  (registers the ids)
from rayenvs.registration import CATALOG

DISCRETE_IDS = sorted(i for i, info in CATALOG.items() if info.family in ("bandit", "multiroom", "glimpse", "atari"))
BANDIT_IDS = sorted(i for i, info in CATALOG.items() if info.family == "bandit")


def test_every_discrete_id_has_the_expected_families() -> None:
    assert len(BANDIT_IDS) == 6 and len(DISCRETE_IDS) >= 6 + 12


@pytest.mark.parametrize("env_id", DISCRETE_IDS)
def test_sb3_make_vec_env_steps_every_discrete_id(env_id: str) -> None:
    """SB3's default make_vec_env asks each env for render_mode="rgb_array"; every discrete id accepts it."""
    venv = make_vec_env(env_id, n_envs=2, seed=0)
    try:
        obs = venv.reset()
        assert obs.shape == (2, *venv.observation_space.shape)
        for _ in range(3):
            obs, rewards, dones, infos = venv.step(np.array([venv.action_space.sample() for _ in range(2)]))
        assert rewards.shape == (2,) and len(infos) == 2
        frames = venv.get_images()
        assert len(frames) == 2 and all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in frames)
    finally:
        venv.close()


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_bandit_render_changes_no_step_and_shows_context_and_action(env_id: str) -> None:
    plain, shown = gym.make(env_id), gym.make(env_id, render_mode="rgb_array")
    k, n = plain.unwrapped.num_contexts, plain.unwrapped.num_arms
    for ep in range(20):
        (o1, i1), (o2, i2) = plain.reset(seed=ep), shown.reset(seed=ep)
        assert np.array_equal(o1, o2) and i1 == i2
        frame = shown.render()
        context = i2["component"]
        assert frame.shape == (24, 12 * max(k, n), 3)
        assert (frame[0, 12 * context] == 255).all() and (frame[12:, :] != [0, 200, 0]).any(axis=-1).all()
        action = ep % n
        r1, r2 = plain.step(action)[1], shown.step(action)[1]
        assert r1 == r2
        lit = shown.render()[12, 12 * action]
        assert tuple(lit) == ((0, 200, 0) if action == context else (220, 0, 0))


def test_subproc_vec_env_with_the_module_prefix() -> None:
    """Spawned workers start without rayenvs imported; the `rayenvs:` prefix makes Gymnasium import it."""
    venv = make_vec_env("rayenvs:rayenvs/Bandit-K2n2-v0", n_envs=2, seed=3, vec_env_cls=SubprocVecEnv,
                        vec_env_kwargs={"start_method": "spawn"})
    try:
        ref = make_vec_env("rayenvs/Bandit-K2n2-v0", n_envs=2, seed=3)
        obs, want = venv.reset(), ref.reset()
        assert np.array_equal(obs, want)
        actions = np.array([0, 1])
        got, ref_step = venv.step(actions), ref.step(actions)
        assert np.array_equal(got[0], ref_step[0]) and np.array_equal(got[1], ref_step[1])
    finally:
        venv.close()


@pytest.mark.parametrize("native", [False, True])
def test_vec_monitor_reports_component_returns(native: bool) -> None:
    """VecMonitor(info_keywords=("component_returns",)) puts the per-component returns next to "r"."""
    from baselines.training.vec_env import make_train_env

    env_id = "rayenvs/MultiRoom-R2-v0"
    venv = make_train_env(env_id, 4) if native else DummyVecEnv([lambda: gym.make(env_id)] * 4)
    venv = VecMonitor(venv, info_keywords=("component_returns",))
    venv.seed(0)
    venv.reset()
    episodes = []
    rng = np.random.default_rng(0)
    while len(episodes) < 6:
        _, _, dones, infos = venv.step(rng.integers(0, venv.action_space.n, size=4))
        episodes += [info["episode"] for info, done in zip(infos, dones, strict=True) if done]
    venv.close()
    for ep in episodes:
        comps = np.asarray(ep["component_returns"])
        assert comps.shape == (2,) and comps.sum() == pytest.approx(ep["r"], abs=1e-6)


def test_plain_sb3_ppo_load_opens_a_paper_settings_zip(tmp_path) -> None:
    """The paper's separate actor/critic optimizers are saved as one Adam state (exact per parameter), so
    stable_baselines3.PPO.load opens the zip, and RayPPO.load gets both optimizers back bit for bit."""
    import torch as th

    from baselines.ppo.rayppo import RayPPO

    venv = make_vec_env("rayenvs/MultiRoom-R2-v0", n_envs=2, seed=0)
    model = RayPPO("MlpPolicy", venv, settings="paper", n_steps=32, batch_size=32, n_epochs=2, seed=0)
    model.learn(64)
    path = tmp_path / "paper.zip"
    model.save(path)
    obs = venv.reset()
    plain = PPO.load(path, device="cpu")
    assert np.array_equal(plain.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])
    for a, b in zip(model.policy.parameters(), plain.policy.parameters(), strict=True):
        assert th.equal(a.detach().cpu(), b.detach().cpu())
    back = RayPPO.load(path, env=venv, device="cpu")
    assert len(back.optimizers()) == 2
    for a, b in zip(model.optimizers(), back.optimizers(), strict=True):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa["param_groups"][0]["params"] == sb["param_groups"][0]["params"] and len(sa["state"]) > 0
        for key in sa["state"]:
            assert th.equal(sa["state"][key]["exp_avg_sq"], sb["state"][key]["exp_avg_sq"])
            assert th.equal(sa["state"][key]["step"], sb["state"][key]["step"])
    back.learn(32)  # and it trains on
    venv.close()


def _make_kwargs(env_id: str) -> dict:
    return {"warmup_steps": 20} if CATALOG[env_id].family == "mujoco" else {}


@pytest.mark.parametrize("env_id", sorted(CATALOG))
def test_every_spec_survives_json_and_makes(env_id: str) -> None:
    spec = gym.spec(env_id)
    back = EnvSpec.from_json(spec.to_json())
    assert back == spec
    env = gym.make(back, **_make_kwargs(env_id))
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.close()


def test_mujoco_max_episode_steps_is_honoured() -> None:
    for limit, want in ((1500, 1500), (None, 1000), (7, 7)):
        extra = {} if limit is None else {"max_episode_steps": limit}
        env = gym.make("rayenvs/MuJoCo-HalfCheetah-v0", warmup_steps=20, **extra)
        env.reset(seed=0)
        env.action_space.seed(0)
        steps, truncated = 0, False
        while not truncated:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            steps += 1
            assert not terminated  # HalfCheetah never terminates: only the time limit ends it
        assert steps == want
        env.close()


@pytest.mark.parametrize("env_id", ["rayenvs/Bandit-K4n4-v0", "rayenvs/MultiRoom-R2-v0"])
def test_native_vector_envs_render(env_id: str) -> None:
    venv = gym.make_vec(env_id, num_envs=3, render_mode="rgb_array")
    plain = gym.make_vec(env_id, num_envs=3)
    assert venv.metadata["autoreset_mode"] == gym.vector.AutoresetMode.SAME_STEP
    a, _ = venv.reset(seed=1)
    b, _ = plain.reset(seed=1)
    assert np.array_equal(a, b)
    actions = np.array([0, 1, 2])
    for _ in range(5):
        sa, sb = venv.step(actions), plain.step(actions)
        for x, y in zip(sa[:4], sb[:4], strict=True):
            assert np.array_equal(x, y)
    frames = venv.render()
    assert isinstance(frames, tuple) and len(frames) == 3
    assert all(f.ndim == 3 and f.shape[2] == 3 and f.dtype == np.uint8 for f in frames)
    single = gym.make(env_id, render_mode="rgb_array")
    single.reset(seed=0)
    assert frames[0].shape == single.render().shape
    assert plain.render() is None
    with pytest.raises(ValueError, match="render_mode='human' is not supported"):
        gym.make_vec(env_id, num_envs=2, render_mode="human")
