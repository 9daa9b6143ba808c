"""Per-component gradient interference and the TD interference measures of Bengio et al. (2020)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from baselines.diagnostics.interference import (
    component_policy_gradients,
    interference_logs,
    interference_matrix,
    mean_offdiagonal,
)
from baselines.diagnostics.td_interference import (
    TrajectoryData,
    collect_trajectories,
    dqn_measures,
    function_interference,
    lambda_returns,
    loss_difference_by_offset,
    per_sample_grads,
    sign_variance,
    stiffness_by_offset,
    td_lambda_measures,
    train_td_lambda,
)


def test_interference_matrix_cosines_and_undefined_rows():
    g = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
    m = interference_matrix(g)
    assert m[0, 1] == pytest.approx(0.0) and m[0, 2] == pytest.approx(1 / math.sqrt(2))
    assert m[0, 0] == pytest.approx(1.0)
    assert np.isnan(m[3]).all() and np.isnan(m[:, 3]).all()
    assert mean_offdiagonal(m) == pytest.approx(2 / math.sqrt(2) / 3)  # pairs (0,1), (0,2), (1,2)
    logs = interference_logs(m)
    assert set(logs) == {
        "interference/mean_offdiag",
        "interference/rho_0_1",
        "interference/rho_0_2",
        "interference/rho_1_2",
    }
    with pytest.raises(ValueError, match="shape"):
        interference_matrix(np.zeros(3))


def test_two_by_two_bandit_softmax_interference_is_minus_half():
    """Schaul et al.: with logits W s + b on the 2x2 bandit, rho_{1,2} = -1/2 at every parameter."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        w = torch.tensor(rng.normal(size=(2, 2)), requires_grad=True)
        b = torch.tensor(rng.normal(size=2), requires_grad=True)
        rows = []
        for k in range(2):
            j_k = torch.softmax(w[:, k] + b, dim=0)[k]  # pi(k | s_k), s_k one-hot
            gw, gb = torch.autograd.grad(j_k, (w, b))
            rows.append(torch.cat([gw.flatten(), gb]).numpy())
        assert interference_matrix(np.stack(rows))[0, 1] == pytest.approx(-0.5)


def test_component_policy_gradients_with_sb3_policy():
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy

    torch.manual_seed(0)
    policy = ActorCriticPolicy(spaces.Box(0, 1, (2,)), spaces.Discrete(2), lambda _: 1e-3, net_arch=[])
    obs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    actions = torch.tensor([0, 1, 1, 0])
    adv = torch.tensor([1.0, 1.0, -1.0, 0.5])
    comps = np.array([0, 1, 0, -1])
    grads = component_policy_gradients(policy, obs, actions, adv, comps, 3)
    assert np.isnan(grads[2]).all()  # no samples of component 2
    # Linear softmax with one-hot inputs: component 0's loss is -mean(A log pi) over samples 0 and 2.
    w = policy.action_net.weight.detach().clone().requires_grad_(True)
    b = policy.action_net.bias.detach().clone().requires_grad_(True)
    logp = torch.log_softmax(obs[[0, 2]] @ w.T + b, dim=1)[[0, 1], actions[[0, 2]]]
    gw, gb = torch.autograd.grad(-(adv[[0, 2]] * logp).mean(), (w, b))
    np.testing.assert_allclose(grads[0], torch.cat([gw.flatten(), gb]).numpy(), rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="component indices"):
        component_policy_gradients(policy, obs, actions, adv, np.array([0, 1, 5, 0]), 3)


# -- TD measures --------------------------------------------------------------------------------------


def _linear(p, b):
    return b["obs"] @ p["w"]


