"""An epsilon-uniform behaviour policy for PPO: the off-policy control of Schaul et al. (2019), Section 3.3.

On-policy learning couples what is learned about a component to how well it is already done (the paper's
``f_k(J_k)`` with ``f_k(0) = 0``): a room the policy never solves yields no data to learn it from. Mixing
the behaviour with ``epsilon`` uniform-random actions (their Fig. 6 uses 10%) lifts ``f_k(0)`` above zero.

Rollouts here are collected with ``mu = (1 - epsilon) * pi + epsilon / |A|`` and the buffer stores
``log mu(a)``, so PPO's ratio ``pi_theta(a) / mu(a)`` is the importance weight of the off-policy data
(clipped as usual). ``predict`` (evaluation) and ``evaluate_actions`` (the update) use ``pi`` itself, so
evaluation measures the learned policy, not the behaviour.
"""

from __future__ import annotations

import math
from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ActorCriticPolicy


class EpsilonMixturePolicy(ActorCriticPolicy):
    """SB3's ``MlpPolicy`` (discrete actions) whose rollouts follow ``(1 - eps) * pi + eps * uniform``.

    :param behaviour_epsilon: the uniform share of the behaviour policy, in [0, 1) (0 is plain PPO).
    """

    def __init__(self, *args: Any, behaviour_epsilon: float = 0.1, **kwargs: Any) -> None:
        eps = behaviour_epsilon
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (0 <= eps < 1):
            raise ValueError(f"behaviour_epsilon={eps!r} is outside the allowed range [0, 1)")
        super().__init__(*args, **kwargs)
        if not isinstance(self.action_space, spaces.Discrete):
            raise ValueError(f"EpsilonMixturePolicy needs a Discrete action space, got {self.action_space}")
        self.behaviour_epsilon = float(eps)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["behaviour_epsilon"] = self.behaviour_epsilon
        return data

    def forward(self, obs: th.Tensor, deterministic: bool = False) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """Actions of the behaviour policy, the values, and ``log mu(action)`` (the rollout's log-probs)."""
        features = self.extract_features(obs)
        if self.share_features_extractor:
            latent_pi, latent_vf = self.mlp_extractor(features)
        else:
            pi_features, vf_features = features
            latent_pi = self.mlp_extractor.forward_actor(pi_features)
            latent_vf = self.mlp_extractor.forward_critic(vf_features)
        values = self.value_net(latent_vf)
        dist = self._get_action_dist_from_latent(latent_pi)
        if deterministic or self.behaviour_epsilon == 0:
            actions = dist.get_actions(deterministic=deterministic)
            return actions, values, dist.log_prob(actions)
        n = int(self.action_space.n)
        mix = (1 - self.behaviour_epsilon) * dist.distribution.probs + self.behaviour_epsilon / n
        actions = th.multinomial(mix, 1).squeeze(-1)
        log_mu = th.log(mix.gather(-1, actions.unsqueeze(-1)).squeeze(-1).clamp_min(math.ulp(0.0)))
        return actions, values, log_mu
