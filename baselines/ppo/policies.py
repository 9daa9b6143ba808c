"""Actor-critic building blocks for RayPPO: a shared trunk, a state-dependent TanhNormal policy, and the
actor/critic split of a policy's parameters and layers.

SB3's ``MlpExtractor`` cannot share hidden layers between actor and critic (removed in SB3 1.8), so the shared
trunk of Moalla et al. (2024) lives in a features extractor (:class:`SharedTrunkExtractor`) with empty head
``net_arch``: actor and critic then differ only in their output layers and both losses reach the trunk.

SB3's Gaussian has a state-independent ``log_std``; the paper's MuJoCo policy predicts mean *and* std from the
state and squashes with tanh (Haarnoja et al. 2018), so that the whole distribution depends on the
representation whose dynamics are studied (:class:`TanhNormalPolicy`).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.distributions import Distribution
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, CombinedExtractor, FlattenExtractor
from torch import nn
from torch.nn import functional as F

MLP_POLICIES: tuple[str, ...] = ("MlpPolicy", "TanhNormalMlpPolicy", "MultiInputPolicy")


class SharedTrunkExtractor(BaseFeaturesExtractor):
    """Flatten (or combine a Dict observation), then ``net_arch`` hidden layers shared by actor and critic."""

    def __init__(
        self,
        observation_space: spaces.Space,
        net_arch: list[int] | tuple[int, ...] = (64, 64),
        activation_fn: type[nn.Module] = nn.Tanh,
    ) -> None:
        sizes = [int(n) for n in net_arch]
        if not sizes or any(n < 1 for n in sizes):
            raise ValueError(
                f"shared trunk net_arch={list(net_arch)!r} must be a non-empty list of sizes >= 1"
            )
        super().__init__(observation_space, features_dim=sizes[-1])
        base: BaseFeaturesExtractor
        if isinstance(observation_space, spaces.Dict):
            base = CombinedExtractor(observation_space)
        else:
            base = FlattenExtractor(observation_space)
        layers: list[nn.Module] = []
        last = base.features_dim
        for size in sizes:
            layers += [nn.Linear(last, size), activation_fn()]
            last = size
        self.base = base
        self.trunk = nn.Sequential(*layers)

    def forward(self, observations: Any) -> th.Tensor:
        return self.trunk(self.base(observations))


def shared_trunk_kwargs(policy: str, policy_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Policy kwargs that make actor and critic share every layer but their output heads.

    Image policies share SB3's NatureCNN (convs + 512 linear); MLP policies move the hidden layers of
    ``net_arch`` (which must be equal for pi and vf) into a :class:`SharedTrunkExtractor`. A
    ``share_features_extractor`` already in the kwargs is replaced: trunk sharing is the variant's decision.
    """
    pk = dict(policy_kwargs)
    pk.pop("share_features_extractor", None)  # the variant decides; configs may set False for the baseline
    net_arch = pk.pop("net_arch", None)
    if policy == "CnnPolicy":
        if net_arch:
            raise ValueError(
                f"shared-trunk with CnnPolicy shares the whole CNN; head net_arch must be empty, got {net_arch!r}"
            )
        pk.update(net_arch=[], share_features_extractor=True)
        return pk
    if policy not in MLP_POLICIES:
        raise ValueError(f"shared-trunk supports CnnPolicy and {MLP_POLICIES}, not {policy!r}")
    if "features_extractor_class" in pk:
        raise ValueError("shared-trunk builds its own features extractor; remove features_extractor_class")
    if net_arch is None:
        hidden = [64, 64]
    elif isinstance(net_arch, dict):
        pi, vf = list(net_arch.get("pi", [])), list(net_arch.get("vf", []))
        if pi != vf:
            raise ValueError(f"shared-trunk needs equal actor and critic hidden layers, got pi={pi} vf={vf}")
        hidden = pi
    else:
        hidden = list(net_arch)
    pk.update(
        features_extractor_class=SharedTrunkExtractor,
        features_extractor_kwargs={"net_arch": hidden, "activation_fn": pk.get("activation_fn", nn.Tanh)},
        net_arch=[],
        share_features_extractor=True,
    )
    return pk


def actor_modules(policy: ActorCriticPolicy) -> list[nn.Module]:
    """The modules an observation goes through to reach the actor's output head, in forward order."""
    return [policy.pi_features_extractor, policy.mlp_extractor.policy_net]


def critic_modules(policy: ActorCriticPolicy) -> list[nn.Module]:
    """The critic's own hidden modules (a shared trunk belongs to the actor's side)."""
    own = [] if policy.share_features_extractor else [policy.vf_features_extractor]
    return own + [policy.mlp_extractor.value_net]


