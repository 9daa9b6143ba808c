"""Random reward masking: turn a dense-reward env into a sparse one without changing what is optimal.

Moalla et al. (2024, Fig. 35) zero each reward of ALE/Phoenix with probability 0.9 to study how reward
sparsity changes representation collapse. Masking is independent of the state and action, so the optimal
policy is unchanged while the learning signal becomes 10x sparser.
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rayenvs.contract import COMPONENT_RETURNS, COMPONENT_REWARDS

UNMASKED_REWARD = "unmasked_reward"
UNMASKED_COMPONENT_RETURNS = "unmasked_component_returns"
# Mixed into the reset seed so the mask stream is independent of the env's own random stream.
_MASK_STREAM = 0x6D61736B


class RewardMask(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Zero each step's reward independently with probability ``mask_prob``.

    The mask is drawn from a generator seeded by ``reset(seed=...)``: one uniform draw per step whatever the
    reward, so the same seed gives the same mask sequence, a different seed a different one, and a reset
    without a seed continues the current stream. Before the first seeded reset the stream is seeded from OS
    entropy, like an unseeded Gymnasium env.

    ``info["unmasked_reward"]`` keeps the reward before masking. If the wrapped env follows the component
    contract (:mod:`rayenvs.contract`), ``info["component_rewards"]`` is masked together with the reward, so
    it still sums to it, and the episode-end ``info["component_returns"]`` is rebuilt from the masked
    component rewards; the unmasked ones are kept as ``info["unmasked_component_returns"]``.

    Arguments:
        env: any Gymnasium env with scalar rewards.
        mask_prob: probability in [0, 1] that a step's reward is zeroed.
    """

    def __init__(self, env: gym.Env, mask_prob: float = 0.9) -> None:
        mask_prob = float(mask_prob)
        if not 0.0 <= mask_prob <= 1.0:
            raise ValueError(f"mask_prob={mask_prob!r} must be in [0, 1]")
        gym.utils.RecordConstructorArgs.__init__(self, mask_prob=mask_prob)
        gym.Wrapper.__init__(self, env)
        self.mask_prob = mask_prob
        self._mask_rng = np.random.default_rng()
        self._masked_returns: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._mask_rng = np.random.default_rng([int(seed), _MASK_STREAM])
        self._masked_returns = None
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        keep = self._mask_rng.random() >= self.mask_prob
        info[UNMASKED_REWARD] = float(reward)
        masked = float(reward) if keep else 0.0
        if COMPONENT_REWARDS in info:
            comp = np.asarray(info[COMPONENT_REWARDS], dtype=np.float64)
            comp = comp.copy() if keep else np.zeros_like(comp)
            info[COMPONENT_REWARDS] = comp
            self._masked_returns = (
                comp.copy() if self._masked_returns is None else self._masked_returns + comp
            )
            if COMPONENT_RETURNS in info:  # running sums on every step, totals on the last
                info[UNMASKED_COMPONENT_RETURNS] = info[COMPONENT_RETURNS]
                info[COMPONENT_RETURNS] = self._masked_returns.copy()
        if terminated or truncated:
            self._masked_returns = None
        return obs, masked, terminated, truncated, info
