"""TD interference measures of Bengio et al. (2020) for value-based learners.

TD learning tends towards low-interference, memorising parameters; these measures show it on a fixed dataset
of trajectories (arrays in time order, ``episode_ids`` marking which trajectory each sample belongs to):

- function interference rho_bar(u, v) = grad f(u) . grad f(v) (eq. 8), averaged over pairs u != v;
- stiffness: cosine of grad f(s_t) and grad f(s_{t+x}) for temporal offsets x in [-30, 30] (Fig. 5);
- loss difference: L(s_{t+x}) before minus after one SGD step on the sample s_t (Fig. 3-4; positive = the
  update helped the neighbour), each loss evaluated with the parameters of the moment (prediction and
  bootstrapped target);
- sign variance: variance of sign(delta) of the TD error over windows of 5 consecutive steps (Section 5.2).

Offsets never cross a trajectory boundary. ``f`` is a scalar function of the parameters per sample: V(s) for
TD(lambda) policy evaluation (:func:`train_td_lambda`; the loss and TD error are TD(lambda)'s for the
``lam`` given to :func:`td_lambda_measures`) and max_a Q(s, a) for DQN (the paper's convention
for multi-output functions; :func:`dqn_measures`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

MAX_OFFSET = 30
SIGN_WINDOW = 5

# f(params, inputs) -> (N,) and loss(params, inputs) -> (N,) over a batch held in a dict of tensors.
BatchFn = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], torch.Tensor]


@dataclass(frozen=True)
class TrajectoryData:
    """A fixed dataset of transitions in time order; ``episode_ids[t]`` names the trajectory of sample t."""

    obs: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminated: np.ndarray
    episode_ids: np.ndarray
    actions: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.obs)
        for name in ("rewards", "next_obs", "terminated", "episode_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} entries, obs has {n}")
        if self.actions is not None and len(self.actions) != n:
            raise ValueError(f"actions has {len(self.actions)} entries, obs has {n}")
        if n < 2:
            raise ValueError(f"the dataset needs >= 2 transitions, got {n}")


def collect_trajectories(
    env: object, policy: Callable[[np.ndarray], int | np.ndarray], num_steps: int, seed: int = 0
) -> TrajectoryData:
    """Roll out a fixed ``policy`` in a Gymnasium ``env`` for ``num_steps`` transitions (episodes reset on end)."""
    if num_steps < 2:
        raise ValueError(f"num_steps={num_steps!r} must be >= 2")
    obs_l, rew_l, next_l, term_l, ep_l, act_l = [], [], [], [], [], []
    obs, _ = env.reset(seed=seed)
    episode = 0
    for _ in range(num_steps):
        action = policy(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        obs_l.append(np.asarray(obs, dtype=np.float32))
        act_l.append(np.asarray(action))
        rew_l.append(float(reward))
        next_l.append(np.asarray(next_obs, dtype=np.float32))
        term_l.append(bool(terminated))
        ep_l.append(episode)
        obs = next_obs
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset()
    return TrajectoryData(
        obs=np.stack(obs_l),
        rewards=np.asarray(rew_l),
        next_obs=np.stack(next_l),
        terminated=np.asarray(term_l),
        episode_ids=np.asarray(ep_l),
        actions=np.stack(act_l),
    )


# -- pure measures -------------------------------------------------------------------------------------


def per_sample_grads(
    fn: BatchFn, params: dict[str, torch.Tensor], inputs: dict[str, torch.Tensor]
) -> torch.Tensor:
    """(N, P) matrix of d fn(sample) / d params, one row per sample (torch.func vmap over the batch)."""

    def one(p: dict[str, torch.Tensor], sample: dict[str, torch.Tensor]) -> torch.Tensor:
        batch = {k: v.unsqueeze(0) for k, v in sample.items()}
        return fn(p, batch)[0]

    g = vmap(grad(one), in_dims=(None, 0))(params, inputs)
    n = next(iter(inputs.values())).shape[0]
    return torch.cat([g[k].reshape(n, -1) for k in params], dim=1)


def function_interference(grads: np.ndarray | torch.Tensor) -> float:
    """Mean of grad f(u) . grad f(v) over ordered pairs u != v of the rows of ``grads`` (N, P), N >= 2."""
    g = torch.as_tensor(grads, dtype=torch.float64)
    n = g.shape[0]
    if g.ndim != 2 or n < 2:
        raise ValueError(f"grads must be (N, P) with N >= 2, got shape {tuple(g.shape)}")
    return interference_from_sums(g.sum(dim=0), float((g * g).sum()), n)


def interference_from_sums(total: torch.Tensor, squares: float, n: int) -> float:
    """:func:`function_interference` from the gradients' sum and their summed squared norms: the pair sum is
    ``|sum g|^2 - sum |g|^2``, so chunks of rows can be accumulated without holding the (N, P) matrix."""
    if n < 2:
        raise ValueError(f"interference needs >= 2 states, got {n}")
    return float(((total @ total) - squares) / (n * (n - 1)))


def _offset_pairs(episode_ids: np.ndarray, max_offset: int) -> list[tuple[int, np.ndarray, np.ndarray]]:
    if max_offset < 1:
        raise ValueError(f"max_offset={max_offset!r} must be >= 1")
    ep = np.asarray(episode_ids)
    n = len(ep)
    out = []
    for x in range(-max_offset, max_offset + 1):
        src = np.arange(max(0, -x), min(n, n - x))
        dst = src + x
        keep = ep[src] == ep[dst]
        out.append((x, src[keep], dst[keep]))
    return out


def stiffness_by_offset(
    grads: np.ndarray | torch.Tensor, episode_ids: np.ndarray, max_offset: int = MAX_OFFSET
) -> dict[int, float]:
    """Mean cosine of grad f(s_t) and grad f(s_{t+x}) per offset x (NaN where no pair or a zero gradient)."""
    g = torch.as_tensor(grads, dtype=torch.float64)
    if g.ndim != 2 or g.shape[0] != len(episode_ids):
        raise ValueError(
            f"grads {tuple(g.shape)} must be (N, P) with N = len(episode_ids) = {len(episode_ids)}"
        )
    if max_offset < 1:
        raise ValueError(f"max_offset={max_offset!r} must be >= 1")
    norms = torch.linalg.vector_norm(g, dim=1)
    unit = g / norms[:, None]
    ep = torch.as_tensor(np.asarray(episode_ids))
    n = g.shape[0]
    out = {}
    for x in range(0, min(max_offset, n - 1) + 1):
        # cos(t, t + x) for every t as a batched dot of row views: no (N, P) gather or product is materialised
        cos = (unit[: n - x].unsqueeze(1) @ unit[x:].unsqueeze(2)).reshape(-1)
        cos = cos[(ep[: n - x] == ep[x:]) & torch.isfinite(cos)]
        out[x] = out[-x] = float(cos.mean()) if cos.numel() else float("nan")  # x and -x: the same pairs
    for x in range(-max_offset, max_offset + 1):
        out.setdefault(x, float("nan"))
    return dict(sorted(out.items()))


def loss_difference_by_offset(
    loss: BatchFn,
    params: dict[str, torch.Tensor],
    inputs: dict[str, torch.Tensor],
    episode_ids: np.ndarray,
    anchors: np.ndarray,
    lr: float,
    max_offset: int = MAX_OFFSET,
) -> dict[int, float]:
    """Mean over anchors t of L(t+x) before minus after one SGD step (step size ``lr``) on L(t), per offset x."""
    if not lr > 0:
        raise ValueError(f"lr={lr!r} must be > 0")
    ep = np.asarray(episode_ids)
    n = len(ep)
    anchors = np.asarray(anchors, dtype=np.int64)
    if anchors.size == 0 or anchors.min() < 0 or anchors.max() >= n:
        raise ValueError(f"anchors must be a non-empty set of indices in [0, {n - 1}]")
    with torch.no_grad():
        before = loss(params, inputs)
    sums: dict[int, float] = {x: 0.0 for x in range(-max_offset, max_offset + 1)}
    counts: dict[int, int] = dict.fromkeys(sums, 0)
    for t in anchors:
        lo, hi = max(0, t - max_offset), min(n, t + max_offset + 1)
        window = {k: v[lo:hi] for k, v in inputs.items()}
        anchor = {k: v[t : t + 1] for k, v in inputs.items()}
        g = grad(lambda p, a=anchor: loss(p, a).sum())(params)
        updated = {k: params[k] - lr * g[k] for k in params}
        with torch.no_grad():
            change = (before[lo:hi] - loss(updated, window)).cpu().numpy()  # one host copy per anchor
        for j in range(lo, hi):
            if ep[j] == ep[t]:
                sums[j - t] += float(change[j - lo])
                counts[j - t] += 1
    return {x: sums[x] / counts[x] if counts[x] else float("nan") for x in sums}


def sign_variance(td_errors: np.ndarray, episode_ids: np.ndarray, window: int = SIGN_WINDOW) -> float:
    """Population variance of sign(delta) over every window of ``window`` consecutive steps, averaged."""
    if window < 2:
        raise ValueError(f"window={window!r} must be >= 2")
    s = np.sign(np.asarray(td_errors, dtype=np.float64))
    ep = np.asarray(episode_ids)
    if len(s) != len(ep):
        raise ValueError(f"td_errors ({len(s)}) and episode_ids ({len(ep)}) differ in length")
    values = [s[i : i + window].var() for i in range(len(s) - window + 1) if ep[i] == ep[i + window - 1]]
    if not values:
        raise ValueError(f"no trajectory holds {window} consecutive steps")
    return float(np.mean(values))


# -- learners ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TDMeasures:
    """Every measure of one model on one dataset (offset dicts map x -> value)."""

    function_interference: float
    stiffness: dict[int, float]
    loss_difference: dict[int, float]
    sign_variance: float

    def to_dict(self) -> dict[str, object]:
        return {
            "function_interference": self.function_interference,
            "stiffness": {str(k): v for k, v in self.stiffness.items()},
            "loss_difference": {str(k): v for k, v in self.loss_difference.items()},
            "sign_variance": self.sign_variance,
        }


def lambda_returns(
    rewards: np.ndarray,
    values: np.ndarray,
    next_values: np.ndarray,
    terminated: np.ndarray,
    episode_ids: np.ndarray,
    gamma: float,
    lam: float,
) -> np.ndarray:
    """Forward-view lambda-returns G_t = r_t + gamma (1 - term_t) ((1 - lam) V(s_{t+1}) + lam G_{t+1}).

    The recursion is cut (bootstrapping on V(s_{t+1})) where the next sample is not the next step of the same
    trajectory (dataset end, truncation).
    """
    if not 0.0 <= gamma <= 1.0 or not 0.0 <= lam <= 1.0:
        raise ValueError(f"gamma={gamma!r} and lam={lam!r} must lie in [0, 1]")
    n = len(rewards)
    out = np.zeros(n, dtype=np.float64)
    nxt = None
    for t in range(n - 1, -1, -1):
        continues = t + 1 < n and episode_ids[t + 1] == episode_ids[t] and not terminated[t]
        tail = (1 - lam) * next_values[t] + lam * nxt if continues and nxt is not None else next_values[t]
        out[t] = rewards[t] + gamma * (0.0 if terminated[t] else tail)
        nxt = out[t]
    return out


def value_mlp(obs_dim: int, hidden: tuple[int, ...] = (64, 64), seed: int = 0) -> nn.Module:
    """A small ReLU MLP value function R^obs_dim -> R."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    last = obs_dim
    for h in hidden:
        layers += [nn.Linear(last, h), nn.ReLU()]
        last = h
    layers.append(nn.Linear(last, 1))
    return nn.Sequential(*layers)