def actor_critic_parameters(policy: ActorCriticPolicy) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Split the policy's parameters into (actor, critic) for separate optimizers and gradient clipping.

    Critic = its own features extractor (if not shared), hidden layers and value head; everything else,
    including a shared trunk, is the actor's.
    """
    critic_ids = {id(p) for m in [*critic_modules(policy), policy.value_net] for p in m.parameters()}
    params = list(policy.parameters())
    return [p for p in params if id(p) not in critic_ids], [p for p in params if id(p) in critic_ids]


# std = softplus(raw + bias) + MIN_STD; the bias makes a zero raw output give std = 1.
_STD_BIAS = math.log(math.expm1(1.0))
MIN_STD = 1e-4
# Squashed actions are clamped to +-(1 - ACTION_EPS) before atanh so saturated float32 samples stay finite.
ACTION_EPS = 1e-6


def _log_abs_det_tanh(u: th.Tensor) -> th.Tensor:
    """log(1 - tanh(u)^2) computed without cancellation: 2 (log 2 - u - softplus(-2u))."""
    return 2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))


class TanhNormalDistribution(Distribution):
    """a = tanh(u), u ~ N(mean(s), std(s)) with both parameters from the network, independent per dimension.

    ``log_prob(a) = log N(atanh a) - log(1 - a^2)`` summed over dimensions (change of variables). The entropy
    has no closed form; :meth:`entropy` returns the unbiased one-sample estimate
    ``H[N(mean, std)] + log(1 - tanh(u)^2)`` with a fresh reparameterised u, so its gradient is that of the
    squashed distribution's entropy (the paper's MuJoCo runs use entropy coefficient 0 anyway).
    """

    def __init__(self, action_dim: int) -> None:
        super().__init__()
        self.action_dim = int(action_dim)
        self.mean: th.Tensor
        self.std: th.Tensor

    def proba_distribution_net(self, latent_dim: int) -> nn.Module:
        return nn.Linear(latent_dim, 2 * self.action_dim)

    def proba_distribution(self, params: th.Tensor) -> TanhNormalDistribution:
        mean, raw_std = params.chunk(2, dim=-1)
        self.mean = mean
        self.std = F.softplus(raw_std + _STD_BIAS) + MIN_STD
        self.distribution = th.distributions.Normal(self.mean, self.std, validate_args=False)
        return self

    def _log_prob_pre_tanh(self, u: th.Tensor) -> th.Tensor:
        return (self.distribution.log_prob(u) - _log_abs_det_tanh(u)).sum(dim=-1)

    def log_prob(self, actions: th.Tensor) -> th.Tensor:
        bound = 1.0 - ACTION_EPS
        return self._log_prob_pre_tanh(th.atanh(actions.clamp(-bound, bound)))

    def entropy(self) -> th.Tensor:
        u = self.mean + self.std * th.randn_like(self.mean)
        return (self.distribution.entropy() + _log_abs_det_tanh(u)).sum(dim=-1)

    def sample(self) -> th.Tensor:
        return th.tanh(self.mean + self.std * th.randn_like(self.mean))

    def mode(self) -> th.Tensor:
        return th.tanh(self.mean)

    def actions_from_params(self, params: th.Tensor, deterministic: bool = False) -> th.Tensor:
        self.proba_distribution(params)
        return self.get_actions(deterministic=deterministic)

    def log_prob_from_params(self, params: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        actions = self.actions_from_params(params)
        return actions, self.log_prob(actions)


class TanhNormalPolicy(ActorCriticPolicy):
    """ActorCriticPolicy whose Box actions follow a state-dependent :class:`TanhNormalDistribution`.

    Actions are produced in [-1, 1] and rescaled to the action space's bounds (``squash_output``), so they
    never need clipping.
    """

    def __init__(
        self, observation_space: spaces.Space, action_space: spaces.Space, *args: Any, **kwargs: Any
    ):
        if not isinstance(action_space, spaces.Box):
            raise ValueError(f"TanhNormalPolicy needs a Box action space, got {action_space}")
        if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
            raise ValueError("TanhNormalPolicy needs finite action bounds to rescale tanh outputs")
        if kwargs.get("use_sde"):
            raise ValueError("TanhNormalPolicy does not support use_sde=True")
        super().__init__(observation_space, action_space, *args, **kwargs)
        self._squash_output = True

    def _build(self, lr_schedule: Any) -> None:
        self.action_dist = TanhNormalDistribution(get_action_dim(self.action_space))
        self._build_mlp_extractor()
        self.action_net = self.action_dist.proba_distribution_net(self.mlp_extractor.latent_dim_pi)
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:  # SB3's gains, so the "sb3" settings initialise like its Gaussian policy
            gains: dict[nn.Module, float] = {
                self.pi_features_extractor: np.sqrt(2),
                self.vf_features_extractor: np.sqrt(2),
                self.mlp_extractor: np.sqrt(2),
                self.action_net: 0.01,
                self.value_net: 1.0,
            }
            for module, gain in gains.items():
                module.apply(partial(self.init_weights, gain=gain))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def _get_action_dist_from_latent(self, latent_pi: th.Tensor) -> TanhNormalDistribution:
        return self.action_dist.proba_distribution(self.action_net(latent_pi))
