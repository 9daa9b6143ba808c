"""Forward hooks that read an SB3 actor-critic policy's hidden layers without touching its code.

The representation of a network is the input of its output head (the penultimate layer's post-activation):
``policy.action_net``'s input for the actor, ``policy.value_net``'s input for the critic. This holds for
MlpPolicy (the mlp_extractor's latent), CnnPolicy (NatureCNN's 512 features when the head has no hidden
layers) and either setting of ``share_features_extractor``. Every ``nn.Linear`` / ``nn.Conv*`` output on a
network's path (its features extractor and its mlp_extractor branch) is a hidden pre-activation; the last one
is the penultimate pre-activation. Works for any subclass of SB3's ``ActorCriticPolicy`` (PPO, A2C, RayPPO).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

_AFFINE = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU)


@dataclass
class Capture:
    """What one forward pass of one network produced: penultimate features and every hidden pre-activation."""

    features: torch.Tensor | None = None
    preacts: list[torch.Tensor] = field(default_factory=list)


def network_path(policy: nn.Module, role: str) -> list[nn.Module]:
    """The modules of the actor (``role="actor"``) or critic (``"critic"``) path, output head excluded."""
    if role not in ("actor", "critic"):
        raise ValueError(f"role={role!r} must be 'actor' or 'critic'")
    if role == "actor":
        extractor = getattr(policy, "pi_features_extractor", None) or policy.features_extractor
        branch = policy.mlp_extractor.policy_net
    else:
        extractor = getattr(policy, "vf_features_extractor", None) or policy.features_extractor
        branch = policy.mlp_extractor.value_net
    return [extractor, branch]


def activation_rule(policy: nn.Module, role: str) -> str:
    """The dead-unit rule of the penultimate layer: ``"relu"`` if its last activation is ReLU-like, else ``"tanh"``."""
    last = None
    for root in network_path(policy, role):
        for m in root.modules():
            if isinstance(m, _RELU_LIKE + (nn.Tanh, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid)):
                last = m
    return "relu" if isinstance(last, _RELU_LIKE) else "tanh"


@contextmanager
def capture(policy: nn.Module, role: str) -> Iterator[Capture]:
    """Record the given network's representation and pre-activations during the forward passes inside."""
    out = Capture()
    head = policy.action_net if role == "actor" else policy.value_net
    handles = []

    def _head_hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        out.features = inputs[0].detach()

    def _affine_hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        out.preacts.append(output.detach())

    try:
        handles.append(head.register_forward_pre_hook(_head_hook))
        for root in network_path(policy, role):
            for m in root.modules():
                if isinstance(m, _AFFINE):
                    handles.append(m.register_forward_hook(_affine_hook))
        yield out
    finally:
        for h in handles:
            h.remove()