def train_td_lambda(
    data: TrajectoryData,
    *,
    lam: float,
    gamma: float = 0.99,
    hidden: tuple[int, ...] = (64, 64),
    lr: float = 1e-3,
    epochs: int = 50,
    minibatch_size: int = 64,
    seed: int = 0,
    on_epoch: Callable[[int, nn.Module], None] | None = None,
    targets: np.ndarray | None = None,
) -> nn.Module:
    """Policy evaluation by TD(lambda) on a fixed dataset: regress V(s_t) on lambda-returns recomputed each epoch.

    ``on_epoch(e, model)``, when given, is called before training (``e = 0``) and after each epoch ``e``, so a
    caller can measure the network over training; it must not change the parameters. ``targets`` (one per
    transition) replaces the lambda-returns by fixed regression targets, e.g. a trained network's values (the
    paper's regression to Q_theta*); ``lam`` is then unused.
    """
    if epochs < 1 or minibatch_size < 1:
        raise ValueError(f"epochs={epochs!r} and minibatch_size={minibatch_size!r} must be >= 1")
    model = value_mlp(int(np.prod(data.obs.shape[1:])), hidden, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    obs = torch.as_tensor(data.obs, dtype=torch.float32).reshape(len(data.obs), -1)
    next_obs = torch.as_tensor(data.next_obs, dtype=torch.float32).reshape(len(data.obs), -1)
    gen = torch.Generator().manual_seed(seed)
    if targets is not None and np.shape(targets) != (len(obs),):
        raise ValueError(f"targets has shape {np.shape(targets)}; one per transition needs ({len(obs)},)")
    if on_epoch is not None:
        on_epoch(0, model)
    for epoch in range(1, epochs + 1):
        if targets is None:
            with torch.no_grad():
                v, nv = model(obs).squeeze(1).numpy(), model(next_obs).squeeze(1).numpy()
            fixed = lambda_returns(data.rewards, v, nv, data.terminated, data.episode_ids, gamma, lam)
        else:
            fixed = targets
        target = torch.as_tensor(fixed, dtype=torch.float32)
        perm = torch.randperm(len(obs), generator=gen)
        for i in range(0, len(obs), minibatch_size):
            idx = perm[i : i + minibatch_size]
            opt.zero_grad(set_to_none=True)
            ((model(obs[idx]).squeeze(1) - target[idx]) ** 2).mean().backward()
            opt.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    return model


def _params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in model.named_parameters()}


