"""Proximal Feature Optimization (PFO, Moalla et al. 2024): a trust region on the network's pre-activations.

The loss is the squared difference between the pre-activations of the current parameters and those of the
policy that collected the rollout, averaged over feature dimensions per sample, then over the minibatch.
Pre-activations are captured with forward hooks on the Linear/Conv2d layers that feed an activation, so the
same code serves SB3's MlpPolicy and CnnPolicy and the shared-trunk and TanhNormal policies: the training
forward pass (``evaluate_actions``) records them for free. The old ones come from one no-grad pass over the
whole rollout buffer at the start of the update phase; an index-recording buffer tells which rows a
minibatch holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal, get_args

import numpy as np
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.type_aliases import DictRolloutBufferSamples, RolloutBufferSamples
from stable_baselines3.common.vec_env import VecNormalize
from torch import nn
from torch.nn import functional as F

PFOMode = Literal["off", "last", "all"]
PFO_MODES: tuple[str, ...] = get_args(PFOMode)
# The paper's "per-sample value exceeds 0.1" statistic.
PFO_LOGGED_THRESHOLD = 0.1


def _is_activation(module: nn.Module) -> bool:
    return type(module).__module__ == "torch.nn.modules.activation"


def preactivation_layers(modules: Sequence[nn.Module], mode: str) -> list[nn.Module]:
    """The Linear/Conv2d layers whose output feeds an activation inside an ``nn.Sequential``, in forward order.

    ``mode="last"`` keeps only the last one (the penultimate layer of the network); ``"all"`` keeps them all.
    """
    if mode not in ("last", "all"):
        raise ValueError(f"pfo mode {mode!r} must be 'last' or 'all'")
    found: list[nn.Module] = []
    seen: set[int] = set()
    for root in modules:
        for container in root.modules():
            if not isinstance(container, nn.Sequential):
                continue
            children = list(container.children())
            for layer, nxt in zip(children, children[1:], strict=False):
                if (
                    isinstance(layer, (nn.Linear, nn.Conv2d))
                    and _is_activation(nxt)
                    and id(layer) not in seen
                ):
                    seen.add(id(layer))
                    found.append(layer)
    return found[-1:] if mode == "last" else found


class PreactivationRecorder:
    """Captures the outputs of given layers during a forward pass."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        if not layers:
            raise ValueError("PFO needs at least one hidden Linear/Conv2d layer followed by an activation")
        self.layers = list(layers)

    @contextmanager
    def record(self) -> Iterator[list[th.Tensor | None]]:
        """Within the block, each recorded layer's latest output is stored at its index of the yielded list."""
        outputs: list[th.Tensor | None] = [None] * len(self.layers)

        def make_hook(i: int):
            def hook(_module: nn.Module, _inputs: object, output: th.Tensor) -> None:
                outputs[i] = output

            return hook

        handles = [layer.register_forward_hook(make_hook(i)) for i, layer in enumerate(self.layers)]
        try:
            yield outputs
        finally:
            for handle in handles:
                handle.remove()

    @staticmethod
    def features(outputs: Sequence[th.Tensor | None]) -> list[th.Tensor]:
        """Each recorded output flattened to (batch, features) (views, no copies)."""
        if any(o is None for o in outputs):
            raise RuntimeError("a PFO layer was not run by the forward pass; the policy's forward skips it")
        return [o.flatten(1) for o in outputs]  # type: ignore[union-attr]


def pfo_loss(new: Sequence[th.Tensor], old: Sequence[th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
    """(loss, per-sample values) for per-layer (batch, features) pre-activations.

    Per sample: the mean over all layers' features, concatenated, of (new - old)^2; loss = its batch mean.
    Summed layer by layer instead of concatenating, which saves two copies of the (large, with conv maps)
    feature matrix per minibatch.
    """
    if len(new) != len(old) or not new:
        raise ValueError(
            f"expected the same non-zero number of layers, got {len(new)} new and {len(old)} old"
        )
    total = None
    dims = 0
    for n, o in zip(new, old, strict=True):
        if n.shape != o.shape:
            raise ValueError(f"pre-activation shapes differ: new {tuple(n.shape)} vs old {tuple(o.shape)}")
        layer = F.mse_loss(n, o, reduction="none").sum(dim=1)
        total = layer if total is None else total + layer
        dims += n.shape[1]
    per_sample = total / dims  # type: ignore[operator]
    return per_sample.mean(), per_sample


class IndexedRolloutBuffer(RolloutBuffer):
    """RolloutBuffer that remembers the flat indices of the last minibatch it returned."""

    last_indices: np.ndarray | None = None

    def _get_samples(self, batch_inds: np.ndarray, env: VecNormalize | None = None) -> RolloutBufferSamples:
        self.last_indices = batch_inds
        return super()._get_samples(batch_inds, env)


class IndexedDictRolloutBuffer(DictRolloutBuffer):
    """DictRolloutBuffer that remembers the flat indices of the last minibatch it returned."""

    last_indices: np.ndarray | None = None

    def _get_samples(  # type: ignore[override]
        self, batch_inds: np.ndarray, env: VecNormalize | None = None
    ) -> DictRolloutBufferSamples:
        self.last_indices = batch_inds
        return super()._get_samples(batch_inds, env)


INDEXED_BUFFERS: dict[type, type] = {
    RolloutBuffer: IndexedRolloutBuffer,
    DictRolloutBuffer: IndexedDictRolloutBuffer,
    IndexedRolloutBuffer: IndexedRolloutBuffer,
    IndexedDictRolloutBuffer: IndexedDictRolloutBuffer,
}
