"""RewardMask, ComponentAccounting and FrozenObsNormalization on small synthetic envs (fast, exact)."""

import pickle

import gymnasium as gym
import numpy as np
import pytest

from rayenvs.contract import check_component_info
from wrappers import ComponentAccounting, FrozenObsNormalization, ObsStats, RewardMask, random_rollout_stats
from wrappers.component_accounting import RESIDUAL
from wrappers.reward_mask import _MASK_STREAM


class TermsEnv(gym.Env):
    """Fixed-length episodes whose reward is the sum of two random terms reported in ``info``."""

    def __init__(self, length: int = 10, gap: float = 0.0) -> None:
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float64)
        self.action_space = gym.spaces.Discrete(2)
        self.length = length
        self.gap = gap
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs(), {}

    def _obs(self):
        return np.array([1.0, 5.0, 0.0]) + self.np_random.normal(size=3) * np.array([2.0, 0.5, 0.0])

    def step(self, action):
        self._t += 1
        a, b = self.np_random.normal(size=2)
        info = {"term_a": float(a), "term_b": float(b)}
        return self._obs(), float(a + b + self.gap), False, self._t >= self.length, info


class ContractEnv(TermsEnv):
    """A TermsEnv that already follows the component contract."""

    component_names = ("a", "b")


class ConstantRewardEnv(gym.Env):
    """Reward 1 at every step, so masked steps are exactly the zero rewards."""

    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, length: int = 10) -> None:
        self.length = length
        self._t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return 0, {}

    def step(self, action):
        self._t += 1
        return 0, 1.0, False, self._t >= self.length, {}


def _kept(env, steps):
    out = []
    for _ in range(steps):
        _, reward, term, trunc, info = env.step(0)
        assert info["unmasked_reward"] == 1.0
        out.append(reward == 1.0)
        if term or trunc:
            env.reset()
    return np.array(out)


# ---------------------------------------------------------------- RewardMask


@pytest.mark.parametrize("mask_prob", [0.5, 0.9])
def test_mask_rate_matches_mask_prob(mask_prob):
    env = RewardMask(ConstantRewardEnv(length=100), mask_prob=mask_prob)
    env.reset(seed=7)
    kept = _kept(env, 20_000)
    assert abs((1.0 - kept.mean()) - mask_prob) < 0.01


def test_mask_extremes():
    never = RewardMask(ConstantRewardEnv(), mask_prob=0.0)
    never.reset(seed=0)
    assert _kept(never, 500).all()
    always = RewardMask(ConstantRewardEnv(), mask_prob=1.0)
    always.reset(seed=0)
    assert not _kept(always, 500).any()


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan")])
def test_mask_prob_validated(bad):
    with pytest.raises(ValueError, match=r"mask_prob=.*\[0, 1\]"):
        RewardMask(ConstantRewardEnv(), mask_prob=bad)


def test_mask_stream_follows_reset_seed():
    env = RewardMask(ConstantRewardEnv(length=10), mask_prob=0.5)
    env.reset(seed=3)
    first = _kept(env, 10)
    env.reset()  # no seed: the stream continues
    second = _kept(env, 10)
    expected = np.random.default_rng([3, _MASK_STREAM]).random(20) >= 0.5
    np.testing.assert_array_equal(np.concatenate([first, second]), expected)
    assert not np.array_equal(first, second)
    env.reset(seed=3)  # same seed: same sequence again
    np.testing.assert_array_equal(_kept(env, 10), first)
    env.reset(seed=4)
    assert not np.array_equal(_kept(env, 20), expected)


def test_mask_is_consistent_with_components():
    env = RewardMask(ComponentAccounting(TermsEnv(length=50), ["term_a", "term_b"]), mask_prob=0.7)
    env.reset(seed=1)
    masked_sum = np.zeros(2)
    unmasked_sum = np.zeros(2)
    n_masked = 0
    for _ in range(50):
        _, reward, term, trunc, info = env.step(0)
        check_component_info(info, reward, 2, term or trunc)
        if reward == 0.0:
            n_masked += 1
            assert np.all(info["component_rewards"] == 0)
        else:
            assert reward == info["unmasked_reward"]
        masked_sum += info["component_rewards"]
        unmasked_sum += [info["term_a"], info["term_b"]]
    assert trunc and 0 < n_masked < 50
    np.testing.assert_allclose(info["component_returns"], masked_sum, atol=1e-12)
    np.testing.assert_allclose(info["unmasked_component_returns"], unmasked_sum, atol=1e-9)