def measure(
    f: BatchFn,
    loss: BatchFn,
    td_error: BatchFn,
    params: dict[str, torch.Tensor],
    inputs: dict[str, torch.Tensor],
    episode_ids: np.ndarray,
    *,
    lr: float,
    num_anchors: int = 64,
    max_offset: int = MAX_OFFSET,
    window: int = SIGN_WINDOW,
    seed: int = 0,
) -> TDMeasures:
    """All four measures for a scalar function ``f``, per-sample ``loss`` and ``td_error`` of the same params."""
    if num_anchors < 1:
        raise ValueError(f"num_anchors={num_anchors!r} must be >= 1")
    grads = per_sample_grads(f, params, inputs)
    n = grads.shape[0]
    anchors = np.random.default_rng(seed).choice(n, size=min(n, num_anchors), replace=False)
    with torch.no_grad():
        delta = td_error(params, inputs).cpu().numpy()
    return TDMeasures(
        function_interference=function_interference(grads),
        stiffness=stiffness_by_offset(grads, episode_ids, max_offset),
        loss_difference=loss_difference_by_offset(loss, params, inputs, episode_ids, anchors, lr, max_offset),
        sign_variance=sign_variance(delta, episode_ids, window),
    )


def _inputs(data: TrajectoryData) -> dict[str, torch.Tensor]:
    n = len(data.obs)
    out = {
        "obs": torch.as_tensor(data.obs, dtype=torch.float32),
        "next_obs": torch.as_tensor(data.next_obs, dtype=torch.float32),
        "reward": torch.as_tensor(data.rewards, dtype=torch.float32),
        "not_done": torch.as_tensor(~np.asarray(data.terminated, dtype=bool), dtype=torch.float32),
    }
    if data.actions is not None:
        out["action"] = torch.as_tensor(np.asarray(data.actions).reshape(n), dtype=torch.long)
    return out