def test_linear_value_gradients_are_features_and_stiffness_is_feature_cosine():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(12, 3)))
    params = {"w": torch.tensor(rng.normal(size=3))}
    grads = per_sample_grads(_linear, params, {"obs": x})
    torch.testing.assert_close(grads, x)
    ep = np.array([0] * 7 + [1] * 5)
    stiff = stiffness_by_offset(grads.numpy(), ep, max_offset=3)
    xn = x.numpy() / np.linalg.norm(x.numpy(), axis=1, keepdims=True)
    pairs = [(t, t + 2) for t in range(10) if ep[t] == ep[t + 2]]
    assert stiff[2] == pytest.approx(np.mean([xn[a] @ xn[b] for a, b in pairs]))
    assert stiff[-2] == pytest.approx(stiff[2]) and stiff[0] == pytest.approx(1.0)
    assert sorted(stiff) == list(range(-3, 4))


def test_function_interference_is_mean_pairwise_dot():
    g = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert function_interference(g) == pytest.approx(2 / 3)  # dots 0, 1, 1 over 3 pairs
    with pytest.raises(ValueError, match="N >= 2"):
        function_interference(np.ones((1, 2)))


def test_loss_difference_linear_regression_closed_form():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(9, 2)))
    y = torch.tensor(rng.normal(size=9))
    w = torch.tensor([0.3, -0.4], dtype=torch.float64)
    lr, anchor = 0.1, 4

    def loss(p, b):
        return 0.5 * (b["obs"] @ p["w"] - b["y"]) ** 2

    out = loss_difference_by_offset(
        loss, {"w": w}, {"obs": x, "y": y}, np.zeros(9), np.array([anchor]), lr, 5
    )
    delta = (x @ w - y).numpy()
    xv = x.numpy()
    for off in range(-4, 5):
        j = anchor + off
        new = delta[j] - lr * delta[anchor] * (xv[anchor] @ xv[j])
        assert out[off] == pytest.approx(0.5 * delta[j] ** 2 - 0.5 * new**2)
    assert math.isnan(out[5]) and math.isnan(out[-5])  # outside the dataset
    assert out[0] > 0  # the updated sample always improves for a small step


def test_sign_variance_windows_stay_inside_trajectories():
    assert sign_variance(np.ones(6), np.zeros(6)) == 0.0
    assert sign_variance(np.array([1, -1, 1, -1, 1.0]), np.zeros(5)) == pytest.approx(0.96)
    # Two episodes of 5 and 4 steps: only the first holds a full window.
    td = np.array([1, -1, 1, -1, 1, -1, -1, -1, -1.0])
    assert sign_variance(td, np.array([0] * 5 + [1] * 4)) == pytest.approx(0.96)
    with pytest.raises(ValueError, match="no trajectory"):
        sign_variance(np.ones(3), np.zeros(3))


def test_lambda_returns_limits():
    r = np.array([0.0, 0.0, 1.0, 0.0, 2.0])
    v = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    nv = np.array([0.2, 0.3, 0.0, 0.5, 0.0])
    term = np.array([False, False, True, False, True])
    ep = np.array([0, 0, 0, 1, 1])
    mc = lambda_returns(r, v, nv, term, ep, gamma=0.5, lam=1.0)
    np.testing.assert_allclose(mc, [0.25, 0.5, 1.0, 1.0, 2.0])
    td0 = lambda_returns(r, v, nv, term, ep, gamma=0.5, lam=0.0)
    np.testing.assert_allclose(td0, r + 0.5 * nv * ~term)
    with pytest.raises(ValueError, match="lam"):
        lambda_returns(r, v, nv, term, ep, gamma=0.5, lam=1.5)


def _chain_data(length: int = 5, episodes: int = 20) -> TrajectoryData:
    """A deterministic chain: state i (one-hot) -> i + 1, reward 1 on reaching the end."""
    obs, nxt, rew, term, ep = [], [], [], [], []
    eye = np.eye(length + 1, dtype=np.float32)
    for e in range(episodes):
        for i in range(length):
            obs.append(eye[i])
            nxt.append(eye[i + 1])
            rew.append(1.0 if i == length - 1 else 0.0)
            term.append(i == length - 1)
            ep.append(e)
    return TrajectoryData(np.stack(obs), np.array(rew), np.stack(nxt), np.array(term), np.array(ep))