# ---------------------------------------------------------------- ComponentAccounting


def test_info_keys_become_components():
    env = ComponentAccounting(TermsEnv(length=20), ["term_a", "term_b"])
    assert env.component_names == ("term_a", "term_b")
    assert env.unwrapped.component_names == ("term_a", "term_b")
    env.reset(seed=0)
    total = np.zeros(2)
    for _ in range(20):
        _, reward, term, trunc, info = env.step(0)
        check_component_info(info, reward, 2, term or trunc)
        np.testing.assert_array_equal(info["component_rewards"], [info["term_a"], info["term_b"]])
        assert info["component"] == -1
        total += info["component_rewards"]
    np.testing.assert_array_equal(info["component_returns"], total)
    assert info["component_present"].all()


def test_sum_mismatch_raises_or_goes_to_residual():
    env = ComponentAccounting(TermsEnv(gap=0.25), ["term_a", "term_b"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="gap"):
        env.step(0)
    env = ComponentAccounting(TermsEnv(gap=0.25), ["term_a", "term_b"], residual=True)
    assert env.component_names == ("term_a", "term_b", RESIDUAL)
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["component_rewards"][2] == pytest.approx(0.25, abs=1e-12)
    check_component_info(info, reward, 3, False)


def test_rounding_gap_is_absorbed_exactly():
    env = ComponentAccounting(TermsEnv(gap=1e-9), ["term_a", "term_b"])
    env.reset(seed=0)
    _, reward, _, _, info = env.step(0)
    assert info["component_rewards"].sum() == pytest.approx(reward, abs=1e-15)
    assert info["component_rewards"][1] == info["term_b"]


class SignSplit:
    """Callable rule: positive rewards are component 0, negative ones component 1; counts its resets."""

    def __init__(self):
        self.resets = 0

    def reset(self, obs, info):
        self.resets += 1

    def __call__(self, obs, reward, info):
        component = 0 if reward >= 0 else 1
        out = np.zeros(2)
        out[component] = reward
        return component, out


def test_callable_components_and_reset_hook():
    rule = SignSplit()
    env = ComponentAccounting(TermsEnv(length=30), rule, component_names=["pos", "neg"])
    env.reset(seed=2)
    env.reset(seed=2)
    assert rule.resets == 2
    signs = []
    for _ in range(30):
        _, reward, term, trunc, info = env.step(0)
        check_component_info(info, reward, 2, term or trunc)
        assert info["component"] == (0 if reward >= 0 else 1)
        signs.append(reward >= 0)
    assert any(signs) and not all(signs)


def test_component_accounting_bad_arguments():
    with pytest.raises(ValueError, match="already follows the component contract"):
        ComponentAccounting(ContractEnv(), ["term_a"])
    with pytest.raises(ValueError, match="component_names"):
        ComponentAccounting(TermsEnv(), SignSplit())
    with pytest.raises(ValueError, match="non-empty"):
        ComponentAccounting(TermsEnv(), [])
    with pytest.raises(ValueError, match="not unique"):
        ComponentAccounting(TermsEnv(), ["term_a", "term_a"])
    with pytest.raises(ValueError, match="atol"):
        ComponentAccounting(TermsEnv(), ["term_a", "term_b"], atol=-1.0)
    env = ComponentAccounting(TermsEnv(), ["term_a", "missing"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step(0)
    env = ComponentAccounting(TermsEnv(), SignSplit(), component_names=["only"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(0)


def test_component_accounting_pickles():
    env = ComponentAccounting(TermsEnv(), ["term_a", "term_b"])
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.component_names == ("term_a", "term_b")
    np.testing.assert_array_equal(clone.reset(seed=9)[0], env.reset(seed=9)[0])


# ---------------------------------------------------------------- FrozenObsNormalization


def test_stats_are_those_of_the_seeded_random_rollout():
    env = FrozenObsNormalization(TermsEnv(length=25), warmup_steps=300, warmup_seed=4)
    ref_env = TermsEnv(length=25)
    obs, _ = ref_env.reset(seed=4)
    seen = [obs]
    for _ in range(300):
        obs, _, term, trunc, _ = ref_env.step(0)
        seen.append(obs)
        if term or trunc:
            seen.append(ref_env.reset()[0])
    seen = np.stack(seen)
    assert env.obs_stats.count == len(seen) == 301 + 300 // 25
    np.testing.assert_allclose(env.obs_mean, seen.mean(0), rtol=1e-12)
    np.testing.assert_allclose(env.obs_var, seen.var(0), rtol=1e-12)
    assert np.allclose(env.obs_mean, [1.0, 5.0, 0.0], atol=0.2)


def test_stats_stay_frozen_and_transform_is_exact():
    env = FrozenObsNormalization(TermsEnv(length=25), warmup_steps=200, warmup_seed=0)
    mean, var = env.obs_mean.copy(), env.obs_var.copy()
    raw = TermsEnv(length=25)
    obs, _ = env.reset(seed=11)
    raw_obs, _ = raw.reset(seed=11)
    for _ in range(500):
        expected = np.clip((raw_obs - mean) / np.sqrt(var + 1e-8), -10, 10).astype(np.float32)
        np.testing.assert_array_equal(obs, expected)
        assert obs.dtype == np.float32 and obs in env.observation_space
        obs, _, term, trunc, _ = env.step(0)
        raw_obs, _, _, _, _ = raw.step(0)
        if term or trunc:
            obs, _ = env.reset()
            raw_obs, _ = raw.reset()
    np.testing.assert_array_equal(env.obs_mean, mean)
    np.testing.assert_array_equal(env.obs_var, var)
    # The constant third dimension maps to exactly 0 instead of dividing by zero.
    assert var[2] == 0 and obs[2] == 0


def test_clipping_at_clip_obs():
    stats = ObsStats(mean=np.zeros(3), var=np.full(3, 1e-4), count=1)
    env = FrozenObsNormalization(TermsEnv(), stats=stats, clip_obs=3.0)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.low.min() == -3.0 and env.observation_space.high.max() == 3.0
    assert obs[0] in (-3.0, 3.0) and obs[1] == 3.0


def test_warmup_is_deterministic_per_seed():
    a = random_rollout_stats(TermsEnv(), 100, seed=1)
    b = random_rollout_stats(TermsEnv(), 100, seed=1)
    c = random_rollout_stats(TermsEnv(), 100, seed=2)
    np.testing.assert_array_equal(a.mean, b.mean)
    assert not np.array_equal(a.mean, c.mean)


class CountingEnv(TermsEnv):
    steps = 0

    def step(self, action):
        CountingEnv.steps += 1
        return super().step(action)


def test_save_load_round_trip(tmp_path):
    env = FrozenObsNormalization(TermsEnv(), warmup_steps=150, warmup_seed=3)
    path = env.save_stats(tmp_path / "stats" / "obs.npz")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    loaded = ObsStats.load(path)
    np.testing.assert_array_equal(loaded.mean, env.obs_mean)
    np.testing.assert_array_equal(loaded.var, env.obs_var)
    assert loaded.count == env.obs_stats.count
    assert loaded == env.obs_stats and loaded != ObsStats(loaded.mean + 1, loaded.var, loaded.count)
    CountingEnv.steps = 0
    evaluation = FrozenObsNormalization(CountingEnv(), stats_path=path)
    assert CountingEnv.steps == 0  # no warmup when statistics are given
    np.testing.assert_array_equal(evaluation.reset(seed=8)[0], env.reset(seed=8)[0])
    reused = FrozenObsNormalization(CountingEnv(), stats=env.obs_stats)
    assert CountingEnv.steps == 0
    np.testing.assert_array_equal(reused.reset(seed=8)[0], env.reset(seed=8)[0])
    clone = pickle.loads(pickle.dumps(env))
    np.testing.assert_array_equal(clone.obs_mean, env.obs_mean)


def test_obs_normalization_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="warmup_steps"):
        FrozenObsNormalization(TermsEnv(), warmup_steps=1)
    with pytest.raises(ValueError, match="clip_obs"):
        FrozenObsNormalization(TermsEnv(), warmup_steps=10, clip_obs=0)
    with pytest.raises(ValueError, match="epsilon"):
        FrozenObsNormalization(TermsEnv(), warmup_steps=10, epsilon=0)
    with pytest.raises(ValueError, match="Box"):
        FrozenObsNormalization(ConstantRewardEnv())
    with pytest.raises(ValueError, match="shapes"):
        FrozenObsNormalization(TermsEnv(), stats=ObsStats(np.zeros(2), np.ones(2), 1))
    with pytest.raises(ValueError, match="non-negative"):
        FrozenObsNormalization(TermsEnv(), stats=ObsStats(np.zeros(3), -np.ones(3), 1))
    with pytest.raises(ValueError, match="no observation statistics"):
        FrozenObsNormalization(TermsEnv(), stats_path=tmp_path / "absent.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an observation statistics file"):
        ObsStats.load(tmp_path / "other.npz")
