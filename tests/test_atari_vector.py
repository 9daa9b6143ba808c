"""The Atari vector entry point (ale_py's C++ AtariVectorEnv + numpy wrappers) against the single-env path.

The reference is what ``gym.make_vec`` built before: ``SyncVectorEnv`` of the single-env stacks, here with
SAME_STEP autoreset. On seeds whose ALE seed fits ALE's vector interface (:func:`ale_seed`) every array and
info key must be equal, step for step, across truncations and autoresets; the mask draws come in blocks, so
the block is shrunk to cross its refills.
"""

import numpy as np
import pytest

pytest.importorskip("ale_py")
pytest.importorskip("cv2")

import gymnasium as gym  # noqa: E402
from gymnasium.vector import AutoresetMode  # noqa: E402

import rayenvs  # noqa: E402, F401
from rayenvs.contract import check_component_info  # noqa: E402
from wrappers import atari_vector  # noqa: E402
from wrappers.atari_vector import AtariPresetVectorEnv, ale_seed, make_atari_vector_env  # noqa: E402
from wrappers.reward_mask import _MASK_STREAM  # noqa: E402

MASKED = "rayenvs/Atari-Phoenix-Masked-v0"
FITTING = (1, 4, 6, 8)  # seeds < 10 whose ALE seed is below 2**31: the single env's episodes exactly
SEEDS = [1, 4, 6]


def _sync(env_id: str, n: int, **kwargs):
    return gym.make_vec(
        env_id, n, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kwargs
    )


def _assert_infos_equal(ref: dict, ours: dict, where: str) -> None:
    """Same keys and masks; equal values wherever the mask is set (masked-out rows are unspecified)."""
    assert set(ref) == set(ours), f"{where}: keys differ by {set(ref) ^ set(ours)}"
    for key, value in ref.items():
        if key.startswith("_"):
            np.testing.assert_array_equal(ours[key], value, err_msg=f"{where}: mask {key}")
        elif isinstance(value, dict):
            _assert_infos_equal(value, ours[key], f"{where}.{key}")
        else:
            for i in np.flatnonzero(ref[f"_{key}"]):
                np.testing.assert_array_equal(np.asarray(ours[key][i]), np.asarray(value[i]), err_msg=f"{where}: {key}[{i}]")


def test_ale_seed_is_the_single_envs_where_it_fits():
    _, info = gym.make("rayenvs/Atari-Phoenix-v0").reset(seed=1)
    assert ale_seed(1) == int(info["seeds"][1])  # what AtariEnv.reset(seed=1) gave ALE
    for seed in range(10):
        derived = int(np.random.SeedSequence(seed).generate_state(2)[1])
        assert ale_seed(seed) == derived & 0x7FFFFFFF
        assert (ale_seed(seed) == derived) == (seed in FITTING)


