"""Verification: re-evaluate an entry's submitted weights and check its reported score against the result.

The policy is rebuilt from the bundle alone, exactly as training builds it: the resolved config is split with
:func:`baselines.training.config.split_config`, the model made by :func:`baselines.ppo.variants.build_model`, and the
safetensors weights loaded strictly. Every seed's policy then plays the fixed evaluation episodes of training
(:func:`baselines.training.callbacks.evaluate_components`, env seeds ``baselines.training.loop.EVAL_SEED + i``) under the
bundle's protocol, by default as many as the protocol's ``episodes_per_point``, so that an honest
deterministic evaluation is reproduced exactly. The entry passes when its reported mean final return (mean
over seeds of the final eval point) lies inside the 95% stratified bootstrap CI of the re-evaluated mean
(episodes resampled within each seed), widened by a float tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from leaderboard.schema import Bundle
from leaderboard.scoring import batched_mean, stratified_bootstrap_ci
from leaderboard.storage import Store
from leaderboard.weights import load_safetensors

# Relative to the env's return range: two evaluations that agree up to float error must pass.
FLOAT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class VerificationReport:
    """What verification measured and whether the entry passed."""

    submission_id: int
    passed: bool
    episodes: int
    reported_mean: float
    reevaluated_mean: float
    ci: tuple[float, float]
    per_seed: dict[int, dict[str, float]]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def split_bundle_config(bundle: Bundle) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, model hyperparameters) of the bundle's resolved config, split as training splits it."""
    from baselines.training.config import split_config

    return split_config(bundle.hyperparameters)


def build_policy_model(bundle: Bundle, seed: int, weights: bytes | None, device: str = "cpu") -> Any:
    """Rebuild the model of one seed from the bundle (as training builds it) and load its weights strictly."""
    from baselines.ppo.variants import build_model
    from baselines.training.vec_env import make_train_env

    run, hyper = split_bundle_config(bundle)
    env = make_train_env(bundle.env_id, 1, run.get("env_kwargs"))
    model = build_model(bundle.variant, env, hyper, seed=seed, device=device)
    if weights is not None:
        try:
            model.policy.load_state_dict(load_safetensors(weights), strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"seed {seed}: submitted weights do not fit the configured policy: {exc}"
            ) from exc
    return model


def evaluate_episodes(model: Any, bundle: Bundle, episodes: int, seed: int | None = None) -> np.ndarray:
    """Returns of ``episodes`` fixed evaluation episodes (env seeds ``seed + i``, default training's)."""
    from baselines.training.callbacks import evaluate_components
    from baselines.training.loop import EVAL_SEED
    from baselines.training.vec_env import make_vector_env

    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    run, _ = split_bundle_config(bundle)
    eval_kwargs = run.get("eval_env_kwargs") or run.get("env_kwargs")
    env = make_vector_env(bundle.env_id, episodes, eval_kwargs)
    try:
        out = evaluate_components(
            model,
            env,
            EVAL_SEED if seed is None else seed,
            len(bundle.component_names),
            deterministic=bundle.protocol.deterministic,
        )
    finally:
        env.close()
    return np.asarray(out.returns, dtype=np.float64)


@contextmanager
def _full_precision() -> Iterator[None]:
    """No TF32 while re-evaluating: on Ampere and newer GPUs cuDNN convolutions use TF32 by default, which can
    flip a deterministic argmax near a tie and fail an honest entry trained in full float32."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def verify_bundle(
    bundle: Bundle, weights: dict[int, bytes], episodes: int | None = None, device: str = "cpu"
) -> tuple:
    """Re-evaluate every seed; return ``(passed, report fields)`` without touching any store."""
    from rayenvs.registration import env_info

    missing = [s.seed for s in bundle.seeds if s.seed not in weights]
    if missing:
        raise ValueError(f"cannot verify: seeds {missing} were submitted without weights")
    n = bundle.protocol.episodes_per_point if episodes is None else episodes
    if n < 1:
        raise ValueError(f"episodes={n} must be >= 1")
    per_seed: dict[int, dict[str, float]] = {}
    columns = []
    with _full_precision():
        for s in bundle.seeds:
            model = build_policy_model(bundle, s.seed, weights[s.seed], device)
            rets = evaluate_episodes(model, bundle, n)
            columns.append(rets)
            per_seed[s.seed] = {
                "reported": float(np.mean(s.eval.returns[-1])),
                "reevaluated": float(rets.mean()),
            }
    matrix = np.stack(columns, axis=1)  # (episodes, seeds): seeds are the strata
    reported = float(np.mean([v["reported"] for v in per_seed.values()]))
    reeval = float(matrix.mean())
    lo, hi = stratified_bootstrap_ci(batched_mean, matrix)
    info = env_info(bundle.env_id)
    tol = FLOAT_TOLERANCE * max(1.0, info.max_return - info.min_return)
    passed = lo - tol <= reported <= hi + tol
    return passed, {
        "episodes": n,
        "reported_mean": reported,
        "reevaluated_mean": reeval,
        "ci": (lo, hi),
        "per_seed": per_seed,
    }


def verify_entry(
    store: Store, submission_id: int, episodes: int | None = None, device: str = "cpu"
) -> VerificationReport:
    """Verify a stored entry, record the outcome (which sets its tier) and return the report."""
    entry = store.entry(submission_id)
    passed, fields = verify_bundle(entry.bundle, store.weights(submission_id), episodes, device)
    report = VerificationReport(submission_id=submission_id, passed=passed, **fields)
    store.record_verification(submission_id, passed, report.as_dict())
    return report
