"""Representation / trust-region metrics: exact values on closed forms, and the SB3 callback end to end."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import distributions as D
from torch import nn

from baselines.diagnostics.metrics import (
    CapacityBudget,
    CapacityTarget,
    RepresentationMetricsCallback,
    activation_rule,
    approximate_rank,
    capture,
    dead_units,
    effective_rank,
    feature_rank,
    kl_divergence,
    mean_entropy,
    mean_norm,
    policy_variance,
    pytorch_rank,
    rank_metrics,
    ratio_stats,
    singular_values,
    srank,
)


def _matrix(sigma: list[float], n: int = 50, d: int = 8, seed: int = 0) -> np.ndarray:
    """U diag(sigma) V^T with orthonormal U (n x d) and V (d x d)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(n, d)))
    v, _ = np.linalg.qr(rng.normal(size=(d, d)))
    s = np.zeros(d)
    s[: len(sigma)] = sigma
    return u @ np.diag(s) @ v.T


def test_singular_values_recovered_in_decreasing_order():
    x = _matrix([1.0, 10.0, 0.5])
    np.testing.assert_allclose(singular_values(x)[:4], [10.0, 1.0, 0.5, 0.0], atol=1e-10)


def test_equal_singular_values_give_integer_ranks():
    m = rank_metrics(_matrix([2.0, 2.0, 2.0, 2.0]))
    assert m["effective_rank"] == pytest.approx(4.0, abs=1e-9)
    assert m["pca_rank"] == 4 and m["srank"] == 4 and m["pytorch_rank"] == 4
    assert m["feature_rank"] == 4  # 2 / sqrt(50) = 0.28 > 0.01


def test_unequal_singular_values_each_rank_exact():
    sigma = [10.0, 1.0, 0.5, 0.1, 0.05]
    x = _matrix(sigma, n=50)
    s = singular_values(x)
    p = np.array(sigma) / sum(sigma)
    assert effective_rank(s) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-9)
    # sigma^2 = 100, 1, .25, .01, .0025: first two hold 101/101.2625 = 0.9974 >= 0.99, first one 0.9875 < 0.99.
    assert approximate_rank(s) == 2
    # sigma: cumulative 10, 11, 11.5 of 11.65 -> 0.858, 0.944, 0.987, then 0.9957 at k = 4.
    assert srank(s) == 4
    # sigma / sqrt(50): 0.1 -> 0.0141 > 0.01 but 0.05 -> 0.0071 < 0.01.
    assert feature_rank(s, 50) == 4
    assert pytorch_rank(x) == 5


def test_zero_matrix_has_zero_rank_everywhere():
    m = rank_metrics(np.zeros((10, 4)))
    assert m == {
        "effective_rank": 0.0,
        "pca_rank": 0.0,
        "srank": 0.0,
        "feature_rank": 0.0,
        "pytorch_rank": 0.0,
    }


def test_rank_rejects_bad_input():
    with pytest.raises(ValueError, match="2-D"):
        rank_metrics(np.zeros(5))
    with pytest.raises(ValueError, match="delta"):
        approximate_rank(np.ones(3), delta=1.5)
    with pytest.raises(ValueError, match="num_samples"):
        feature_rank(np.ones(3), 0)


def test_dead_units_relu_rule_is_exact_zero_on_every_sample():
    a = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    assert dead_units(a, "relu") == (2, 0.5)  # columns 0 and 3; column 1 and 2 fire once


def test_dead_units_relu_layer_with_negative_bias():
    layer = nn.Sequential(nn.Linear(3, 5), nn.ReLU())
    with torch.no_grad():
        layer[0].weight.fill_(0.1)
        layer[0].bias.copy_(torch.tensor([0.0, -100.0, 0.0, -100.0, -100.0]))
    x = torch.rand(64, 3)
    assert dead_units(layer(x), "relu") == (3, 0.6)


def test_dead_units_tanh_rule_uses_std_threshold():
    rng = np.random.default_rng(0)
    a = np.stack(
        [0.3 + 1e-4 * rng.standard_normal(100), rng.standard_normal(100), np.full(100, -0.9)], axis=1
    )
    assert dead_units(np.tanh(a), "tanh") == (2, 2 / 3)
    with pytest.raises(ValueError, match="rule"):
        dead_units(a, "sigmoid")


def test_mean_norm_is_mean_of_per_sample_l2():
    assert mean_norm(np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]])) == pytest.approx(2.0)


