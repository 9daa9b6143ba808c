"""Verification: re-evaluate an entry's submitted weights under a protocol the board decides, not the bundle.

The policy is rebuilt from the bundle alone, exactly as training builds it: the resolved config is split with
:func:`baselines.training.config.split_config`, the model made by :func:`baselines.ppo.variants.build_model`, and the
safetensors weights loaded strictly. It always plays the *catalog* env with its registered kwargs (a bundle's
``env_kwargs`` are refused at submit, and ignored here), on seeds the verifier chooses:

- **deterministic protocol**: the policy and the env seeds (training's ``EVAL_SEED + i``, fixed by the board)
  determine every episode, so the verifier replays the final evaluation point's episodes and requires an
  exact per-seed, per-episode match (float tolerance ``1e-6`` of the return range). Any shuffled, inflated or
  fabricated final-point claim fails.
- **stochastic protocol**: the verifier plays its own ``STOCHASTIC_EPISODES`` episodes per seed on its own
  env seeds (``VERIFY_SEED + i``), and runs a one-sided z-test of "the claim is not above the truth":
  it passes when ``reported - reevaluated <= Z * sigma * sqrt(2 / (N * S))``, ``sigma`` the verifier's pooled
  within-seed standard deviation, ``N`` its episodes per seed and ``S`` the seed count. The factor 2 counts the
  claim's own sampling noise as if it were measured with ``N`` episodes too, so the tolerance depends on the
  verifier's sample only (a claim measured on fewer episodes gets no wider tolerance). With ``Z = 2.326`` an
  honest claim measured on >= N episodes fails 1% of the time; the false-pass rates of claims inflated by
  +0.05 and +0.1 (normalised) are measured by simulation in ``benchmarks/bench_leaderboard_verify.py``
  and ``tests/test_leaderboard_verify_stats.py`` (numbers in benchmarks/RESULTS.md).

Every outcome is recorded; an error while rebuilding or evaluating is recorded as a failed verification.
Only the final policies are checked: learning curves, steps-to-threshold, plateaus and collapse stay
self-reported.
"""

from __future__ import annotations

import hashlib
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
STOCHASTIC_EPISODES = 2000  # the verifier's episodes per seed for a stochastic protocol
VERIFY_SEED = 7_000_000  # env seeds of the stochastic re-evaluation, disjoint from training's EVAL_SEED range
Z_ONE_SIDED = 2.326  # 1% false-fail rate on honest claims measured with >= STOCHASTIC_EPISODES episodes


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
    protocol: str = "deterministic"
    tolerance: float = 0.0
    mismatched_episodes: int = 0
    reason: str = ""

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

    _, hyper = split_bundle_config(bundle)
    env = make_train_env(bundle.env_id, 1, None)  # the catalog env, registered kwargs only
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
    """Returns of ``episodes`` evaluation episodes of the catalog env (env seeds ``seed + i``, default
    training's); the bundle's env kwargs are never used."""
    from baselines.training.callbacks import evaluate_components
    from baselines.training.loop import EVAL_SEED
    from baselines.training.vec_env import make_vector_env

    if episodes < 1:
        raise ValueError(f"episodes={episodes} must be >= 1")
    env = make_vector_env(bundle.env_id, episodes, None)
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


def stochastic_check(reported: float, matrix: np.ndarray, z: float = Z_ONE_SIDED) -> tuple[bool, float]:
    """``(passed, tolerance)`` of the one-sided test on the verifier's ``(episodes, seeds)`` returns."""
    n, seeds = matrix.shape
    sigma = float(np.sqrt(np.mean(np.var(matrix, axis=0, ddof=1)))) if n > 1 else 0.0
    tol = z * sigma * float(np.sqrt(2.0 / (n * seeds)))
    return reported - float(matrix.mean()) <= tol, tol


