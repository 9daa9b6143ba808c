"""RayPPO, its policies, PFO and the variants: identity with SB3, exact losses, and each intervention's effect."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import RolloutBuffer
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.torch_layers import NatureCNN

import baselines.ppo.rayppo as ppo_module
from baselines.ppo.pfo import PreactivationRecorder, pfo_loss, preactivation_layers
from baselines.ppo.policies import (
    SharedTrunkExtractor,
    TanhNormalDistribution,
    actor_critic_parameters,
    actor_modules,
)
from baselines.ppo.rayppo import RayPPO
from baselines.ppo.variants import VARIANT_NAMES, build_model, canonical_variant, parse_variant

SMALL = {"n_steps": 32, "batch_size": 16, "n_epochs": 2}


def _params_equal(a: th.nn.Module, b: th.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(th.equal(sa[k], sb[k]) for k in sa)


class TinyImageEnv(gym.Env):
    """36x36 grayscale frames; reward 1 when the action matches the bright quadrant (a small CNN task)."""

    observation_space = spaces.Box(0, 255, (36, 36, 1), dtype=np.uint8)
    action_space = spaces.Discrete(4)

    def _obs(self) -> np.ndarray:
        img = np.zeros((36, 36, 1), dtype=np.uint8)
        r, c = divmod(self._target, 2)
        img[r * 18 : (r + 1) * 18, c * 18 : (c + 1) * 18] = 255
        return img

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._target = int(self.np_random.integers(4))
        self._t = 0
        return self._obs(), {}

    def step(self, action):
        reward = float(action == self._target)
        self._t += 1
        self._target = int(self.np_random.integers(4))
        return self._obs(), reward, False, self._t >= 10, {}


class BoundedContinuousEnv(gym.Env):
    """2-d observation, actions in an asymmetric box; reward = -|a - 1|."""

    observation_space = spaces.Box(-1, 1, (2,), dtype=np.float32)
    action_space = spaces.Box(np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 5.0], dtype=np.float32))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self.np_random.uniform(-1, 1, 2).astype(np.float32), {}

    def step(self, action):
        self._t += 1
        obs = self.np_random.uniform(-1, 1, 2).astype(np.float32)
        return obs, -float(np.abs(np.asarray(action) - 1.0).sum()), False, self._t >= 16, {}


# -- identity with SB3 ----------------------------------------------------------------------------------------


class _Capture:
    """An SB3 KVWriter keeping every dump, to compare what two models logged."""

    def __init__(self) -> None:
        self.dumps: list[dict] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.dumps.append({k: v for k, v in key_values.items() if k.startswith("train/")})

    def close(self) -> None:
        pass


@pytest.mark.parametrize("target_kl", [None, 0.002])  # 0.002: early stopping inside the epochs
def test_bit_identical_to_sb3_ppo_when_everything_is_off(target_kl):
    from stable_baselines3.common.logger import Logger

    kwargs = dict(n_steps=64, batch_size=32, n_epochs=3, seed=7, device="cpu", target_kl=target_kl)
    models, logs = [], []
    for cls in (PPO, RayPPO):
        model, capture = cls("MlpPolicy", "CartPole-v1", **kwargs), _Capture()
        model.set_logger(Logger(folder=None, output_formats=[capture]))
        models.append(model.learn(192))
        logs.append(capture.dumps + [dict(model.logger.name_to_value)])
    ref, ours = models
    assert ours.num_timesteps == ref.num_timesteps == 192
    assert _params_equal(ref.policy, ours.policy)
    # the same training statistics, value for value (ours keep them on the device until the phase ends)
    assert [d for d in logs[0] if d] == [d for d in logs[1] if d] and any("train/approx_kl" in d for d in logs[0])
    # the optimizer state too (same moments, same step counts)
    for va, vb in zip(ref.policy.optimizer.state.values(), ours.policy.optimizer.state.values(), strict=True):
        assert all(th.equal(va[n], vb[n]) for n in va)


def test_pfo_with_zero_coefficient_changes_nothing_and_starts_at_zero(monkeypatch):
    kwargs = dict(n_steps=64, batch_size=32, n_epochs=2, seed=3, device="cpu")
    ref = RayPPO("MlpPolicy", "CartPole-v1", **kwargs).learn(128)
    seen: list[float] = []

    def spy(new, old):
        out = pfo_loss(new, old)
        seen.append(out[0].item())
        return out

    monkeypatch.setattr(ppo_module, "pfo_loss", spy)
    model = RayPPO("MlpPolicy", "CartPole-v1", pfo="last", pfo_coef=0.0, **kwargs).learn(128)
    assert _params_equal(ref.policy, model.policy)
    assert len(seen) == 2 * 2 * 2  # 2 rollouts x 2 epochs x 2 minibatches
    assert seen[0] < 1e-10  # the first minibatch sees the rollout policy's own pre-activations
    assert seen[-1] > 1e-8  # later ones have moved away


# -- PFO ------------------------------------------------------------------------------------------------------


def test_pfo_loss_is_mean_over_features_then_batch():
    new = th.tensor([[1.0, 2.0], [3.0, 4.0]])
    old = th.tensor([[0.0, 0.0], [3.0, 2.0]])
    loss, per_sample = pfo_loss([new], [old])
    assert per_sample.tolist() == [2.5, 2.0]
    assert loss.item() == 2.25
    # two layers: the mean runs over all 3 features as if concatenated
    loss2, per_sample2 = pfo_loss([new, th.tensor([[4.0], [0.0]])], [old, th.tensor([[1.0], [1.0]])])
    assert per_sample2.tolist() == pytest.approx([(1 + 4 + 9) / 3, (0 + 4 + 1) / 3], rel=1e-7)
    assert loss2.item() == pytest.approx((14 / 3 + 5 / 3) / 2, rel=1e-7)
    with pytest.raises(ValueError, match="shapes differ"):
        pfo_loss([new], [old[:, :1]])
    with pytest.raises(ValueError, match="same non-zero number of layers"):
        pfo_loss([new], [])


def test_recorded_preactivations_equal_hand_computed_linear_outputs():
    env = BoundedContinuousEnv()
    model = RayPPO("MlpPolicy", env, policy_kwargs={"net_arch": [3, 2]}, device="cpu", seed=0, **SMALL)
    net = model.policy.mlp_extractor.policy_net
    w1, b1, w2, b2 = net[0].weight, net[0].bias, net[2].weight, net[2].bias
    x = th.tensor([[0.5, -1.0], [0.25, 0.75]])
    z1 = x @ w1.T + b1
    z2 = th.tanh(z1) @ w2.T + b2
    for mode, expected in (("last", z2), ("all", th.cat([z1, z2], dim=1))):
        rec = PreactivationRecorder(preactivation_layers(actor_modules(model.policy), mode))
        with th.no_grad(), rec.record() as outs:
            model.policy.get_distribution(x)
        assert th.allclose(th.cat(rec.features(outs), dim=1), expected, atol=1e-6)


def test_cnn_pfo_layers_are_the_convs_and_the_512_linear():
    env = TinyImageEnv()
    model = RayPPO(
        "CnnPolicy", env, policy_kwargs={"share_features_extractor": False}, device="cpu", seed=0, **SMALL
    )
    all_layers = preactivation_layers(actor_modules(model.policy), "all")
    assert [type(m).__name__ for m in all_layers] == ["Conv2d", "Conv2d", "Conv2d", "Linear"]
    assert preactivation_layers(actor_modules(model.policy), "last")[0].out_features == 512
    # 36x36 input: conv maps 32x8x8, 64x3x3, 64x1x1, then 512 features
    rec = PreactivationRecorder(all_layers)
    with th.no_grad(), rec.record() as outs:
        model.policy.get_distribution(th.zeros(5, 1, 36, 36))
    assert [f.shape for f in rec.features(outs)] == [(5, 32 * 64), (5, 64 * 9), (5, 64), (5, 512)]


def test_rollout_preactivations_follow_the_buffer_flattening():
    model = RayPPO(
        "MlpPolicy", make_vec_env("CartPole-v1", n_envs=3, seed=0), pfo="all", device="cpu", seed=0, **SMALL
    )
    model.learn(96)  # one rollout of 32 steps x 3 envs, then one update phase
    model.policy.set_training_mode(False)
    rec = model._pfo_recorders[0]
    # collect a fresh rollout without training, then compare with a forward on the flattened observations
    model._setup_learn(96, None)
    model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer, model.n_steps)
    old = model._rollout_preactivations(rec, actor=True)
    flat = RolloutBuffer.swap_and_flatten(model.rollout_buffer.observations.copy())
    with th.no_grad(), rec.record() as outs:
        model.policy.get_distribution(th.as_tensor(flat))
    assert [layer.shape for layer in old] == [(96, 64), (96, 64)]
    assert all(th.allclose(a, b, atol=1e-6) for a, b in zip(old, rec.features(outs), strict=True))


def test_pfo_logs_loss_fraction_and_critic_option():
    model = RayPPO("MlpPolicy", "CartPole-v1", pfo="last", pfo_critic=True, device="cpu", seed=1, **SMALL)
    model.learn(64)
    logged = model.logger.name_to_value
    assert logged["train/pfo_loss"] > 0
    assert 0.0 <= logged["train/pfo_frac_above_0.1"] <= 1.0
    assert logged["train/pfo_critic_loss"] > 0


def test_pfo_argument_errors():
    with pytest.raises(ValueError, match="pfo='first'"):
        RayPPO("MlpPolicy", "CartPole-v1", pfo="first")
    with pytest.raises(ValueError, match="pfo_coef=-1"):
        RayPPO("MlpPolicy", "CartPole-v1", pfo="last", pfo_coef=-1)
    with pytest.raises(ValueError, match="pfo_critic=True needs"):
        RayPPO("MlpPolicy", "CartPole-v1", pfo_critic=True)
    with pytest.raises(ValueError, match="settings='fast'"):
        RayPPO("MlpPolicy", "CartPole-v1", settings="fast")
    with pytest.raises(ValueError, match="no hidden layer of its own"):
        build_model("pfo-last+shared-trunk", "CartPole-v1", {"pfo_critic": True})


# -- Adam ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", ["sb3", "paper"])
def test_adam_reset_clears_optimizer_state_after_each_update(settings):
    model = RayPPO(
        "MlpPolicy", "CartPole-v1", adam_reset=True, settings=settings, device="cpu", seed=0, **SMALL
    )
    model.learn(64)
    assert all(opt.state == {} for opt in model.optimizers())
    assert len(model.optimizers()) == (2 if settings == "paper" else 1)
    kept = RayPPO("MlpPolicy", "CartPole-v1", settings=settings, device="cpu", seed=0, **SMALL).learn(64)
    steps = {int(s["step"]) for opt in kept.optimizers() for s in opt.state.values()}
    assert steps == {2 * 2 * 2}  # 2 rollouts x 2 epochs x 2 minibatches, moments kept


def test_equal_betas_keep_eps_explicit():
    sb3 = build_model("adam-equal-betas", "CartPole-v1", SMALL)
    group = sb3.policy.optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.9) and group["eps"] == 1e-5
    paper = build_model("adam-equal-betas", "CartPole-v1", {**SMALL, "settings": "paper"})
    for opt in paper.optimizers():
        assert opt.param_groups[0]["betas"] == (0.9, 0.9) and opt.param_groups[0]["eps"] == 1e-8
    plain = RayPPO("MlpPolicy", "CartPole-v1", policy_kwargs={"optimizer_kwargs": {"weight_decay": 0.0}})
    assert plain.policy.optimizer.param_groups[0]["eps"] == 1e-5  # SB3 alone would fall back to 1e-8


def test_paper_settings():
    model = RayPPO("MlpPolicy", "CartPole-v1", settings="paper", device="cpu", seed=0, **SMALL)
    assert model.policy.ortho_init is False
    actor_opt, critic_opt = model.optimizers()
    assert actor_opt.param_groups[0]["eps"] == critic_opt.param_groups[0]["eps"] == 1e-8
    actor, critic = actor_critic_parameters(model.policy)
    assert {id(p) for p in actor_opt.param_groups[0]["params"]} == {id(p) for p in actor}
    assert {id(p) for p in critic_opt.param_groups[0]["params"]} == {id(p) for p in critic}
    value_ids = {id(p) for p in model.policy.value_net.parameters()}
    assert value_ids <= {id(p) for p in critic} and not value_ids & {id(p) for p in actor}
    assert len(actor) + len(critic) == len(list(model.policy.parameters()))
    with pytest.raises(ValueError, match="ortho_init=True"):
        RayPPO("MlpPolicy", "CartPole-v1", settings="paper", policy_kwargs={"ortho_init": True})


def test_paper_settings_normalise_advantages_with_biased_std(monkeypatch):
    """With one minibatch of 4 samples, the first update must use std(correction=0)."""
    calls = []
    original = th.Tensor.std

    def spy(self, *args, **kwargs):
        calls.append(kwargs.get("correction", "unbiased"))
        return original(self, *args, **kwargs)

    for settings, expected in (("paper", 0), ("sb3", "unbiased")):
        model = RayPPO("MlpPolicy", "CartPole-v1", settings=settings, n_steps=4, batch_size=4, n_epochs=1)
        calls.clear()
        monkeypatch.setattr(th.Tensor, "std", spy)
        model.learn(4)
        monkeypatch.setattr(th.Tensor, "std", original)
        assert calls == [expected]


@pytest.mark.parametrize("settings, bootstrapped", [("sb3", True), ("paper", False)])
def test_truncation_bootstrap_only_under_sb3_settings(settings, bootstrapped):
    env = make_vec_env("CartPole-v1", n_envs=1, seed=0, env_kwargs={"max_episode_steps": 5})
    model = RayPPO("MlpPolicy", env, settings=settings, n_steps=40, batch_size=20, n_epochs=1, seed=0)
    model._setup_learn(40, None)
    model.collect_rollouts(model.env, model._init_callback(None), model.rollout_buffer, model.n_steps)
    rewards = model.rollout_buffer.rewards.ravel()
    starts = model.rollout_buffer.episode_starts.ravel()
    assert starts.sum() >= 3  # several episodes ended inside the rollout
    assert np.any(rewards != 1.0) == bootstrapped
    if not bootstrapped:
        assert np.all(rewards == 1.0)


# -- trunks ---------------------------------------------------------------------------------------------------


def _value_loss_grads(model) -> tuple[list, list]:
    policy = model.policy
    policy.zero_grad(set_to_none=True)
    obs = th.as_tensor(np.stack([policy.observation_space.sample() for _ in range(4)]))
    policy.predict_values(obs).sum().backward()
    actor, critic = actor_critic_parameters(policy)
    return [p.grad for p in actor], [p.grad for p in critic]


@pytest.mark.parametrize("policy_name", ["MlpPolicy", "CnnPolicy"])
def test_shared_trunk_is_shared_and_trained_by_the_critic(policy_name):
    env = "CartPole-v1" if policy_name == "MlpPolicy" else TinyImageEnv()
    model = build_model("shared-trunk", env, {"policy": policy_name, **SMALL}, seed=0, device="cpu")
    policy = model.policy
    assert policy.pi_features_extractor is policy.vf_features_extractor
    trunk = policy.features_extractor
    assert isinstance(trunk, SharedTrunkExtractor if policy_name == "MlpPolicy" else NatureCNN)
    assert len(policy.mlp_extractor.policy_net) == 0 and len(policy.mlp_extractor.value_net) == 0
    actor_grads, _ = _value_loss_grads(model)
    trunk_ids = {id(p) for p in trunk.parameters()}
    actor, _ = actor_critic_parameters(policy)
    trunk_grads = [g for p, g in zip(actor, actor_grads, strict=True) if id(p) in trunk_ids]
    assert trunk_grads and all(g is not None and g.abs().sum() > 0 for g in trunk_grads)


@pytest.mark.parametrize("policy_name", ["MlpPolicy", "CnnPolicy"])
def test_separate_trunks_do_not_share(policy_name):
    env = "CartPole-v1" if policy_name == "MlpPolicy" else TinyImageEnv()
    model = build_model("baseline", env, {"policy": policy_name, **SMALL}, seed=0, device="cpu")
    actor_grads, critic_grads = _value_loss_grads(model)
    assert all(g is None for g in actor_grads)  # the value loss never reaches the actor
    assert all(g is not None for g in critic_grads)
    actor, critic = actor_critic_parameters(model.policy)
    assert not {id(p) for p in actor} & {id(p) for p in critic}


def test_shared_trunk_requires_equal_hidden_layers():
    with pytest.raises(ValueError, match="equal actor and critic hidden layers"):
        build_model("shared-trunk", "CartPole-v1", {"policy_kwargs": {"net_arch": {"pi": [64], "vf": [32]}}})


# -- TanhNormal -----------------------------------------------------------------------------------------------


def test_tanh_normal_log_prob_matches_torch_transformed_distribution():
    th.manual_seed(0)
    dist = TanhNormalDistribution(3)
    params = th.randn(6, 6, dtype=th.float64) * 2
    dist.proba_distribution(params)
    reference = th.distributions.TransformedDistribution(
        th.distributions.Normal(dist.mean, dist.std), [th.distributions.TanhTransform()]
    )
    actions = th.tanh(th.randn(6, 3, dtype=th.float64) * 2).clamp(-0.9999, 0.9999)  # inside the atanh clamp
    expected = reference.log_prob(actions).sum(-1)
    assert th.allclose(dist.log_prob(actions), expected, rtol=1e-9, atol=1e-9)
    # saturated float32 actions stay finite
    sat = TanhNormalDistribution(1).proba_distribution(th.tensor([[20.0, 0.0]]))
    assert math.isfinite(sat.log_prob(sat.sample()).item())


def test_tanh_normal_entropy_estimate_is_unbiased():
    th.manual_seed(0)
    dist = TanhNormalDistribution(2).proba_distribution(th.tensor([[0.5, -1.0, 0.3, 0.2]]).repeat(20000, 1))
    monte_carlo = -dist.log_prob(dist.sample()).mean()
    assert abs(dist.entropy().mean().item() - monte_carlo.item()) < 0.03


def test_tanh_normal_policy_acts_within_bounds_and_trains():
    env = BoundedContinuousEnv()
    model = build_model("pfo-last", env, {"policy": "TanhNormalMlpPolicy", **SMALL}, seed=0, device="cpu")
    assert not hasattr(model.policy, "log_std")
    assert model.policy.action_net.out_features == 4  # mean and std per action dimension
    obs = np.stack([env.observation_space.sample() for _ in range(500)])
    actions, _ = model.predict(obs)
    assert np.all(actions >= env.action_space.low) and np.all(actions <= env.action_space.high)
    assert actions[:, 1].max() > 2.5 and actions[:, 0].min() < 0  # rescaled to [-2,2] x [0,5]
    model.learn(64)
    assert all(th.isfinite(p).all() for p in model.policy.parameters())
    with pytest.raises(ValueError, match="Box action space"):
        RayPPO("TanhNormalMlpPolicy", "CartPole-v1")


# -- variants -------------------------------------------------------------------------------------------------


def test_parse_variant_canonical_and_errors():
    assert parse_variant("adam-reset+pfo-last") == ("pfo-last", "adam-reset")
    assert canonical_variant(" shared-trunk + pfo-all ") == "pfo-all+shared-trunk"
    assert canonical_variant("baseline") == "baseline"
    for bad, msg in [
        ("pfo-last+pfo-all", "alternatives"),
        ("baseline+adam-reset", "cannot be combined"),
        ("pfo", "unknown variant part 'pfo'"),
        ("", "empty"),
        ("adam-reset+adam-reset", "repeats"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_variant(bad)


def test_build_model_maps_variants_and_rejects_bad_keys():
    model = build_model(
        "pfo-all+adam-reset", "CartPole-v1", {**SMALL, "policy_kwargs": {"activation_fn": "nn.ReLU"}}
    )
    assert (model.pfo, model.pfo_coef, model.adam_reset) == ("all", 10.0, True)
    assert model.policy.activation_fn is th.nn.ReLU
    relu_last = build_model("pfo-last", "CartPole-v1", {"policy_kwargs": {"activation_fn": "relu"}})
    assert relu_last.pfo_coef == 10.0  # the paper's MuJoCo-ReLU coefficient
    assert build_model("pfo-last", "CartPole-v1", {"pfo_coef": 0.5}).pfo_coef == 0.5
    assert build_model("pfo-last", TinyImageEnv(), {"policy": "CnnPolicy", **SMALL}).pfo_coef == 1.0  # Atari
    # all-layer PFO: 10 on Atari, but 1 for MuJoCo with tanh (the paper's Table 3), 10 only with ReLU
    assert build_model("pfo-all", TinyImageEnv(), {"policy": "CnnPolicy", **SMALL}).pfo_coef == 10.0
    assert build_model("pfo-all", "CartPole-v1", SMALL).pfo_coef == 1.0  # default tanh MLP
    assert build_model("pfo-last", "CartPole-v1", SMALL).pfo_coef == 1.0
    lin = build_model("baseline", "CartPole-v1", {"learning_rate": "lin_1e-3"})
    assert lin.lr_schedule(0.5) == pytest.approx(5e-4)
    with pytest.raises(ValueError, match=r"unknown hyperparameter key\(s\) \['n_env'\]"):
        build_model("baseline", "CartPole-v1", {"n_env": 8})
    with pytest.raises(ValueError, match="set by the variant"):
        build_model("baseline", "CartPole-v1", {"pfo": "last"})
    with pytest.raises(ValueError, match="activation_fn 'swish'"):
        build_model("baseline", "CartPole-v1", {"policy_kwargs": {"activation_fn": "swish"}})
    with pytest.raises(ValueError, match="policy 'LstmPolicy'"):
        build_model("baseline", "CartPole-v1", {"policy": "LstmPolicy"})


@pytest.mark.parametrize("variant", [v for v in VARIANT_NAMES] + ["pfo-all+shared-trunk+adam-reset"])
def test_every_variant_trains_on_an_image_env(variant):
    env = make_vec_env(TinyImageEnv, n_envs=2, seed=0)
    hp = {"policy": "CnnPolicy", "n_steps": 16, "batch_size": 16, "n_epochs": 1, "settings": "paper"}
    model = build_model(variant, env, hp, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(64)
    after = list(model.policy.parameters())
    assert all(th.isfinite(p).all() for p in after)
    assert any(not th.equal(a, b) for a, b in zip(before, after, strict=True))
    if "pfo" in variant:
        assert "train/pfo_loss" in model.logger.name_to_value


def test_save_and_load_keep_settings_and_both_optimizers(tmp_path):
    model = build_model("pfo-last+adam-equal-betas", "CartPole-v1", {**SMALL, "settings": "paper"}, seed=0)
    model.learn(64)
    model.save(tmp_path / "model.zip")
    loaded = RayPPO.load(tmp_path / "model.zip", device="cpu")
    assert (loaded.settings, loaded.pfo, loaded.pfo_coef) == ("paper", "last", 1.0)
    assert _params_equal(model.policy, loaded.policy)
    for a, b in zip(model.optimizers(), loaded.optimizers(), strict=True):
        assert a.param_groups[0]["betas"] == tuple(b.param_groups[0]["betas"]) == (0.9, 0.9)
        assert [int(s["step"]) for s in a.state.values()] == [int(s["step"]) for s in b.state.values()]
    loaded.set_env(make_vec_env("CartPole-v1", n_envs=1))
    loaded.learn(32)


def test_string_options_are_literal_types_matching_the_tables() -> None:
    import typing

    from baselines.ppo.pfo import PFO_MODES, PFOMode

    assert set(typing.get_args(ppo_module.SettingsName)) == set(ppo_module.SETTINGS)
    assert PFO_MODES == typing.get_args(PFOMode) == ("off", "last", "all")