MAX_LAMBDA_DATASET = 8192  # the lambda-return operator is a dense N x N matrix (256 MB at this size)


def lambda_return_operator(
    terminated: np.ndarray, episode_ids: np.ndarray, gamma: float, lam: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(M, boot)`` with ``G = M @ (r + gamma * boot * V(s'))`` the lambda-returns of :func:`lambda_returns`.

    Writing the recursion as ``G_t = y_t + d_t G_{t+1}`` with ``d_t = gamma lam`` where the trajectory continues
    (else 0) and ``y_t = r_t + gamma (1 - term_t) c_t V(s_{t+1})`` (``c_t = 1 - lam`` where it continues, else
    1), ``M[t, s] = prod_{t <= j < s} d_j``. ``M`` depends on the data only, so a loss of any parameters is one
    forward pass and a matrix product: differentiable by ``torch.func`` and exact at window edges.
    """
    if not 0.0 <= gamma <= 1.0 or not 0.0 <= lam <= 1.0:
        raise ValueError(f"gamma={gamma!r} and lam={lam!r} must lie in [0, 1]")
    term = np.asarray(terminated, dtype=bool)
    ep = np.asarray(episode_ids)
    n = len(term)
    if n > MAX_LAMBDA_DATASET:
        raise ValueError(
            f"the dataset has {n} transitions; the TD(lambda) loss allows at most {MAX_LAMBDA_DATASET}"
        )
    cont = np.zeros(n, dtype=bool)
    cont[:-1] = (ep[1:] == ep[:-1]) & ~term[:-1]
    d = np.where(cont, gamma * lam, 0.0)
    M = np.zeros((n, n), dtype=np.float64)
    for t in range(n - 1, -1, -1):
        M[t, t] = 1.0
        if d[t] > 0:
            M[t, t + 1 :] = d[t] * M[t + 1, t + 1 :]
    boot = np.where(term, 0.0, np.where(cont, 1.0 - lam, 1.0))
    return M, boot


def td_lambda_measures(
    model: nn.Module,
    data: TrajectoryData,
    *,
    gamma: float = 0.99,
    lr: float = 1e-3,
    lam: float = 0.0,
    **kwargs: object,
) -> TDMeasures:
    """Measures of a value network V on ``data`` under the TD(``lam``) loss ``0.5 (G^lam_t - V(s_t))^2``.

    ``G^lam`` are the lambda-returns of :func:`lambda_returns`, computed with the parameters of the moment over
    the whole dataset (so a window of neighbours sees the same targets as the full data) and held fixed
    (semi-gradient, as in training). ``lam=0`` is TD(0) (``r + gamma V(s') - V(s)``), ``lam=1`` Monte-Carlo
    regression; pass the ``lam`` the network was trained with. The dataset is at most
    ``MAX_LAMBDA_DATASET`` transitions.
    """
    M_np, boot_np = lambda_return_operator(data.terminated, data.episode_ids, gamma, lam)
    device = next(model.parameters()).device  # the value network may live on a GPU
    inputs = {k: v.to(device) for k, v in _inputs(data).items()}
    inputs["index"] = torch.arange(len(data.obs), device=device)
    full = dict(inputs)
    M = torch.as_tensor(M_np, dtype=torch.float32, device=device)
    boot = torch.as_tensor(boot_np, dtype=torch.float32, device=device)

    def f(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(model, p, (b["obs"].flatten(1),)).squeeze(-1)

    def td_error(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        v_next = functional_call(model, p, (full["next_obs"].flatten(1),)).squeeze(-1).detach()
        y = full["reward"] + gamma * boot * v_next
        target = M[b["index"]] @ y
        return target.detach() - f(p, b)

    def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return 0.5 * td_error(p, b) ** 2

    return measure(f, loss, td_error, _params(model), inputs, data.episode_ids, lr=lr, **kwargs)


def dqn_measures(
    model: object, data: TrajectoryData, *, lr: float | None = None, **kwargs: object
) -> TDMeasures:
    """Measures of an SB3 ``DQN``'s Q-network on ``data`` (needs ``data.actions``; discrete actions).

    f = max_a Q(s, a); loss = the Q-learning loss 0.5 (r + gamma (1 - term) max_a' Q_target(s', a') - Q(s, a))^2
    (SB3 uses a Huber loss; the squared loss keeps the first-order interference reading).
    """
    if data.actions is None:
        raise ValueError("dqn_measures needs data.actions (the actions taken in the dataset)")
    q_net, q_target, gamma = model.q_net, model.q_net_target, float(model.gamma)
    inputs = {k: v.to(model.device) for k, v in _inputs(data).items()}
    with torch.no_grad():
        next_q = q_target(inputs["next_obs"]).max(dim=1).values
    inputs["target"] = inputs["reward"] + gamma * inputs["not_done"] * next_q

    def q_values(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return functional_call(q_net, p, (b["obs"],))

    def f(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return q_values(p, b).max(dim=1).values

    def td_error(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        q = q_values(p, b).gather(1, b["action"].unsqueeze(1)).squeeze(1)
        return b["target"] - q

    def loss(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> torch.Tensor:
        return 0.5 * td_error(p, b) ** 2

    step = float(lr if lr is not None else model.lr_schedule(1.0))
    return measure(f, loss, td_error, _params(q_net), inputs, data.episode_ids, lr=step, **kwargs)