def test_policy_variance_and_entropy_closed_forms():
    cat = D.Categorical(probs=torch.tensor([[0.5, 0.5], [0.9, 0.1]]))
    assert policy_variance(cat) == pytest.approx(0.04)
    normal = D.Normal(torch.tensor([[0.0], [2.0]]), torch.tensor([[1.0], [1.0]]))
    assert policy_variance(normal) == pytest.approx(0.5)  # var(loc) = 1, var(scale) = 0
    same = D.Categorical(probs=torch.full((7, 4), 0.25))
    assert policy_variance(same) == 0.0
    assert mean_entropy(same) == pytest.approx(math.log(4))
    assert mean_entropy([same, same]) == pytest.approx(2 * math.log(4))
    with pytest.raises(TypeError, match="unsupported"):
        policy_variance(D.Exponential(torch.ones(3)))


def test_ratio_stats_known_ratios():
    new = np.log([1.5, 1.3, 0.5, 0.7, 1.0])
    out = ratio_stats(new, np.zeros(5), eps=0.2)
    assert out["ratio_above"] == pytest.approx(1.4)
    assert out["ratio_below"] == pytest.approx(0.6)
    assert out["excess_ratio"] == pytest.approx(1.4 / 0.6)
    assert out["frac_above"] == pytest.approx(0.4) and out["frac_below"] == pytest.approx(0.4)


def test_ratio_stats_omits_empty_sets():
    out = ratio_stats(np.log([1.1, 0.9, 1.5]), np.zeros(3), eps=0.2)
    assert "ratio_below" not in out and "excess_ratio" not in out
    assert out["ratio_above"] == pytest.approx(1.5)
    with pytest.raises(ValueError, match="eps"):
        ratio_stats(np.zeros(2), np.zeros(2), eps=0.0)
    with pytest.raises(ValueError, match="equal in size"):
        ratio_stats(np.zeros(2), np.zeros(3), eps=0.1)


def test_kl_divergence_closed_form():
    p = D.Categorical(probs=torch.tensor([[0.5, 0.5]]))
    q = D.Categorical(probs=torch.tensor([[0.25, 0.75]]))
    assert float(kl_divergence(p, q)) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3))
    # Tanh-squashing both sides leaves the KL unchanged.
    tanh = [D.transforms.TanhTransform()]
    n1, n2 = D.Normal(torch.zeros(1, 2), torch.ones(1, 2)), D.Normal(torch.ones(1, 2), torch.ones(1, 2))
    squashed = kl_divergence(D.TransformedDistribution(n1, tanh), D.TransformedDistribution(n2, tanh))
    assert float(squashed) == pytest.approx(1.0)  # 2 dims x (1/2)(mu difference)^2


def _policy(**kwargs):
    from stable_baselines3.common.policies import ActorCriticPolicy

    torch.manual_seed(0)
    return ActorCriticPolicy(
        spaces.Box(-1, 1, (4,)), spaces.Discrete(3), lambda _: 1e-3, net_arch=[8, 6], **kwargs
    )


@pytest.mark.parametrize("share", [True, False])
def test_capture_reads_penultimate_features_and_preacts(share):
    policy = _policy(share_features_extractor=share, activation_fn=nn.ReLU)
    obs = torch.rand(20, 4)
    with capture(policy, "actor") as cap, torch.no_grad():
        policy.get_distribution(obs)
    net = policy.mlp_extractor.policy_net
    with torch.no_grad():
        expected = net(obs)
        pre_last = net[2](net[1](net[0](obs)))
    assert torch.equal(cap.features, expected) and cap.features.shape == (20, 6)
    assert len(cap.preacts) == 2 and torch.equal(cap.preacts[-1], pre_last)
    assert activation_rule(policy, "actor") == "relu"
    with capture(policy, "critic") as crit, torch.no_grad():
        policy.predict_values(obs)
    assert crit.features.shape == (20, 6) and not torch.equal(crit.features, cap.features)


def test_capture_cnn_policy_features_are_nature_cnn_output():
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    policy = ActorCriticCnnPolicy(
        spaces.Box(0, 255, (1, 36, 36), np.uint8),
        spaces.Discrete(4),
        lambda _: 1e-3,
        share_features_extractor=False,
    )
    obs = torch.randint(0, 256, (5, 1, 36, 36)).float()
    with capture(policy, "actor") as cap, torch.no_grad():
        policy.get_distribution(obs)
    assert cap.features.shape == (5, 512)
    assert [p.ndim for p in cap.preacts] == [4, 4, 4, 2]  # three conv maps, then the 512-unit linear
    assert activation_rule(policy, "actor") == "relu"
    assert activation_rule(_policy(), "critic") == "tanh"


