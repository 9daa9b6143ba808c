"""``RepresentationMetricsCallback``: representation, policy, trust-region, capacity and interference metrics.

Works with any SB3 on-policy algorithm whose policy is an ``ActorCriticPolicy`` (PPO, A2C, RayPPO). Every
value is written with ``self.logger.record`` (TensorBoard / CSV) and appended to ``self.history[key]`` as
``(env step, value)``, the format of ``results.json``'s ``metrics``. Only finite values are recorded.

Keys (ROLE is ``actor`` or ``critic``; computed on up to ``max_samples`` states of the rollout buffer):

- ``repr/ROLE/effective_rank``, ``pca_rank``, ``srank``, ``feature_rank``, ``pytorch_rank``: ranks of the
  penultimate features (see :mod:`baselines.diagnostics.metrics.rank`);
- ``repr/ROLE/dead_count``, ``dead_frac``: dead penultimate units (ReLU: exactly 0 on every sample; otherwise
  the tanh rule, std < 0.001);
- ``repr/ROLE/feature_norm``, ``preact_norm``: mean per-sample L2 norm of the penultimate post- and
  pre-activation; ``repr/ROLE/preact_norm_all``: the same over all hidden pre-activations concatenated;
- ``policy/variance``, ``policy/entropy``: variance across states of the distribution parameters, mean entropy;
- ``trust/ratio_above``, ``trust/ratio_below``, ``trust/excess_ratio``, ``trust/frac_above``,
  ``trust/frac_below``: ratios pi_new / pi_old of the measured rollout's samples after its update phase
  (logged at the next rollout start, or at the end of training), eps = the algorithm's clip range;
- ``capacity/actor_kl``, ``capacity/critic_mse``: capacity loss (:mod:`baselines.diagnostics.metrics.capacity`), every
  ``capacity_every_n`` rollouts, against a fresh random network and one rollout (``n_steps`` x envs) that it
  collected on an independent env from ``capacity_env_fn`` (``run_training`` passes one like the training
  env; default: ``gym.make`` of the training env's spec), fitted with the family's budget and the training's
  gradient clipping;
- ``interference/mean_offdiag``, ``interference/rho_i_j``: per-component policy-gradient interference
  (:mod:`baselines.diagnostics.interference`), when the env follows the component contract (``info["component"]``).

Cadence: metrics on rollouts 0, N, 2N, ... (N = ``every_n_rollouts``). The defaults (N = 1, capacity every 25
rollouts, 1024 samples) cost well under 10% of PPO's training time (benchmarks/metrics_overhead.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from baselines.common.metric_keys import repr_key, trust_key
from baselines.diagnostics.interference import (
    component_policy_gradients,
    interference_logs,
    interference_matrix,
)
from baselines.diagnostics.metrics.capacity import CapacityBudget, CapacityTarget, budget_for
from baselines.diagnostics.metrics.capture import activation_rule, capture
from baselines.diagnostics.metrics.neurons import dead_units, mean_norm
from baselines.diagnostics.metrics.policy_stats import mean_entropy, policy_variance
from baselines.diagnostics.metrics.rank import rank_metrics
from baselines.diagnostics.metrics.trust_region import ratio_stats
from rayenvs.contract import COMPONENT, NO_COMPONENT


class RepresentationMetricsCallback(BaseCallback):
    """Diagnostics of Moalla et al. (2024) and Schaul et al. (2019) on the rollout buffer, at a fixed cadence."""

    def __init__(
        self,
        every_n_rollouts: int = 1,
        capacity_every_n: int = 25,
        max_samples: int = 1024,
        capacity_samples: int = 4000,
        capacity_budget: CapacityBudget | None = None,
        interference_every_n: int = 1,
        trust_eps: float = 0.2,
        seed: int = 0,
        verbose: int = 0,
        capacity_env_fn: Callable[[], Any] | None = None,
    ) -> None:
        """``capacity_budget`` None: the paper's budget for the policy's family (:func:`budget_for`)."""
        super().__init__(verbose)
        for name, value, low in (
            ("every_n_rollouts", every_n_rollouts, 1),
            ("capacity_every_n", capacity_every_n, 0),
            ("max_samples", max_samples, 2),
            ("capacity_samples", capacity_samples, 1),
            ("interference_every_n", interference_every_n, 0),
        ):
            if int(value) != value or value < low:
                raise ValueError(f"{name}={value!r} must be an integer >= {low} (0 disables where allowed)")
        if not 0.0 < trust_eps < 1.0:
            raise ValueError(f"trust_eps={trust_eps!r} must lie in (0, 1)")
        self.every_n_rollouts = int(every_n_rollouts)
        self.capacity_every_n = int(capacity_every_n)
        self.max_samples = int(max_samples)
        self.capacity_samples = int(capacity_samples)
        self.capacity_budget = capacity_budget
        self.capacity_env_fn = capacity_env_fn
        self.interference_every_n = int(interference_every_n)
        self.trust_eps = float(trust_eps)
        self.history: dict[str, list[tuple[int, float]]] = {}
        self._rng = np.random.default_rng(seed)
        self._seed = seed
        self._rollouts = 0
        self._components: list[np.ndarray] = []
        self._collect_components = False
        self._pending_trust: tuple[Any, torch.Tensor, torch.Tensor, int] | None = None
        self._capacity_target: CapacityTarget | None = None

    # -- SB3 hooks ---------------------------------------------------------------------------------------

    def _on_rollout_start(self) -> None:
        self._flush_trust()
        self._components = []
        self._collect_components = self._interference_due(self._rollouts)

    def _on_step(self) -> bool:
        if not self._collect_components:
            return True
        infos = self.locals.get("infos") or []
        self._components.append(
            np.array([int(i.get(COMPONENT, NO_COMPONENT)) for i in infos], dtype=np.int64)
        )
        return True

    def _on_rollout_end(self) -> None:
        # Metrics must not change training: keep torch's global RNG (e.g. sampled entropies) untouched.
        with torch.random.fork_rng(devices=self._cuda_devices()):
            self._measure_rollout()

    def _measure_rollout(self) -> None:
        index = self._rollouts
        self._rollouts += 1
        if index % self.every_n_rollouts != 0 and not self._capacity_due(index):
            return
        policy = self.model.policy
        buffer = self.model.rollout_buffer
        n = buffer.buffer_size * buffer.n_envs
        idx = np.sort(self._rng.choice(n, size=min(n, self.max_samples), replace=False))
        obs = self._obs_tensor(buffer.observations, idx)
        actions = self._actions_tensor(buffer.actions, idx)
        if index % self.every_n_rollouts == 0:
            with torch.no_grad():
                self._representation(policy, obs, actions)
            if self._interference_due(index):
                self._interference(policy, buffer, obs, actions, idx)
        if self._capacity_due(index):
            self._capacity(policy)

    def _on_training_end(self) -> None:
        self._flush_trust()

    # -- metrics -----------------------------------------------------------------------------------------

    def _representation(self, policy: Any, obs: Any, actions: torch.Tensor) -> None:
        with capture(policy, "actor") as actor:
            dist = policy.get_distribution(obs)
        with capture(policy, "critic") as critic:
            policy.predict_values(obs)
        for role, cap in (("actor", actor), ("critic", critic)):
            if cap.features is None:
                continue
            feats = cap.features.reshape(cap.features.shape[0], -1)
            for key, value in rank_metrics(feats).items():
                self._record(repr_key(role, key), value)
            count, frac = dead_units(feats, activation_rule(policy, role))
            self._record(repr_key(role, "dead_count"), count)
            self._record(repr_key(role, "dead_frac"), frac)
            self._record(repr_key(role, "feature_norm"), mean_norm(feats))
            if cap.preacts:
                self._record(repr_key(role, "preact_norm"), mean_norm(cap.preacts[-1]))
                flat = torch.cat([p.reshape(p.shape[0], -1) for p in cap.preacts], dim=1)
                self._record(repr_key(role, "preact_norm_all"), mean_norm(flat))
        inner = dist.distribution
        self._record("policy/variance", policy_variance(inner))
        entropy = dist.entropy()
        if entropy is not None:
            self._record("policy/entropy", float(entropy.reshape(entropy.shape[0], -1).sum(dim=1).mean()))
        elif isinstance(inner, (list, tuple, torch.distributions.Distribution)):
            self._record("policy/entropy", mean_entropy(inner))
        self._pending_trust = (obs, actions, dist.log_prob(actions).detach(), self.num_timesteps)

    def _flush_trust(self) -> None:
        if self._pending_trust is None:
            return
        with torch.random.fork_rng(devices=self._cuda_devices()):
            self._trust()

    def _trust(self) -> None:
        obs, actions, old_log_prob, _ = self._pending_trust
        self._pending_trust = None
        with torch.no_grad():
            new_log_prob = self.model.policy.get_distribution(obs).log_prob(actions)
        for key, value in ratio_stats(new_log_prob, old_log_prob, self._clip_eps()).items():
            self._record(trust_key(key), value)

    def _interference(
        self, policy: Any, buffer: Any, obs: Any, actions: torch.Tensor, idx: np.ndarray
    ) -> None:
        if len(self._components) != buffer.buffer_size:
            return
        comps = np.stack(self._components)  # (n_steps, n_envs), the buffer's layout before get()
        comps = (comps.T if getattr(buffer, "generator_ready", False) else comps).reshape(-1)[idx]
        num = self._num_components()
        if num is None or num < 2 or not (comps >= 0).any():
            return
        adv = torch.as_tensor(self._flat(buffer.advantages).reshape(-1)[idx], device=policy.device)
        grads = component_policy_gradients(policy, obs, actions, adv, comps, num)
        for key, value in interference_logs(interference_matrix(grads)).items():
            self._record(key, value)

    def set_capacity_env_fn(self, capacity_env_fn: Callable[[], Any]) -> None:
        """The factory of the env on which the random target collects its rollout (like the training env)."""
        self.capacity_env_fn = capacity_env_fn

    def _make_capacity_env(self) -> Any:
        if self.capacity_env_fn is not None:
            return self.capacity_env_fn()
        import gymnasium as gym
        from stable_baselines3.common.vec_env import DummyVecEnv

        try:  # the bare env's spec: the training wrappers (Monitor) cannot be recreated from a spec
            spec = getattr(self.training_env.get_attr("unwrapped", [0])[0], "spec", None)
        except (AttributeError, IndexError):
            spec = None
        if spec is None:
            raise RuntimeError(
                "the capacity loss needs an env for the random target's rollout: pass capacity_env_fn"
            )
        return DummyVecEnv([lambda: gym.make(spec)] * self.training_env.num_envs)

    def _capacity(self, policy: Any) -> None:
        if self._capacity_target is None:  # built once, deterministically from the seed (so also on resume)
            venv = self._make_capacity_env()
            try:
                # one training rollout's worth of samples (n_steps x training envs), whatever venv's width
                samples = int(getattr(self.model, "n_steps", 128)) * self.training_env.num_envs
                self._capacity_target = CapacityTarget.from_fresh_network(
                    policy,
                    venv,
                    max(1, samples // venv.num_envs),
                    seed=self._seed + 1_000_003,
                    max_samples=self.capacity_samples,
                )
            finally:
                venv.close()
        clip = getattr(self.model, "max_grad_norm", None)
        eps = float(getattr(policy, "optimizer_kwargs", {}).get("eps", 1e-8))
        result = self._capacity_target.capacity_loss(
            policy,
            self._learning_rate(),
            self.capacity_budget or budget_for(policy),
            seed=self._seed + self._rollouts,
            max_grad_norm=float(clip) if clip is not None and math.isfinite(float(clip)) else None,
            adam_eps=eps,
        )
        for key, value in result.items():
            self._record(f"capacity/{key}", value)

    # -- helpers -----------------------------------------------------------------------------------------

    def _cuda_devices(self) -> list[int]:
        device = self.model.policy.device
        return [device.index or 0] if device.type == "cuda" else []

    def _interference_due(self, index: int) -> bool:
        return (
            bool(self.interference_every_n)
            and index % (self.every_n_rollouts * self.interference_every_n) == 0
        )

    def _capacity_due(self, index: int) -> bool:
        return bool(self.capacity_every_n) and index > 0 and index % self.capacity_every_n == 0

    def _record(self, key: str, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            return
        self.logger.record(key, value)
        self.history.setdefault(key, []).append((int(self.num_timesteps), value))

    def _flat(self, array: np.ndarray) -> np.ndarray:
        """Buffer rows as one sample axis; ``get()`` may already have flattened them (env-major order)."""
        if getattr(self.model.rollout_buffer, "generator_ready", False):
            return array
        return array.reshape(-1, *array.shape[2:])

    def _obs_tensor(self, observations: Any, idx: np.ndarray) -> Any:
        device = self.model.policy.device
        if isinstance(observations, dict):
            return {k: torch.as_tensor(self._flat(v)[idx], device=device) for k, v in observations.items()}
        return torch.as_tensor(self._flat(observations)[idx], device=device)

    def _actions_tensor(self, actions: np.ndarray, idx: np.ndarray) -> torch.Tensor:
        flat = torch.as_tensor(self._flat(actions)[idx], device=self.model.policy.device)
        if isinstance(self.model.action_space, spaces.Discrete):
            return flat.long().flatten()
        return flat

    def _clip_eps(self) -> float:
        clip = getattr(self.model, "clip_range", None)
        if callable(clip):
            clip = clip(self.model._current_progress_remaining)
        return float(clip) if clip is not None and 0.0 < float(clip) < 1.0 else self.trust_eps

    def _learning_rate(self) -> float:
        schedule = getattr(self.model, "lr_schedule", None)
        if callable(schedule):
            return float(schedule(self.model._current_progress_remaining))
        return float(self.model.policy.optimizer.param_groups[0]["lr"])

    def _num_components(self) -> int | None:
        try:
            names = self.training_env.get_attr("component_names", [0])[0]
        except (AttributeError, IndexError):
            return None
        return len(names)


def metrics_callback_for(
    config: dict[str, Any], every_n_rollouts: int = 1, capacity_every_n: int = 25, seed: int = 0
) -> RepresentationMetricsCallback | None:
    """The default diagnostics callback of a training run, or None when ``every_n_rollouts`` is 0.

    The trust-region ratios are counted against the run's own PPO clip range (a constant ``clip_range`` in
    the resolved config; SB3's 0.2 when it is a schedule), so "above 1+eps" means outside the clipped region.
    """
    if every_n_rollouts < 0 or capacity_every_n < 0:
        raise ValueError(
            f"metrics cadence every_n_rollouts={every_n_rollouts}, capacity_every_n={capacity_every_n} "
            "must be >= 0 (0 disables)"
        )
    if every_n_rollouts == 0:
        return None
    clip = config.get("clip_range", 0.2)
    trust_eps = float(clip) if isinstance(clip, int | float) and 0 < float(clip) < 1 else 0.2
    return RepresentationMetricsCallback(
        every_n_rollouts=every_n_rollouts, capacity_every_n=capacity_every_n, trust_eps=trust_eps, seed=seed
    )
