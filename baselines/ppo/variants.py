"""Named PPO variants: the interventions of Moalla et al. (2024) as composable names, and the model factory.

A variant spec is ``"baseline"`` or ``+``-joined intervention names (``"pfo-last+adam-reset"``). Its
canonical form lists the names in :data:`VARIANT_NAMES` order, so equal specs compare equal as strings
(run directories, results.json and the leaderboard key on it). Torch and SB3 are imported inside
:func:`build_model` only, so parsing a spec at argparse time stays cheap.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baselines.ppo.rayppo import RayPPO

VARIANT_NAMES: tuple[str, ...] = (
    "baseline",
    "pfo-last",
    "pfo-all",
    "shared-trunk",
    "adam-reset",
    "adam-equal-betas",
)

# Keys of stable_baselines3.PPO.__init__ a hyperparameter file may set (rl-zoo3 style).
PPO_KEYS: frozenset[str] = frozenset(
    {
        "policy",
        "n_steps",
        "batch_size",
        "n_epochs",
        "learning_rate",
        "gamma",
        "gae_lambda",
        "clip_range",
        "clip_range_vf",
        "normalize_advantage",
        "ent_coef",
        "vf_coef",
        "max_grad_norm",
        "use_sde",
        "sde_sample_freq",
        "target_kl",
        "stats_window_size",
        "policy_kwargs",
    }
)
# RayPPO's own keys; "pfo" and "adam_reset" are owned by the variant and may not be set directly.
RAY_KEYS: frozenset[str] = frozenset({"settings", "pfo_coef", "pfo_critic"})
VARIANT_OWNED_KEYS: frozenset[str] = frozenset({"pfo", "adam_reset"})

EQUAL_BETAS: tuple[float, float] = (0.9, 0.9)


def parse_variant(spec: str) -> tuple[str, ...]:
    """Split a variant spec into its canonical tuple of names; ValueError on any bad part."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"variant {spec!r} is empty; use 'baseline' or '+'-joined names of {VARIANT_NAMES}")
    parts = [p.strip() for p in spec.split("+")]
    for part in parts:
        if part not in VARIANT_NAMES:
            raise ValueError(
                f"unknown variant part {part!r} in {spec!r}; allowed names: {', '.join(VARIANT_NAMES)}"
            )
    if len(set(parts)) != len(parts):
        raise ValueError(f"variant {spec!r} repeats a name")
    if "baseline" in parts and len(parts) > 1:
        raise ValueError(f"variant {spec!r}: 'baseline' means no intervention and cannot be combined")
    if "pfo-last" in parts and "pfo-all" in parts:
        raise ValueError(f"variant {spec!r}: 'pfo-last' and 'pfo-all' are alternatives; pick one")
    return tuple(name for name in VARIANT_NAMES if name in parts)


def canonical_variant(spec: str) -> str:
    """The canonical string of a spec, e.g. ``"adam-reset+pfo-last"`` -> ``"pfo-last+adam-reset"``."""
    return "+".join(parse_variant(spec))


def default_pfo_coef(pfo: str, policy: str, activation: str) -> float:
    """The paper's PFO coefficients (its Tables 2-3 and Section 4): ALE (CnnPolicy) 1 on the last
    pre-activation and 10 on all of them; MLPs (MuJoCo) 1 with tanh and 10 with ReLU, for both "last" and
    "all". Other MLP activations get the tanh value (the bounded-activation case)."""
    if policy == "CnnPolicy":
        return 10.0 if pfo == "all" else 1.0
    return 10.0 if activation == "relu" else 1.0


def _resolve_activation(value: Any) -> Any:
    """Accept an nn.Module class or a name such as ``"nn.ReLU"``, ``"torch.nn.Tanh"`` or ``"relu"``."""
    from torch import nn

    if isinstance(value, type) and issubclass(value, nn.Module):
        return value
    if isinstance(value, str):
        name = value.rsplit(".", 1)[-1]
        by_lower = {
            cls.lower(): cls for cls in ("ReLU", "Tanh", "ELU", "LeakyReLU", "GELU", "SiLU", "Sigmoid")
        }
        cls_name = by_lower.get(name.lower())
        if cls_name is not None:
            return getattr(nn, cls_name)
    raise ValueError(
        f"policy_kwargs activation_fn {value!r} is not an nn.Module class or one of "
        "relu, tanh, elu, leakyrelu, gelu, silu, sigmoid (optionally prefixed by 'nn.' or 'torch.nn.')"
    )


def _resolve_optimizer(value: Any) -> Any:
    import torch

    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer):
        return value
    if isinstance(value, str):
        name = value.rsplit(".", 1)[-1]
        cls = getattr(torch.optim, name, None)
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer):
            return cls
    raise ValueError(f"policy_kwargs optimizer_class {value!r} is not a torch.optim optimizer (e.g. 'Adam')")