def test_capacity_loss_zero_for_initial_policy_and_policy_untouched():
    policy = _policy()
    obs = torch.rand(64, 4)
    target = CapacityTarget(policy, obs)
    before = [p.clone() for p in policy.parameters()]
    same = target.capacity_loss(policy, lr=1e-12, budget=CapacityBudget(epochs=1, minibatch_size=32))
    assert same["actor_kl"] == pytest.approx(0.0, abs=1e-9) and same["critic_mse"] == pytest.approx(
        0.0, abs=1e-9
    )
    moved = _policy()
    with torch.no_grad():
        for p in moved.parameters():
            p.mul_(5.0)
    far = target.capacity_loss(moved, lr=1e-12, budget=CapacityBudget(epochs=1, minibatch_size=32))
    fitted = target.capacity_loss(moved, lr=1e-2, budget=CapacityBudget(epochs=20, minibatch_size=16))
    assert far["actor_kl"] > 10 * fitted["actor_kl"] and far["critic_mse"] > 10 * fitted["critic_mse"]
    assert all(torch.equal(a, b) for a, b in zip(before, policy.parameters(), strict=True))
    with pytest.raises(ValueError, match="epochs"):
        CapacityBudget(epochs=0)


def test_callback_rejects_bad_settings():
    with pytest.raises(ValueError, match="every_n_rollouts"):
        RepresentationMetricsCallback(every_n_rollouts=0)
    with pytest.raises(ValueError, match="trust_eps"):
        RepresentationMetricsCallback(trust_eps=1.5)


def test_callback_with_sb3_ppo_records_every_key():
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    cb = RepresentationMetricsCallback(capacity_every_n=1, capacity_samples=64)
    model.learn(128, callback=cb)
    for role in ("actor", "critic"):
        for key in (
            "effective_rank",
            "pca_rank",
            "srank",
            "feature_rank",
            "pytorch_rank",
            "dead_count",
            "dead_frac",
            "feature_norm",
            "preact_norm",
            "preact_norm_all",
        ):
            series = cb.history[f"repr/{role}/{key}"]
            assert [s for s, _ in series] == [64, 128]
    assert 1 <= cb.history["repr/actor/pca_rank"][0][1] <= 64
    assert cb.history["policy/entropy"][0][1] == pytest.approx(math.log(2), abs=1e-3)
    assert [s for s, _ in cb.history["trust/frac_above"]] == [64, 128]  # 2nd flushed at training end
    assert [s for s, _ in cb.history["capacity/actor_kl"]] == [128]
    assert all(isinstance(s, int) and isinstance(v, float) for s, v in cb.history["policy/variance"])
    assert "interference/mean_offdiag" not in cb.history  # CartPole has no components


def test_callback_records_component_interference_on_bandit():
    import gymnasium as gym
    from stable_baselines3 import PPO

    import rayenvs  # noqa: F401

    env = gym.make("rayenvs/Bandit-K2n2-v0")
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    # Capacity fitted right after the interference gradients (the policy then holds a graph: no deepcopy).
    cb = RepresentationMetricsCallback(capacity_every_n=2, capacity_samples=64, every_n_rollouts=2)
    model.learn(192, callback=cb)
    assert [s for s, _ in cb.history["capacity/critic_mse"]] == [192]
    steps = [s for s, _ in cb.history["interference/mean_offdiag"]]
    assert steps == [64, 192]  # rollouts 0 and 2
    for _, v in cb.history["interference/rho_0_1"]:
        assert -1.0 <= v <= 1.0
    assert cb.history["interference/mean_offdiag"] == cb.history["interference/rho_0_1"]  # K = 2


def test_callback_does_not_change_training():
    """Same seed with and without the callback (capacity fits included): bit-identical parameters."""
    from stable_baselines3 import PPO

    params = []
    for cb in (None, RepresentationMetricsCallback(capacity_every_n=1, capacity_samples=32)):
        model = PPO("MlpPolicy", "CartPole-v1", n_steps=32, batch_size=16, n_epochs=1, seed=3, device="cpu")
        model.learn(96, callback=cb)
        params.append([p.detach().clone() for p in model.policy.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))


