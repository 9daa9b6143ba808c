"""RayPPO: Stable-Baselines3 PPO plus the interventions and settings of Moalla et al. (2024).

Interventions (all off by default): the PFO loss on the actor's pre-activations (``pfo="last"|"all"``,
optionally on the critic), resetting Adam after every update phase (``adam_reset``), Adam betas through
``policy_kwargs["optimizer_kwargs"]``, and a shared actor-critic trunk (:mod:`baselines.ppo.policies`).

``settings="sb3"`` keeps every SB3 default: with all interventions off, training is bit-for-bit the same as
``stable_baselines3.PPO`` (same ops in the same order, no extra RNG draws). ``settings="paper"`` applies the
paper's PPO details that differ from SB3 (:data:`SETTINGS`). Adam's eps is always made explicit when
``optimizer_kwargs`` is given, because SB3 silently drops its 1e-5 default in that case.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer, RolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.save_util import load_from_zip_file
from stable_baselines3.common.utils import explained_variance, obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from torch.nn import functional as F

from baselines.ppo.mixture import EpsilonMixturePolicy
from baselines.ppo.optimizer_state import merge_optimizer_states, split_optimizer_states
from baselines.ppo.pfo import (
    INDEXED_BUFFERS,
    PFO_LOGGED_THRESHOLD,
    PFO_MODES,
    PFOMode,
    PreactivationRecorder,
    pfo_loss,
    preactivation_layers,
)
from baselines.ppo.policies import TanhNormalPolicy, actor_critic_parameters, actor_modules, critic_modules


@dataclass(frozen=True)
class PPOSettings:
    """PPO details on which the paper's implementation differs from SB3."""

    adam_eps: float
    separate_optimizers: bool  # actor and critic: own Adam and own gradient-norm clipping
    ortho_init: bool
    biased_advantage_std: bool  # per-minibatch advantage normalisation with std(unbiased=False)
    bootstrap_truncation: bool  # False: a time-limit truncation ends the return like a termination


SettingsName = Literal["sb3", "paper"]
SETTINGS: dict[str, PPOSettings] = {
    "sb3": PPOSettings(
        adam_eps=1e-5,
        separate_optimizers=False,
        ortho_init=True,
        biased_advantage_std=False,
        bootstrap_truncation=True,
    ),
    "paper": PPOSettings(
        adam_eps=1e-8,
        separate_optimizers=True,
        ortho_init=False,
        biased_advantage_std=True,
        bootstrap_truncation=False,
    ),
}


class TruncationAsTermination(VecEnvWrapper):
    """Hides time-limit truncations from SB3's rollout collection so it does not bootstrap on them.

    SB3 adds ``gamma * V(terminal_observation)`` to the reward of a step whose info says
    ``"TimeLimit.truncated"``; the paper treats the time limit as a true end of episode. The flag is set to
    False in a copy of the info (the env's own info dicts are not modified).
    """

    def reset(self) -> Any:
        return self.venv.reset()

    def step_wait(self) -> Any:
        obs, rewards, dones, infos = self.venv.step_wait()
        infos = [
            {**info, "TimeLimit.truncated": False} if info.get("TimeLimit.truncated") else info
            for info in infos
        ]
        return obs, rewards, dones, infos


