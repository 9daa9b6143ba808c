"""Tests of the contextual bandit env and its native vector env (rayenvs/envs/bandit.py)."""

from __future__ import annotations

import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils import seeding
from gymnasium.utils.env_checker import check_env, data_equivalence
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import DictInfoToList, RecordEpisodeStatistics
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import rayenvs
from rayenvs.contract import check_component_info
from rayenvs.envs.bandit import ContextualBanditEnv, ContextualBanditVectorEnv

BANDIT_IDS = sorted(i for i, info in rayenvs.CATALOG.items() if info.family == "bandit")


def _sync(env_id: str, num_envs: int, **kwargs) -> SyncVectorEnv:
    return SyncVectorEnv(
        [lambda: gym.make(env_id, **kwargs) for _ in range(num_envs)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )


def test_catalog_lists_every_bandit_id():
    assert BANDIT_IDS == [
        "rayenvs/Bandit-K2n2-v0",
        "rayenvs/Bandit-K2n8-v0",
        "rayenvs/Bandit-K4n4-v0",
        "rayenvs/Bandit-K8n16-v0",
        "rayenvs/Bandit-K8n8-v0",
        "rayenvs/ContextualBandit-v0",
    ]


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_gymnasium_check_env_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_sb3_check_env(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped, warn=True)


@pytest.mark.parametrize("env_id", BANDIT_IDS)
def test_spaces_and_component_names(env_id):
    env = gym.make(env_id).unwrapped
    k, n = env.num_contexts, env.num_arms
    assert env.observation_space == gym.spaces.Box(0.0, 1.0, (k,), np.float32)
    assert env.action_space == gym.spaces.Discrete(n)
    assert env.component_names == tuple(f"context_{i}" for i in range(k))
    assert len(env.component_names) == rayenvs.env_info(env_id).num_components


def test_exact_reward_obs_and_info_semantics():
    env = gym.make("rayenvs/ContextualBandit-v0", num_contexts=4, num_arms=8)
    seen = set()
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        context = int(np.argmax(obs))
        seen.add(context)
        assert obs.dtype == np.float32 and obs.tolist() == np.eye(4)[context].tolist()
        assert info == {"component": context}
        action = (context + seed % 2) % 8  # the right arm on even seeds, a wrong one on odd seeds
        obs2, reward, terminated, truncated, info = env.step(action)
        assert reward == (1.0 if seed % 2 == 0 else 0.0)
        assert terminated is True and truncated is False
        assert np.array_equal(obs2, obs)
        check_component_info(info, reward, 4, done=True)
        assert "episode" not in info
        assert info["component"] == context
        expected = np.zeros(4)
        expected[context] = reward
        assert np.array_equal(info["component_rewards"], expected)
        assert np.array_equal(info["component_returns"], expected)
        assert info["component_present"].tolist() == (np.arange(4) == context).tolist()
    assert seen == {0, 1, 2, 3}


def test_arms_beyond_contexts_never_pay():
    env = ContextualBanditEnv(num_contexts=2, num_arms=8)
    for seed in range(20):
        rewards = []
        for arm in range(8):
            obs, _ = env.reset(seed=seed)
            rewards.append(env.step(arm)[1])
        context = int(np.argmax(obs))
        assert rewards == [1.0 if arm == context else 0.0 for arm in range(8)]


def test_step_needs_reset_and_valid_action():
    env = ContextualBanditEnv()
    with pytest.raises(ResetNeeded):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action=5 must be an integer in \[0, 1\]"):
        env.step(5)
    env.step(0)
    with pytest.raises(ResetNeeded):
        env.step(0)


def test_seeded_determinism_and_unseeded_continuation():
    def run(seed):
        env = ContextualBanditEnv(num_contexts=8, num_arms=8)
        env.reset(seed=seed)
        out = [env.context]
        for _ in range(50):
            env.step(0)
            env.reset()
            out.append(env.context)
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_pickle_round_trip_keeps_state_and_rng():
    env = gym.make("rayenvs/Bandit-K8n8-v0")
    env.reset(seed=3)
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(30):
        a = env.step(1)
        b = clone.step(1)
        assert data_equivalence(a, b, exact=True)
        assert data_equivalence(env.reset(), clone.reset(), exact=True)


def test_close_twice():
    env = gym.make("rayenvs/Bandit-K2n2-v0")
    env.reset(seed=0)
    env.close()
    env.close()
    venv = gym.make_vec("rayenvs/Bandit-K2n2-v0", num_envs=3)
    venv.reset(seed=0)
    venv.close()
    venv.close()
    assert venv.closed


def test_context_frequencies_follow_context_probs():
    probs = [0.5, 0.3, 0.2, 0.0]
    env = gym.make("rayenvs/ContextualBandit-v0", num_contexts=4, num_arms=4, context_probs=probs)
    env.reset(seed=0)
    draws = 20_000
    counts = np.zeros(4)
    for _ in range(draws):
        counts[env.unwrapped.context] += 1
        env.step(0)
        env.reset()
    freq = counts / draws
    se = np.sqrt(np.array(probs) * (1 - np.array(probs)) / draws)
    assert counts[3] == 0
    assert np.all(np.abs(freq - probs) <= 4 * se + 1e-12), freq


def test_uniform_context_frequencies():
    venv = ContextualBanditVectorEnv(num_envs=1000, num_contexts=4, num_arms=4)
    venv.reset(seed=0)
    counts = np.zeros(4)
    for _ in range(20):
        counts += np.bincount(venv.contexts, minlength=4)
        venv.step(np.zeros(1000, dtype=np.int64))
    freq = counts / counts.sum()
    assert np.all(np.abs(freq - 0.25) < 4 * np.sqrt(0.25 * 0.75 / counts.sum())), freq


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_contexts": 0}, r"num_contexts=0 must be >= 1"),
        ({"num_contexts": 2.5}, r"num_contexts=2.5 must be an integer"),
        ({"num_contexts": True}, r"num_contexts=True must be an integer"),
        ({"num_contexts": 3, "num_arms": 2}, r"num_arms=2 must be >= num_contexts=3"),
        ({"context_probs": [1.0]}, r"context_probs=\[1.0\] must have length num_contexts=2"),
        ({"context_probs": [0.2, 0.3, 0.5]}, r"must have length num_contexts=2"),
        ({"context_probs": [1.5, -0.5]}, r"context_probs=\[1.5, -0.5\] must be finite and >= 0"),
        ({"context_probs": [0.5, float("nan")]}, r"must be finite and >= 0"),
        (
            {"context_probs": [0.5, 0.4]},
            r"context_probs=\[0.5, 0.4\] must sum to 1 \(within 1e-8\), sums to 0.9",
        ),
        ({"context_probs": ["a", "b"]}, r"must be a sequence of 2 numbers"),
        # "human" is no longer refused by gym.make, which wraps the new rgb_array mode in HumanRendering
        # (test_human_render_mode_goes_through_gymnasiums_human_rendering); "ansi" still is.
        ({"render_mode": "ansi"}, r"render_mode='ansi' is not supported"),
    ],
)
@pytest.mark.filterwarnings("ignore:.*render_mode='ansi'")
def test_bad_kwargs_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        gym.make("rayenvs/ContextualBandit-v0", **kwargs)
    with pytest.raises(ValueError, match=message):
        gym.make_vec("rayenvs/ContextualBandit-v0", num_envs=2, **kwargs)