def verify_bundle(
    bundle: Bundle, weights: dict[int, bytes], episodes: int | None = None, device: str = "cpu"
) -> tuple:
    """Re-evaluate every seed; return ``(passed, report fields)`` without touching any store.

    ``episodes`` overrides the stochastic protocol's episode count (the deterministic protocol always
    replays exactly the final point's episodes)."""
    from rayenvs.registration import env_info

    missing = [s.seed for s in bundle.seeds if s.seed not in weights]
    if missing:
        raise ValueError(f"cannot verify: seeds {missing} were submitted without weights")
    digests = [hashlib.sha256(weights[s.seed]).hexdigest() for s in bundle.seeds]
    if len(set(digests)) != len(digests):
        raise ValueError("cannot verify: two seeds share one weights file")
    deterministic = bundle.protocol.deterministic
    if deterministic:
        n = bundle.protocol.episodes_per_point
    else:
        n = STOCHASTIC_EPISODES if episodes is None else episodes
    if n < 1:
        raise ValueError(f"episodes={n} must be >= 1")
    info = env_info(bundle.env_id)
    float_tol = FLOAT_TOLERANCE * max(1.0, info.max_return - info.min_return)
    per_seed: dict[int, dict[str, float]] = {}
    columns = []
    mismatched = 0
    with _full_precision():
        for s in bundle.seeds:
            model = build_policy_model(bundle, s.seed, weights[s.seed], device)
            rets = evaluate_episodes(model, bundle, n, seed=None if deterministic else VERIFY_SEED)
            columns.append(rets)
            claimed = np.asarray(s.eval.returns[-1], dtype=np.float64)
            if deterministic:
                mismatched += int(np.sum(np.abs(claimed - rets) > float_tol))
            per_seed[s.seed] = {"reported": float(claimed.mean()), "reevaluated": float(rets.mean())}
    matrix = np.stack(columns, axis=1)  # (episodes, seeds): seeds are the strata
    reported = float(np.mean([v["reported"] for v in per_seed.values()]))
    reeval = float(matrix.mean())
    lo, hi = stratified_bootstrap_ci(batched_mean, matrix)
    if deterministic:
        passed, tol = mismatched == 0, float_tol
        reason = (
            ""
            if passed
            else f"{mismatched} of {matrix.size} replayed episodes differ from the claimed returns"
        )
    else:
        passed, tol = stochastic_check(reported, matrix)
        tol += float_tol
        passed = reported - reeval <= tol
        reason = (
            ""
            if passed
            else (f"claimed mean {reported:.4g} exceeds the re-evaluated {reeval:.4g} by more than {tol:.3g}")
        )
    return passed, {
        "episodes": n,
        "reported_mean": reported,
        "reevaluated_mean": reeval,
        "ci": (lo, hi),
        "per_seed": per_seed,
        "protocol": "deterministic" if deterministic else "stochastic",
        "tolerance": tol,
        "mismatched_episodes": mismatched,
        "reason": reason,
    }


def verify_entry(
    store: Store, submission_id: int, episodes: int | None = None, device: str = "cpu"
) -> VerificationReport:
    """Verify a stored entry, record the outcome (which sets its tier) and return the report.

    An entry without weights cannot be verified (ValueError, nothing recorded); any other error while
    rebuilding or re-evaluating is recorded as a failed verification and re-raised as ValueError."""
    entry = store.entry(submission_id, include_hidden=True)
    stored = store.weights(submission_id)
    missing = [s.seed for s in entry.bundle.seeds if s.seed not in stored]
    if missing:
        raise ValueError(f"cannot verify: seeds {missing} were submitted without weights")
    try:
        passed, fields = verify_bundle(entry.bundle, stored, episodes, device)
    except Exception as exc:  # noqa: BLE001 - an entry the verifier cannot run is a failed entry
        message = f"{type(exc).__name__}: {str(exc)[:500]}"
        store.record_verification(submission_id, False, {"error": message})
        raise ValueError(
            f"verification of entry #{submission_id} errored and was recorded as failed: {message}"
        ) from exc
    report = VerificationReport(submission_id=submission_id, passed=passed, **fields)
    store.record_verification(submission_id, passed, report.as_dict())
    return report