def test_make_vec_builds_the_ale_vector_env_with_the_single_envs_spaces():
    venv = gym.make_vec(MASKED, 2)
    single = gym.make(MASKED)
    assert isinstance(venv.unwrapped, AtariPresetVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert venv.single_observation_space == single.observation_space
    assert venv.single_action_space == single.action_space
    assert venv.component_names == single.unwrapped.component_names == tuple(f"life_{i}" for i in range(5))
    obs, _ = venv.reset(seed=0)
    assert obs in venv.observation_space
    _, rewards, terminated, truncated, _ = venv.step(np.zeros(2, dtype=np.int64))
    assert rewards.dtype == np.float64 and terminated.dtype == truncated.dtype == np.bool_
    venv.close()


@pytest.mark.parametrize(
    ("env_id", "components", "n"), [(MASKED, "life", 3), ("rayenvs/Atari-Qbert-v0", "reward_value", 2)]
)
def test_same_steps_as_sync_vector_env(monkeypatch, env_id, components, n):
    """Observations (frame-stack padding included), rewards, ends, final obs and every info key."""
    monkeypatch.setattr(atari_vector, "_MASK_BLOCK", 7)
    kwargs = {"components": components, "max_episode_steps": 20}
    ref, ours = _sync(env_id, n, **kwargs), gym.make_vec(env_id, n, **kwargs)
    ref_obs, ref_info = ref.reset(seed=SEEDS[:n])
    obs, info = ours.reset(seed=SEEDS[:n])
    np.testing.assert_array_equal(obs, ref_obs)
    ref_info = {k: v for k, v in ref_info.items() if k not in ("seeds", "_seeds")}
    _assert_infos_equal(ref_info, info, "reset")
    rng = np.random.default_rng(0)
    ends = 0
    for t in range(42):
        actions = rng.integers(ours.single_action_space.n, size=n)
        r, o = ref.step(actions), ours.step(actions)
        for name, x, y in zip(("obs", "rewards", "terminated", "truncated"), r[:4], o[:4], strict=True):
            np.testing.assert_array_equal(y, x, err_msg=f"step {t}: {name}")
        _assert_infos_equal(r[4], o[4], f"step {t}")
        ends += int((r[2] | r[3]).sum())
    assert ends == 2 * n  # two truncations per sub-env: autoresets and continued streams are covered


def test_component_contract_running_sums_and_mask_stream():
    """Contract invariants per sub-env and step; the mask is exactly RewardMask's: sub-env i of
    ``reset(seed=3)`` keeps a reward iff its stream ``default_rng([3 + i, _MASK_STREAM])`` draws >= 0.9, one
    draw per step, continued across the autoresets."""
    venv = gym.make_vec(MASKED, 4, components="reward_value", max_episode_steps=60)
    k = len(venv.component_names)
    venv.reset(seed=3)
    steps = 150
    draws = [np.random.default_rng([3 + i, _MASK_STREAM]).random(steps) for i in range(4)]
    rng = np.random.default_rng(1)
    sums, raw = np.zeros((4, k)), np.zeros(4)
    finished, scored = 0, 0
    for t in range(steps):
        _, rewards, terminated, truncated, infos = venv.step(rng.integers(8, size=4))
        done = terminated | truncated
        for i in range(4):
            src = infos["final_info"] if done[i] else infos
            step = {key: src[key][i] for key in src if not key.startswith("_") and src[f"_{key}"][i]}
            step["component"] = int(step["component"])
            check_component_info(step, float(rewards[i]), k, bool(done[i]))
            sums[i] += step["component_rewards"]
            raw[i] += step["raw_reward"]
            np.testing.assert_allclose(step["component_returns"], sums[i])
            assert step["raw_return"] == raw[i] == step["raw_component_returns"].sum()
            assert step["unmasked_reward"] == np.sign(step["raw_reward"])
            assert rewards[i] == (step["unmasked_reward"] if draws[i][t] >= 0.9 else 0.0)
            scored += step["unmasked_reward"] != 0
            if done[i]:
                assert truncated[i] and not terminated[i]
                assert "_component_rewards" not in infos or not infos["_component_rewards"][i]
                sums[i], raw[i] = 0.0, 0.0
                finished += 1
    assert finished == 8 and scored >= 5


def test_block_draws_equal_one_draw_per_step():
    g, h = np.random.default_rng([3, 1]), np.random.default_rng([3, 1])
    np.testing.assert_array_equal(np.concatenate([g.random(7) for _ in range(5)]), [h.random() for _ in range(35)])


def test_partial_reset_and_padding():
    venv = gym.make_vec("rayenvs/Atari-Phoenix-v0", 3)
    obs, _ = venv.reset(seed=1)
    assert all(np.array_equal(obs[i, j], obs[i, 3]) for i in range(3) for j in range(3))  # reset frame x4
    for _ in range(2):
        obs, *_ = venv.step(np.array([2, 2, 2]))
    again, info = venv.reset(seed=[None, 4, None], options={"reset_mask": np.array([False, True, False])})
    np.testing.assert_array_equal(again[[0, 2]], obs[[0, 2]])  # untouched sub-envs keep their observation
    np.testing.assert_array_equal(info["_lives"], [False, True, False])
    fresh, _ = gym.make_vec("rayenvs/Atari-Phoenix-v0", 2).reset(seed=3)  # sub-env 1 of seed 3 is seed 4
    np.testing.assert_array_equal(again[1], fresh[1])
    venv.close()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"render_mode": "rgb_array"}, r"render_mode='rgb_array' is not supported.*vectorization_mode='sync'"),
        ({"autoreset_mode": AutoresetMode.NEXT_STEP}, r"autoreset_mode=.*NEXT_STEP.*vectorization_mode='sync'"),
        ({"max_episode_steps": 0}, r"max_episode_steps=0 must be None or an int >= 1"),
        ({"num_threads": -1}, r"num_threads=-1 must be an int >= 0"),
        ({"mask_prob": 2.0}, r"mask_prob=2.0 must be in \[0, 1\]"),
        ({"components": "score"}, r"components='score'.*\('life', 'reward_value'\)"),
        ({"game": "Pong"}, r"game='Pong'.*Phoenix"),
    ],
)
def test_bad_arguments_fail_at_make(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make_vec(MASKED, 2, **kwargs)


def test_bad_calls():
    venv = make_atari_vector_env(2, "Phoenix")
    with pytest.raises(RuntimeError, match="before reset"):
        venv.step(np.zeros(2, dtype=np.int64))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 7\]"):
        venv.step(np.array([0, 8]))
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        venv.step(np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": np.zeros(2, dtype=bool)})
    with pytest.raises(ValueError, match="seed list"):
        venv.reset(seed=[1])
    with pytest.raises(ValueError, match="num_envs=0"):
        make_atari_vector_env(0, "Phoenix")


def test_sb3_training_env_goes_through_the_vector_entry_point():
    from baselines.training.vec_env import component_names_of, make_train_env

    env = make_train_env("rayenvs/Atari-Phoenix-v0", 2, {"max_episode_steps": 5})
    assert component_names_of(env.venv.venv, "rayenvs/Atari-Phoenix-v0") == tuple(f"life_{i}" for i in range(5))
    env.seed(0)
    env.reset()
    for _ in range(5):
        obs, rewards, dones, infos = env.step(np.array([1, 2]))
    assert obs.shape == (2, 4, 84, 84) and dones.all()
    assert all(i["TimeLimit.truncated"] and i["terminal_observation"].shape == (4, 84, 84) for i in infos)
    assert all(i["episode"]["l"] == 5 and "component_returns" in i for i in infos)
    env.close()


@pytest.mark.slow
def test_first_episode_to_game_over_equals_the_single_env():
    """Seed 6's first random-policy game ends mid-step at frame 3082 (step 1028): equal to its last step."""
    ref, ours = _sync("rayenvs/Atari-Phoenix-v0", 1), gym.make_vec("rayenvs/Atari-Phoenix-v0", 1)
    ref.reset(seed=6)
    ours.reset(seed=6)
    rng = np.random.default_rng(0)
    for t in range(3000):
        actions = rng.integers(8, size=3)[2:]  # the action stream sub-env 2 saw in the measurement
        r, o = ref.step(actions), ours.step(actions)
        for x, y in zip(r[:4], o[:4], strict=True):
            np.testing.assert_array_equal(y, x, err_msg=f"step {t}")
        _assert_infos_equal(r[4], o[4], f"step {t}")
        if r[2][0]:
            assert r[4]["final_info"]["lives"][0] == 0
            return
    pytest.fail("no game over in 3000 steps")