@pytest.mark.filterwarnings("ignore:.*render_mode='human'")
def test_human_render_mode_goes_through_gymnasiums_human_rendering():
    from gymnasium.wrappers import HumanRendering

    with pytest.raises(ValueError, match=r"render_mode='human' is not supported"):
        ContextualBanditEnv(render_mode="human")
    with pytest.raises(ValueError, match=r"render_mode='human' is not supported"):
        gym.make_vec("rayenvs/ContextualBandit-v0", num_envs=2, render_mode="human")
    env = gym.make("rayenvs/ContextualBandit-v0", render_mode="human")
    assert isinstance(env, HumanRendering) and env.unwrapped.render_mode == "rgb_array"


def test_probs_within_tolerance_are_accepted():
    env = ContextualBanditEnv(context_probs=[0.5 + 5e-9, 0.5])
    assert env.context_probs.sum() == pytest.approx(1.0, abs=1e-15)
    with pytest.raises(ValueError, match="num_envs=0 must be >= 1"):
        ContextualBanditVectorEnv(num_envs=0)


# --- the native vector env -------------------------------------------------------------------------


def test_make_vec_builds_the_native_vector_env():
    venv = gym.make_vec("rayenvs/Bandit-K4n4-v0", num_envs=5)
    assert isinstance(venv, ContextualBanditVectorEnv)
    assert venv.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP
    assert venv.num_envs == 5
    assert venv.single_observation_space == gym.spaces.Box(0.0, 1.0, (4,), np.float32)
    assert venv.observation_space == gym.spaces.Box(0.0, 1.0, (5, 4), np.float32)
    assert venv.single_action_space == gym.spaces.Discrete(4)
    assert venv.action_space == gym.spaces.MultiDiscrete([4] * 5)
    assert venv.spec.id == "rayenvs/Bandit-K4n4-v0"
    assert venv.component_names == ("context_0", "context_1", "context_2", "context_3")
    obs, _ = venv.reset(seed=0)
    assert venv.observation_space.contains(obs)
    obs, reward, term, trunc, _ = venv.step(venv.action_space.sample())
    assert venv.observation_space.contains(obs)
    assert reward.dtype == np.float64 and term.all() and not trunc.any()