def test_callback_with_ray_ppo_tanh_normal_policy():
    """RayPPO's TanhNormal entropy is sampled: the callback must still leave training bit-identical."""
    from baselines.ppo.rayppo import RayPPO

    params, cb = [], None
    for callback in (None, RepresentationMetricsCallback(capacity_every_n=1, capacity_samples=64)):
        model = RayPPO(
            "TanhNormalMlpPolicy",
            "Pendulum-v1",
            settings="paper",
            n_steps=64,
            batch_size=32,
            n_epochs=2,
            seed=0,
            device="cpu",
        )
        model.learn(128, callback=callback)
        params.append([p.detach().clone() for p in model.policy.parameters()])
        cb = callback
    assert all(torch.equal(a, b) for a, b in zip(*params, strict=True))
    assert [s for s, _ in cb.history["repr/actor/pca_rank"]] == [64, 128]
    assert cb.history["policy/variance"][0][1] > 0.0  # state-dependent mean and std
    assert (
        "policy/entropy" in cb.history
        and "capacity/actor_kl" in cb.history
        and "trust/frac_above" in cb.history
    )


def test_capacity_target_is_a_fresh_random_network_and_its_own_rollout():
    import gymnasium as gym
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.vec_env import DummyVecEnv

    from baselines.diagnostics.metrics.capacity import ATARI_BUDGET, MUJOCO_BUDGET, budget_for, fresh_policy

    env = gym.make("CartPole-v1")
    torch.manual_seed(0)
    agent = ActorCriticPolicy(env.observation_space, env.action_space, lambda _: 1e-3, net_arch=[16, 16])
    fresh, again = fresh_policy(agent, seed=5), fresh_policy(agent, seed=5)
    state = torch.get_rng_state()
    assert type(fresh) is type(agent)
    for (name, p), q, r in zip(agent.named_parameters(), fresh.parameters(), again.parameters(), strict=True):
        assert torch.equal(q, r), name  # seeded
        if p.ndim == 2:  # a new draw, from the same (orthogonal, SB3 default) init: equal Frobenius norms
            assert not torch.equal(p, q) and q.norm().item() == pytest.approx(p.norm().item(), rel=1e-5)
    assert torch.equal(state, torch.get_rng_state())  # the global RNG is untouched
    venv = DummyVecEnv([lambda: gym.make("CartPole-v1")] * 2)
    target = CapacityTarget.from_fresh_network(agent, venv, num_steps=50, seed=5)
    assert target.obs.shape == (100, 4)  # one rollout: n_steps x envs, collected by the target
    budget = CapacityBudget(epochs=1, minibatch_size=32)
    assert target.capacity_loss(fresh, lr=1e-12, budget=budget)["actor_kl"] == pytest.approx(0.0, abs=1e-9)
    # not the agent's own init (the actor heads of both are near-uniform: SB3's 0.01 gain; the critics differ)
    assert target.capacity_loss(agent, lr=1e-12, budget=budget)["critic_mse"] > 1e-3
    # the training's gradient clipping, once per step (Adam is nearly invariant to it, so count the calls)
    calls = []
    real_clip = nn.utils.clip_grad_norm_
    nn.utils.clip_grad_norm_ = lambda params, max_norm: calls.append(max_norm) or real_clip(params, max_norm)
    try:
        target.capacity_loss(agent, lr=1e-2, budget=CapacityBudget(2, 32), max_grad_norm=0.5)
        target.capacity_loss(agent, lr=1e-2, budget=CapacityBudget(2, 32))
    finally:
        nn.utils.clip_grad_norm_ = real_clip
    assert calls == [0.5] * 16  # (actor + critic) x 2 epochs x ceil(100 / 32) minibatches; none unclipped
    with pytest.raises(ValueError, match="max_grad_norm=0"):
        target.capacity_loss(agent, lr=1e-2, budget=budget, max_grad_norm=0)
    assert budget_for(agent) == MUJOCO_BUDGET == CapacityBudget(4, 64)
    image = ActorCriticPolicy(spaces.Box(0, 255, (36, 36, 1), np.uint8), spaces.Discrete(3), lambda _: 1e-3)
    assert budget_for(image) == ATARI_BUDGET == CapacityBudget(1, 256)
