"""One batched update of every seed: the Bernoulli reward draws (``_Uniforms``, ``_reward_weights``) and the per-seed
SGD/Adam ascent step (``_Optimizer``).
"""

from __future__ import annotations

import numpy as np
import torch

_ADAM_BETAS = (0.9, 0.999)
_ADAM_EPS = 1e-8


class _Uniforms:
    """Uniform(0, 1) float64 draws into (K, S) buffers: numpy's PCG64 on CPU, torch's generator elsewhere.

    Why numpy on CPU: torch's CPU generator (mt19937) takes ~2.3x longer per float64, and one uniform per
    context and seed is drawn every update. Float64 always, so a Bernoulli(J_k) with J_k as small as the
    flattest plateaus' (~1e-12) is still drawn with the right probability (float32 uniforms have 2^-24 steps).
    """

    def __init__(self, seed: int, device: torch.device) -> None:
        self.device = device
        if device.type == "cpu":
            self.rng = np.random.default_rng(seed)
        else:
            self.gen = torch.Generator(device=device).manual_seed(seed)

    def fill(self, out: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cpu":
            if out is not getattr(self, "_out", None):  # the same buffer every update until a compaction
                self._out, self._out_np = out, out.numpy()
            self.rng.random(out=self._out_np)
            return out
        return out.uniform_(generator=self.gen)


def _reward_weights(
    mode: str,
    J: torch.Tensor,
    active_w: torch.Tensor,
    mix_prob: float,
    num_arms: int,
    uniforms: _Uniforms,
    out: tuple[torch.Tensor, torch.Tensor],
) -> torch.Tensor:
    """(K, S) REINFORCE weights: 1 where the sampled arm was the rewarded one (a_k = k), 0 for stopped seeds.

    The update ``r * grad log pi(a | s_k)`` is zero unless ``a = k``, so sampling the full action is not needed:
    the reward is Bernoulli with the behaviour policy's probability of arm k (``J_k`` on-policy, ``1/n`` uniform,
    ``(1 - m) J_k + m / n`` mixed), which is the same algorithm in distribution at a fraction of the cost.
    Supervised learning always "samples" the right arm. ``out`` are reused (K, S) buffers (float64 uniforms,
    weights); ``active_w`` is the (S,) 0/1 mask of running seeds in the weights' dtype.
    """
    u, w = out
    if mode == "supervised":
        return w.copy_(active_w.expand_as(w))
    if mode == "uniform":
        p: torch.Tensor | float = 1.0 / num_arms
    elif mode == "mixed":
        p = (1.0 - mix_prob) * J + mix_prob / num_arms
    else:
        p = J
    return torch.lt(uniforms.fill(u), p, out=w).mul_(active_w)


class _Optimizer:
    """Gradient *ascent* with SGD or Adam, element-wise per seed; stopped seeds are masked out.

    Hand-written because torch.optim cannot freeze individual seeds inside a stacked tensor, nor drop them
    from its state when the batch is compacted. Adam uses torch's defaults (betas 0.9/0.999, eps 1e-8).
    """

    def __init__(self, name: str, lr: float, params: list[torch.Tensor], seed_last: bool = False) -> None:
        self.name, self.lr, self.t, self.seed_last = name, lr, 0, seed_last
        self.m = [torch.zeros_like(p) for p in params] if name == "adam" else []
        self.v = [torch.zeros_like(p) for p in params] if name == "adam" else []

    def select(self, idx: torch.Tensor) -> None:
        dim = -1 if self.seed_last else 0
        self.m = [m.index_select(dim, idx) for m in self.m]
        self.v = [v.index_select(dim, idx) for v in self.v]

    def deltas(
        self, grads: tuple[torch.Tensor, ...] | list[torch.Tensor], active: torch.Tensor
    ) -> list[torch.Tensor]:
        """The parameter changes of one ascent step (``lr * g`` for SGD; Adam's bias-corrected step)."""
        if self.name == "sgd":  # stopped seeds have zero weight, hence zero gradient
            return [self.lr * g for g in grads]
        self.t += 1
        b1, b2 = _ADAM_BETAS
        out = []
        for i, g in enumerate(grads):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            step = (self.m[i] / (1 - b1**self.t)) / ((self.v[i] / (1 - b2**self.t)).sqrt() + _ADAM_EPS)
            shape = (-1,) if self.seed_last else (-1, *([1] * (g.dim() - 1)))
            out.append(self.lr * active.reshape(shape).to(g.dtype) * step)
        return out

    def step(
        self,
        params: list[torch.Tensor],
        grads: tuple[torch.Tensor, ...] | list[torch.Tensor],
        active: torch.Tensor,
    ) -> list[torch.Tensor]:
        return [p + d for p, d in zip(params, self.deltas(grads, active), strict=True)]