@pytest.mark.parametrize("probs", [None, [0.6, 0.1, 0.0, 0.3]])
def test_vector_streams_equal_single_envs(probs):
    n, seed, steps = 8, 11, 1100
    venv = ContextualBanditVectorEnv(n, num_contexts=4, num_arms=6, context_probs=probs)
    singles = [ContextualBanditEnv(4, 6, probs) for _ in range(n)]
    rng = np.random.default_rng(0)
    obs, info = venv.reset(seed=seed)
    for i, env in enumerate(singles):
        o, inf = env.reset(seed=seed + i)
        assert np.array_equal(obs[i], o) and info["component"][i] == inf["component"]
    for _ in range(steps):
        actions = rng.integers(0, 6, n)
        obs, rewards, term, trunc, info = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step(actions[i])
            assert rewards[i] == r and term[i] == te and trunc[i] == tr
            assert np.array_equal(info["final_obs"][i], o)
            for key, value in inf.items():
                assert np.array_equal(info["final_info"][key][i], value), key
            o, inf = env.reset()
            assert np.array_equal(obs[i], o) and info["component"][i] == inf["component"]


def test_numba_pcg64_streams_are_numpys_bit_for_bit():
    """The vector env's per-env streams: numba's PCG64 gives exactly ``Generator.random()``'s doubles, for
    fresh, unseeded and already-advanced generators, and leaves the state where numpy's would be."""
    from rayenvs.envs import bandit_kernels

    gens = [seeding.np_random(s)[0] for s in (0, 1, 2**63 + 5)] + [seeding.np_random(None)[0]]
    gens[1].random(7)  # mid-stream state
    states = np.zeros((len(gens), 4), dtype=np.uint64)
    bandit_kernels.pack_states(gens, states, np.arange(len(gens)))
    doubles = bandit_kernels.random_doubles(states, np.arange(len(gens)), 2000)
    assert np.array_equal(doubles, np.stack([g.random(2000) for g in gens]))
    after = np.zeros_like(states)
    bandit_kernels.pack_states(gens, after, np.arange(len(gens)))
    assert np.array_equal(states, after)
    with pytest.raises(ValueError, match="need PCG64 generators, got 'MT19937'"):
        bandit_kernels.pack_states([np.random.Generator(np.random.MT19937(0))], states, np.arange(1))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8])
def test_vector_step_accepts_any_integer_action_dtype(dtype):
    """The numba step compiles per action dtype; every dtype pays and draws exactly as int64 actions do."""
    a, b = ContextualBanditVectorEnv(6, 3, 5), ContextualBanditVectorEnv(6, 3, 5)
    a.reset(seed=4), b.reset(seed=4)
    actions = np.array([0, 1, 2, 3, 4, 1])
    for _ in range(3):
        ra, rb = a.step(actions), b.step(actions.astype(dtype))
        assert data_equivalence(ra, rb, exact=True)
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\]"):
        b.step(np.array([0, 1, 2, 3, 5, 1], dtype=dtype))