def _resolve_extractor(name: str) -> Any:
    from stable_baselines3.common import torch_layers

    from baselines.ppo import policies

    known = {
        "NatureCNN": torch_layers.NatureCNN,
        "FlattenExtractor": torch_layers.FlattenExtractor,
        "CombinedExtractor": torch_layers.CombinedExtractor,
        "SharedTrunkExtractor": policies.SharedTrunkExtractor,
    }
    cls = known.get(name.rsplit(".", 1)[-1])
    if cls is None:
        raise ValueError(f"policy_kwargs features_extractor_class {name!r} is not one of {sorted(known)}")
    return cls


def _resolve_schedule(key: str, value: Any) -> Any:
    """Numbers pass through; rl-zoo3's ``"lin_<x>"`` becomes a linear decay from x to 0."""
    if callable(value):
        return value
    if isinstance(value, str) and value.startswith("lin_"):
        from stable_baselines3.common.utils import LinearSchedule

        try:
            start = float(value[4:])
        except ValueError as exc:
            raise ValueError(f"{key}={value!r}: expected 'lin_<number>'") from exc
        return LinearSchedule(start, 0.0, 1.0)
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"{key}={value!r} must be a finite number >= 0 or 'lin_<number>'")
    return float(value)


def _activation_name(policy_kwargs: dict[str, Any]) -> str:
    act = policy_kwargs.get("activation_fn")
    return "tanh" if act is None else act.__name__.lower()


def build_model(
    variant: str,
    env: Any,
    hyperparams: dict[str, Any],
    seed: int | None = None,
    device: str = "auto",
    tensorboard_log: str | None = None,
    verbose: int = 0,
) -> RayPPO:
    """Build a :class:`~baselines.ppo.rayppo.RayPPO` for ``env`` with ``hyperparams`` plus the variant's interventions.

    ``hyperparams`` holds rl-zoo3-style PPO keys and RayPPO's ``settings``/``pfo_coef``/``pfo_critic``; the
    variant decides ``pfo``, ``adam_reset``, the Adam betas and whether actor and critic share their trunk.
    Without "shared-trunk", image policies get separate actor and critic networks as in the paper (SB3's
    CnnPolicy would share its CNN by default).
    """
    from baselines.ppo.policies import shared_trunk_kwargs
    from baselines.ppo.rayppo import RayPPO

    names = parse_variant(variant)
    hp = dict(hyperparams)
    unknown = sorted(set(hp) - PPO_KEYS - RAY_KEYS - VARIANT_OWNED_KEYS)
    if unknown:
        allowed = ", ".join(sorted(PPO_KEYS | RAY_KEYS))
        raise ValueError(f"unknown hyperparameter key(s) {unknown}; allowed keys: {allowed}")
    owned = sorted(set(hp) & VARIANT_OWNED_KEYS)
    if owned:
        raise ValueError(
            f"hyperparameter key(s) {owned} are set by the variant (e.g. 'pfo-last', 'adam-reset')"
        )
    policy = hp.pop("policy", "MlpPolicy")
    if not isinstance(policy, str) or policy not in RayPPO.policy_aliases:
        raise ValueError(f"policy {policy!r} must be one of {sorted(RayPPO.policy_aliases)}")

    pk = dict(hp.pop("policy_kwargs", None) or {})
    if "activation_fn" in pk:
        pk["activation_fn"] = _resolve_activation(pk["activation_fn"])
    if "optimizer_class" in pk:
        pk["optimizer_class"] = _resolve_optimizer(pk["optimizer_class"])
    if isinstance(pk.get("features_extractor_class"), str):
        pk["features_extractor_class"] = _resolve_extractor(pk["features_extractor_class"])
    for key in ("learning_rate", "clip_range"):
        if key in hp:
            hp[key] = _resolve_schedule(key, hp[key])

    if "shared-trunk" in names:
        pk = shared_trunk_kwargs(policy, pk)
    elif policy not in ("MlpPolicy", "TanhNormalMlpPolicy", "EpsilonMixtureMlpPolicy") or "features_extractor_class" in pk:
        if pk.get("share_features_extractor") is True:
            raise ValueError(
                f"variant {variant!r} uses separate actor and critic networks but policy_kwargs sets "
                "share_features_extractor=True; use the 'shared-trunk' variant instead"
            )
        pk["share_features_extractor"] = False

    if "adam-equal-betas" in names:
        opt_kwargs = dict(pk.get("optimizer_kwargs") or {})
        if "betas" in opt_kwargs and tuple(opt_kwargs["betas"]) != EQUAL_BETAS:
            raise ValueError(
                f"variant {variant!r} sets betas {EQUAL_BETAS} but policy_kwargs has {opt_kwargs['betas']}"
            )
        opt_kwargs["betas"] = EQUAL_BETAS
        pk["optimizer_kwargs"] = opt_kwargs  # RayPPO makes eps explicit (SB3 drops its 1e-5 otherwise)

    pfo = "last" if "pfo-last" in names else "all" if "pfo-all" in names else "off"
    if pfo != "off" and "pfo_coef" not in hp:
        hp["pfo_coef"] = default_pfo_coef(pfo, policy, _activation_name(pk))

    return RayPPO(
        policy,
        env,
        pfo=pfo,
        adam_reset="adam-reset" in names,
        policy_kwargs=pk,
        seed=seed,
        device=device,
        tensorboard_log=tensorboard_log,
        verbose=verbose,
        **hp,
    )