def test_td_lambda_learns_chain_values_and_measures_run():
    data = _chain_data()
    model = train_td_lambda(data, lam=0.9, gamma=0.9, hidden=(16,), lr=1e-2, epochs=150, seed=0)
    with torch.no_grad():
        v = model(torch.eye(6)[:5]).squeeze(1).numpy()
    np.testing.assert_allclose(v, 0.9 ** np.arange(4, -1, -1), atol=0.05)
    m = td_lambda_measures(model, data, gamma=0.9, lr=1e-3, num_anchors=10, max_offset=4)
    assert m.stiffness[0] == pytest.approx(1.0)
    assert set(m.loss_difference) == set(range(-4, 5))
    assert math.isfinite(m.stiffness[4]) and math.isfinite(m.function_interference)
    assert 0.0 <= m.sign_variance <= 1.0
    assert set(m.to_dict()) == {"function_interference", "stiffness", "loss_difference", "sign_variance"}


def test_dqn_measures_on_cartpole():
    import gymnasium as gym
    from stable_baselines3 import DQN

    env = gym.make("CartPole-v1")
    env.action_space.seed(0)
    data = collect_trajectories(env, lambda _obs: env.action_space.sample(), num_steps=80, seed=0)
    model = DQN("MlpPolicy", env, seed=0, device="cpu", policy_kwargs={"net_arch": [16]})
    m = dqn_measures(model, data, num_anchors=5)
    assert m.stiffness[0] == pytest.approx(1.0)
    assert sorted(m.stiffness) == list(range(-30, 31))
    assert 0.0 <= m.sign_variance <= 1.0
    with pytest.raises(ValueError, match="actions"):
        dqn_measures(
            model, TrajectoryData(data.obs, data.rewards, data.next_obs, data.terminated, data.episode_ids)
        )


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.9, 1.0])
def test_lambda_return_operator_matches_the_recursion(lam: float) -> None:
    from baselines.diagnostics.td_interference import lambda_return_operator, lambda_returns

    rng = np.random.default_rng(1)
    n = 40
    ep = np.repeat(np.arange(6), [3, 9, 1, 12, 7, 8])
    term = np.zeros(n, dtype=bool)
    term[[2, 11, 24]] = True  # episodes 0, 1, 3 terminate; the others are truncated or cut by the dataset end
    r, v, nv = rng.normal(size=(3, n))
    M, boot = lambda_return_operator(term, ep, 0.9, lam)
    np.testing.assert_allclose(
        M @ (r + 0.9 * boot * nv), lambda_returns(r, v, nv, term, ep, 0.9, lam), atol=1e-12
    )
    if lam == 0.0:
        np.testing.assert_array_equal(M, np.eye(n))  # TD(0): r + gamma V(s')
    assert M[3, 5] == pytest.approx((0.9 * lam) ** 2) and M[2, 3] == 0.0  # within an episode / across one


def test_td_lambda_measures_use_each_lambdas_loss() -> None:
    data = _chain_data()
    model = train_td_lambda(data, lam=0.5, gamma=0.9, hidden=(16,), lr=1e-2, epochs=20, seed=0)
    kw = dict(gamma=0.9, lr=1e-2, num_anchors=10, max_offset=4)
    m0, m0_default, m1 = (td_lambda_measures(model, data, lam=0.0, **kw), td_lambda_measures(model, data, **kw),
                          td_lambda_measures(model, data, lam=1.0, **kw))  # fmt: skip
    assert m0.loss_difference == m0_default.loss_difference  # the default is TD(0)
    assert m0.stiffness == m1.stiffness  # gradients of V do not depend on the loss
    assert any(abs(m0.loss_difference[x] - m1.loss_difference[x]) > 1e-6 for x in range(-4, 5))