def test_vector_step_arrays_are_disjoint_and_writeable():
    """The info arrays share one allocation (glibc reuses it without page faults) but never overlap."""
    venv = ContextualBanditVectorEnv(5, num_contexts=3, num_arms=4)
    venv.reset(seed=0)
    obs, rewards, _, _, info = venv.step(np.array([0, 1, 2, 3, 0]))
    fin = info["final_info"]
    arrays = [obs, rewards, info["final_obs"], info["component"], *(fin[k] for k in fin if not k.startswith("_"))]
    for i, a in enumerate(arrays):
        assert a.flags.writeable and a.flags.c_contiguous
        for b in arrays[i + 1 :]:
            assert not np.shares_memory(a, b)
    assert fin["component_returns"].dtype == np.float64 and fin["component_present"].dtype == np.bool_
    fin["component_rewards"][:] = 5.0  # writing one leaves the others as they were
    assert fin["component_returns"].sum() == rewards.sum() and info["final_obs"].sum() == 5.0


def test_vector_env_equals_sync_vector_env_exactly():
    """Same obs, rewards, flags and infos (keys, dtypes, `_key` masks, final_obs, final_info) as Gymnasium's."""
    n = 6
    native = gym.make_vec("rayenvs/Bandit-K2n8-v0", num_envs=n)
    sync = _sync("rayenvs/Bandit-K2n8-v0", n)
    assert data_equivalence(native.reset(seed=5), sync.reset(seed=5), exact=True)
    rng = np.random.default_rng(1)
    for _ in range(40):
        actions = rng.integers(0, 8, n)
        a, b = native.step(actions), sync.step(actions)
        # Everything equals Gymnasium's, except that final_obs is one (N, K) array, not N row objects.
        assert a[4]["final_obs"].shape == (n, 2) and a[4]["final_obs"].dtype == np.float32
        assert np.array_equal(a[4]["final_obs"], np.stack(b[4]["final_obs"]))
        a[4]["final_obs"], b[4]["final_obs"] = None, None
        assert data_equivalence(a, b, exact=True)
    seeds = [3, None, 9, None, 0, 1]
    mask = np.array([True, False, True, True, False, True])
    a = native.reset(seed=seeds, options={"reset_mask": mask})
    b = sync.reset(seed=seeds, options={"reset_mask": mask.copy()})
    assert data_equivalence(a[1], b[1], exact=True)
    assert np.array_equal(a[0][mask], b[0][mask])


def test_vector_info_keys_and_masks():
    venv = ContextualBanditVectorEnv(3, num_contexts=2, num_arms=2)
    obs, info = venv.reset(seed=0)
    assert set(info) == {"component", "_component"}
    assert info["component"].tolist() == obs.argmax(axis=1).tolist()
    old = info["component"].copy()
    obs, rewards, _, _, info = venv.step(np.array([0, 1, 1]))
    assert set(info) == {"final_obs", "_final_obs", "final_info", "_final_info", "component", "_component"}
    # v0 since issue 15: final_obs is one (N, K) float32 array (row i is sub-env i's final observation).
    assert info["final_obs"].dtype == np.float32 and info["final_obs"].shape == (3, 2)
    assert np.array_equal(info["final_obs"], np.eye(2, dtype=np.float32)[old])
    fin = info["final_info"]
    assert set(fin) == {
        f"{p}{k}"
        for k in ("component_rewards", "component", "component_returns", "component_present")
        for p in ("", "_")
    }
    for key in ("_final_obs", "_final_info", "_component", "_component_rewards", "_component_present"):
        mask = info[key] if key in info else fin[key]
        assert mask.dtype == np.bool_ and mask.all()
    assert rewards.tolist() == [float(c == a) for c, a in zip(old, [0, 1, 1], strict=True)]
    assert fin["component"].tolist() == old.tolist()
    assert fin["component_rewards"].sum(axis=1).tolist() == rewards.tolist()
    assert fin["component_present"].tolist() == np.eye(2, dtype=bool)[old].tolist()
    assert info["component"].tolist() == obs.argmax(axis=1).tolist()