def _check_nonnegative(name: str, value: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{name}={value!r} must be a finite number >= 0")


class RayPPO(PPO):
    """PPO with PFO, Adam reset, shared/separate trunks, a TanhNormal policy and the paper's settings.

    :param settings: "sb3" (every SB3 default) or "paper" (see :data:`SETTINGS`).
    :param pfo: "off", "last" (penultimate pre-activation of the actor) or "all" (every hidden pre-activation).
    :param pfo_coef: coefficient of the PFO loss in the total loss (>= 0).
    :param pfo_critic: also apply PFO to the critic's own hidden layers.
    :param adam_reset: rebuild the optimizer(s) after every update phase (moments and step counts to zero).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        **PPO.policy_aliases,
        "TanhNormalMlpPolicy": TanhNormalPolicy,
        "EpsilonMixtureMlpPolicy": EpsilonMixturePolicy,
    }

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: Any,
        *,
        settings: SettingsName = "sb3",
        pfo: PFOMode = "off",
        pfo_coef: float = 1.0,
        pfo_critic: bool = False,
        adam_reset: bool = False,
        policy_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if settings not in SETTINGS:
            raise ValueError(f"settings={settings!r} must be one of {tuple(SETTINGS)}")
        if pfo not in PFO_MODES:
            raise ValueError(f"pfo={pfo!r} must be one of {PFO_MODES}")
        _check_nonnegative("pfo_coef", pfo_coef)
        if pfo_critic and pfo == "off":
            raise ValueError("pfo_critic=True needs pfo='last' or 'all'")
        self.settings = settings
        self.pfo = pfo
        self.pfo_coef = float(pfo_coef)
        self.pfo_critic = bool(pfo_critic)
        self.adam_reset = bool(adam_reset)
        self.critic_optimizer: th.optim.Optimizer | None = None
        self._pfo_recorders: tuple[PreactivationRecorder, PreactivationRecorder | None] | None = None
        super().__init__(policy, env, policy_kwargs=self._resolve_policy_kwargs(policy_kwargs), **kwargs)

    @property
    def ppo_settings(self) -> PPOSettings:
        return SETTINGS[self.settings]

    def _resolve_policy_kwargs(self, policy_kwargs: dict[str, Any] | None) -> dict[str, Any] | None:
        """Apply the settings preset to the policy kwargs; make Adam's eps explicit."""
        s = self.ppo_settings
        pk = dict(policy_kwargs or {})
        if not s.ortho_init:
            if pk.get("ortho_init") is True:
                raise ValueError(
                    f"settings={self.settings!r} uses PyTorch's default init; drop ortho_init=True"
                )
            pk["ortho_init"] = False
        optimizer_class = pk.get("optimizer_class", th.optim.Adam)
        is_adam = isinstance(optimizer_class, type) and issubclass(
            optimizer_class, (th.optim.Adam, th.optim.AdamW)
        )
        if is_adam and ("optimizer_kwargs" in pk or s.adam_eps != SETTINGS["sb3"].adam_eps):
            opt_kwargs = dict(pk.get("optimizer_kwargs") or {})
            opt_kwargs.setdefault("eps", s.adam_eps)
            pk["optimizer_kwargs"] = opt_kwargs
        return pk if (pk or policy_kwargs is not None) else None

    def _setup_model(self) -> None:
        if self.pfo != "off":
            base = self.rollout_buffer_class
            if base is None:
                base = DictRolloutBuffer if isinstance(self.observation_space, spaces.Dict) else RolloutBuffer
            if base not in INDEXED_BUFFERS:
                raise ValueError(f"pfo needs SB3's RolloutBuffer or DictRolloutBuffer, not {base.__name__}")
            self.rollout_buffer_class = INDEXED_BUFFERS[base]
        super()._setup_model()
        if self.pfo != "off":
            actor = PreactivationRecorder(preactivation_layers(actor_modules(self.policy), self.pfo))
            critic = None
            if self.pfo_critic:
                layers = preactivation_layers(critic_modules(self.policy), self.pfo)
                if not layers:
                    raise ValueError(
                        "pfo_critic=True but the critic has no hidden layer of its own (shared trunk): "
                        "the actor's PFO already covers the trunk"
                    )
                critic = PreactivationRecorder(layers)
            self._pfo_recorders = (actor, critic)
        if self.ppo_settings.separate_optimizers:
            self._build_optimizers(self.lr_schedule(1))

    # -- optimizers ---------------------------------------------------------------------------------------

    def _build_optimizers(self, lr: float) -> None:
        """(Re)create the optimizer(s) from scratch: one over all parameters, or one for actor and critic."""
        cls, kwargs = self.policy.optimizer_class, self.policy.optimizer_kwargs
        if self.ppo_settings.separate_optimizers:
            actor, critic = actor_critic_parameters(self.policy)
            self.policy.optimizer = cls(actor, lr=lr, **kwargs)
            self.critic_optimizer = cls(critic, lr=lr, **kwargs)
        else:
            self.policy.optimizer = cls(self.policy.parameters(), lr=lr, **kwargs)

    def optimizers(self) -> list[th.optim.Optimizer]:
        """The optimizer(s) stepping the policy: [all] or [actor, critic]."""
        if self.critic_optimizer is None:
            return [self.policy.optimizer]
        return [self.policy.optimizer, self.critic_optimizer]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "critic_optimizer", "_pfo_recorders"]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, others = super()._get_torch_save_params()
        if self.ppo_settings.separate_optimizers:
            state_dicts = [*state_dicts, "critic_optimizer"]
        return state_dicts, others

    def get_parameters(self) -> dict[str, dict]:
        """As SB3, but separate optimizers are saved as one ``policy.optimizer`` state, so that plain
        ``stable_baselines3.PPO.load`` opens the zip (see :mod:`baselines.ppo.optimizer_state`)."""
        params = super().get_parameters()
        if self.critic_optimizer is not None:
            del params["critic_optimizer"]
            params["policy.optimizer"] = merge_optimizer_states(list(self.policy.parameters()), self.optimizers())
        return params

    def set_parameters(
        self, load_path_or_dict: str | dict[str, Any], exact_match: bool = True, device: th.device | str = "auto"
    ) -> None:
        """As SB3; a merged optimizer state (what :meth:`get_parameters` saves) is split back in two."""
        if isinstance(load_path_or_dict, dict):
            params = dict(load_path_or_dict)
        else:
            _, params, _ = load_from_zip_file(load_path_or_dict, device=device)
        if self.critic_optimizer is not None and "critic_optimizer" not in params and "policy.optimizer" in params:
            params["policy.optimizer"], params["critic_optimizer"] = split_optimizer_states(
                params["policy.optimizer"], list(self.policy.parameters()), self.optimizers()
            )
        super().set_parameters(params, exact_match=exact_match, device=device)

    # -- rollouts -----------------------------------------------------------------------------------------

    def collect_rollouts(
        self, env: VecEnv, callback: BaseCallback, rollout_buffer: RolloutBuffer, n_rollout_steps: int
    ) -> bool:
        if not self.ppo_settings.bootstrap_truncation:
            env = TruncationAsTermination(env)
        return super().collect_rollouts(env, callback, rollout_buffer, n_rollout_steps)

    @th.no_grad()
    def _rollout_preactivations(self, recorder: PreactivationRecorder, actor: bool) -> list[th.Tensor]:
        """Per layer, the rollout policy's pre-activations of every buffer row in the buffer's flattened order.

        One env column at a time (SB3 flattens env-major: row = env * n_steps + step), so no copy of the
        whole observation array is made. Works before and after the buffer's in-place flattening, so
        ``train()`` may be called again on the same rollout.
        """
        buf = self.rollout_buffer

        def column(arr: np.ndarray, e: int) -> np.ndarray:
            # after a first get() the buffer is already flattened in place
            return arr[e * buf.buffer_size : (e + 1) * buf.buffer_size] if buf.generator_ready else arr[:, e]

        chunks = []
        for e in range(buf.n_envs):
            if isinstance(buf.observations, dict):
                obs = {k: column(v, e) for k, v in buf.observations.items()}
            else:
                obs = column(buf.observations, e)
            obs_t = obs_as_tensor(obs, self.device)
            with recorder.record() as outputs:
                if actor:
                    self.policy.get_distribution(obs_t)
                else:
                    self.policy.predict_values(obs_t)
            chunks.append(recorder.features(outputs))
        return [th.cat(layer, dim=0) for layer in zip(*chunks, strict=True)]

    # -- update phase -------------------------------------------------------------------------------------

    def train(self) -> None:
        """SB3's PPO update (same ops, same order) plus PFO, the paper's settings and Adam reset."""
        self.policy.set_training_mode(True)
        optimizers = self.optimizers()
        self._update_learning_rate(optimizers if len(optimizers) > 1 else optimizers[0])
        clip_range = self.clip_range(self._current_progress_remaining)  # type: ignore[operator]
        clip_range_vf = None
        if self.clip_range_vf is not None:
            clip_range_vf = self.clip_range_vf(self._current_progress_remaining)  # type: ignore[operator]

        recorders = [r for r in (self._pfo_recorders or ()) if r is not None]
        old_preacts = [self._rollout_preactivations(r, actor=(i == 0)) for i, r in enumerate(recorders)]
        pfo_stats: dict[str, list[th.Tensor]] = {"actor": [], "critic": [], "above": [], "samples": []}
        with ExitStack() as stack:  # hooks stay registered for the whole update phase
            recorded = [stack.enter_context(r.record()) for r in recorders]
            logs = self._update_epochs(
                optimizers, clip_range, clip_range_vf, recorded, old_preacts, pfo_stats
            )

        if self.adam_reset:
            self._build_optimizers(self.lr_schedule(self._current_progress_remaining))

        explained_var = explained_variance(
            self.rollout_buffer.values.flatten(), self.rollout_buffer.returns.flatten()
        )
        for key in ("entropy_loss", "policy_gradient_loss", "value_loss", "approx_kl", "clip_fraction"):
            self.logger.record(f"train/{key}", np.mean(logs[key]))
        self.logger.record("train/loss", logs["loss"])
        self.logger.record("train/explained_variance", explained_var)
        if hasattr(self.policy, "log_std"):
            self.logger.record("train/std", th.exp(self.policy.log_std).mean().item())
        if pfo_stats["actor"]:
            self.logger.record("train/pfo_loss", th.stack(pfo_stats["actor"]).mean().item())
            frac = th.stack(pfo_stats["above"]).sum() / sum(pfo_stats["samples"])
            self.logger.record(f"train/pfo_frac_above_{PFO_LOGGED_THRESHOLD}", frac.item())
        if pfo_stats["critic"]:
            self.logger.record("train/pfo_critic_loss", th.stack(pfo_stats["critic"]).mean().item())
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/clip_range", clip_range)
        if clip_range_vf is not None:
            self.logger.record("train/clip_range_vf", clip_range_vf)

    def _pfo_term(
        self,
        recorded: list[list[th.Tensor | None]],
        old_preacts: list[list[th.Tensor]],
        stats: dict[str, list[th.Tensor]],
    ) -> th.Tensor:
        """coef * (actor PFO [+ critic PFO]) for the minibatch just evaluated; statistics go to ``stats``."""
        idx = th.as_tensor(self.rollout_buffer.last_indices, device=self.device)  # type: ignore[attr-defined]
        total = None
        for i, (outputs, old) in enumerate(zip(recorded, old_preacts, strict=True)):
            term, per_sample = pfo_loss(
                PreactivationRecorder.features(outputs), [layer[idx] for layer in old]
            )
            total = term if total is None else total + term
            if i == 0:
                stats["actor"].append(term.detach())
                stats["above"].append((per_sample.detach() > PFO_LOGGED_THRESHOLD).sum())
                stats["samples"].append(per_sample.numel())  # a count: stays a host int
            else:
                stats["critic"].append(term.detach())
            outputs[:] = [None] * len(outputs)  # a stale minibatch can never be reused
        return self.pfo_coef * total  # type: ignore[operator]

    def _update_epochs(
        self,
        optimizers: list[th.optim.Optimizer],
        clip_range: float,
        clip_range_vf: float | None,
        recorded: list[list[th.Tensor | None]],
        old_preacts: list[list[th.Tensor]],
        pfo_stats: dict[str, list[th.Tensor]],
    ) -> dict[str, Any]:
        """The epochs of minibatch updates; returns the lists SB3 logs (and the last minibatch's loss)."""
        s = self.ppo_settings
        if s.separate_optimizers:
            actor_params, critic_params = actor_critic_parameters(self.policy)
        # Per-minibatch statistics stay on the device until the phase ends: one host sync per phase instead of
        # five per minibatch (SB3 calls .item() on each), which matters on a GPU. Logged values are unchanged.
        entropy_losses: list[th.Tensor] = []
        pg_losses: list[th.Tensor] = []
        value_losses: list[th.Tensor] = []
        clip_fractions: list[th.Tensor] = []
        approx_kl_divs: list[th.Tensor] = []
        continue_training = True
        for epoch in range(self.n_epochs):
            approx_kl_divs = []
            for rollout_data in self.rollout_buffer.get(self.batch_size):
                actions = rollout_data.actions
                if isinstance(self.action_space, spaces.Discrete):
                    actions = rollout_data.actions.long().flatten()

                values, log_prob, entropy = self.policy.evaluate_actions(rollout_data.observations, actions)
                values = values.flatten()

                advantages = rollout_data.advantages
                if self.normalize_advantage and len(advantages) > 1:
                    std = advantages.std(correction=0) if s.biased_advantage_std else advantages.std()
                    advantages = (advantages - advantages.mean()) / (std + 1e-8)

                ratio = th.exp(log_prob - rollout_data.old_log_prob)
                policy_loss_1 = advantages * ratio
                policy_loss_2 = advantages * th.clamp(ratio, 1 - clip_range, 1 + clip_range)
                policy_loss = -th.min(policy_loss_1, policy_loss_2).mean()
                pg_losses.append(policy_loss.detach())
                clip_fractions.append(th.mean((th.abs(ratio - 1) > clip_range).float()))

                if clip_range_vf is None:
                    values_pred = values
                else:
                    values_pred = rollout_data.old_values + th.clamp(
                        values - rollout_data.old_values, -clip_range_vf, clip_range_vf
                    )
                value_loss = F.mse_loss(rollout_data.returns, values_pred)
                value_losses.append(value_loss.detach())

                # No closed-form entropy: SB3's estimate -E[log pi(a|s)] over the minibatch's actions.
                entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
                entropy_losses.append(entropy_loss.detach())

                loss = policy_loss + self.ent_coef * entropy_loss + self.vf_coef * value_loss
                if recorded:
                    loss = loss + self._pfo_term(recorded, old_preacts, pfo_stats)

                with th.no_grad():
                    log_ratio = log_prob - rollout_data.old_log_prob
                    approx_kl_div = th.mean((th.exp(log_ratio) - 1) - log_ratio)
                    approx_kl_divs.append(approx_kl_div)
                if self.target_kl is not None and approx_kl_div.item() > 1.5 * self.target_kl:  # syncs, as it must
                    continue_training = False
                    if self.verbose >= 1:
                        print(f"Early stopping at step {epoch} due to reaching max kl: {approx_kl_div.item():.2f}")
                    break

                for optimizer in optimizers:
                    optimizer.zero_grad()
                loss.backward()
                if s.separate_optimizers:
                    th.nn.utils.clip_grad_norm_(actor_params, self.max_grad_norm)
                    th.nn.utils.clip_grad_norm_(critic_params, self.max_grad_norm)
                else:
                    th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
                for optimizer in optimizers:
                    optimizer.step()

            self._n_updates += 1
            if not continue_training:
                break
        def host(ts: list[th.Tensor]) -> list[float]:  # Python floats, as SB3's .item() gave
            return th.stack(ts).cpu().tolist() if ts else []

        return {
            "entropy_loss": host(entropy_losses),
            "policy_gradient_loss": host(pg_losses),
            "value_loss": host(value_losses),
            # float32 like SB3's per-minibatch .cpu().numpy(), so np.mean rounds the same way
            "approx_kl": th.stack(approx_kl_divs).cpu().numpy() if approx_kl_divs else [],
            "clip_fraction": host(clip_fractions),
            "loss": loss.item(),
        }