def test_vector_reset_seeds_and_errors():
    venv = ContextualBanditVectorEnv(4, num_contexts=8, num_arms=8)
    with pytest.raises(ResetNeeded):
        venv.step(np.zeros(4, dtype=np.int64))
    with pytest.raises(ResetNeeded):
        venv.reset(options={"reset_mask": np.ones(4, dtype=bool)})
    a, _ = venv.reset(seed=[10, 11, 12, 13])
    b, _ = venv.reset(seed=10)
    assert np.array_equal(a, b)
    obs, _ = venv.reset()  # unseeded: continues each stream, still valid
    assert venv.observation_space.contains(obs)
    with pytest.raises(ValueError, match="seed list has length 2; it must have length num_envs=4"):
        venv.reset(seed=[1, 2])
    with pytest.raises(ValueError, match="reset_mask"):
        venv.reset(options={"reset_mask": np.zeros(4, dtype=bool)})
    with pytest.raises(ValueError, match=r"must lie in \[0, 7\]"):
        venv.step(np.array([0, 1, 2, 8]))
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        venv.step(np.zeros(3, dtype=np.int64))


def test_vector_returned_arrays_are_not_reused():
    venv = ContextualBanditVectorEnv(4)
    obs1, _ = venv.reset(seed=0)
    keep = obs1.copy()
    obs2, *_ = venv.step(np.zeros(4, dtype=np.int64))
    obs1[:] = 7.0
    assert not np.shares_memory(obs1, obs2)
    _, _, _, _, info = venv.step(np.zeros(4, dtype=np.int64))
    assert np.array_equal(info["final_obs"], obs2) and not np.shares_memory(info["final_obs"], obs2)
    assert keep.max() == 1.0


def test_vector_env_works_with_gymnasium_vector_wrappers():
    venv = RecordEpisodeStatistics(gym.make_vec("rayenvs/Bandit-K2n2-v0", num_envs=4))
    venv.reset(seed=0)
    contexts = venv.unwrapped.contexts.copy()
    _, rewards, _, _, info = venv.step(contexts)
    assert rewards.tolist() == [1.0] * 4
    assert info["episode"]["r"].tolist() == [1.0] * 4 and info["episode"]["l"].tolist() == [1] * 4
    listed = DictInfoToList(gym.make_vec("rayenvs/Bandit-K2n2-v0", num_envs=2))
    _, infos = listed.reset(seed=0)
    assert isinstance(infos, list) and set(infos[0]) == {"component"}


def test_vector_masked_resets_keep_every_stream():
    """Masked and seeded partial resets, across block refills: each sub-env still follows its single env."""
    n, steps = 5, 1100
    venv = ContextualBanditVectorEnv(n, num_contexts=3, num_arms=3, context_probs=[0.5, 0.2, 0.3])
    singles = [ContextualBanditEnv(3, 3, [0.5, 0.2, 0.3]) for _ in range(n)]
    obs, _ = venv.reset(seed=40)
    for i, env in enumerate(singles):
        assert np.array_equal(obs[i], env.reset(seed=40 + i)[0])
    rng = np.random.default_rng(2)
    for t in range(steps):
        if t % 97 == 3:  # an extra, masked reset: those sub-envs draw a context the others do not
            mask = rng.random(n) < 0.5
            mask[t % n] = True
            seeds = [int(s) if t % 2 else None for s in rng.integers(0, 1000, n)]
            obs, _ = venv.reset(seed=seeds, options={"reset_mask": mask})
            for i in np.flatnonzero(mask):
                o, _ = singles[i].reset(seed=seeds[i])
                assert np.array_equal(obs[i], o)
        actions = rng.integers(0, 3, n)
        obs, rewards, *_ = venv.step(actions)
        for i, env in enumerate(singles):
            _, r, *_ = env.step(actions[i])
            assert rewards[i] == r
            assert np.array_equal(obs[i], env.reset()[0])
