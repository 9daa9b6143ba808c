"""Every check a bundle must pass before anything is stored, each failing with a specific message.

The order matters only for the message a user sees first: identity (env id, version), then statistics
(seed count, curve shapes), then values (finite, inside the env's possible range), then integrity (hash,
weights). Duplicates are caught by the store, inside the same transaction that would insert the entry.
"""

from __future__ import annotations

import hashlib
import math
import re

from leaderboard.schema import BUNDLE_VERSION, Bundle, SeedData
from leaderboard.weights import load_safetensors

MIN_SEEDS = 3
VERSIONED_ID = re.compile(r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+-v\d+$")
# Component returns must add up to the episode return (the component contract) up to float error.
SUM_TOLERANCE = 1e-6
RANGE_TOLERANCE = 1e-9


class SubmissionRejected(ValueError):
    """A bundle that must not be stored; the message says exactly why."""


def validate_bundle(bundle: Bundle) -> None:
    """Raise :class:`SubmissionRejected` on the first problem found; return None if the bundle is acceptable."""
    from rayenvs.registration import env_info

    if bundle.bundle_version != BUNDLE_VERSION:
        raise SubmissionRejected(
            f"bundle_version {bundle.bundle_version} is not supported (expected {BUNDLE_VERSION})"
        )
    if not VERSIONED_ID.match(bundle.env_id):
        raise SubmissionRejected(
            f"env id {bundle.env_id!r} is not a versioned id of the form 'namespace/Name-vN'"
        )
    try:
        info = env_info(bundle.env_id)
    except ValueError as exc:
        raise SubmissionRejected(f"unknown env id {bundle.env_id!r}: not in the rayenvs catalog") from exc

    if len(bundle.seeds) < MIN_SEEDS:
        raise SubmissionRejected(f"{len(bundle.seeds)} seed(s) submitted; at least {MIN_SEEDS} are required")
    seed_ids = [s.seed for s in bundle.seeds]
    if len(set(seed_ids)) != len(seed_ids):
        raise SubmissionRejected(f"seeds must be distinct, got {sorted(seed_ids)}")
    k = len(bundle.component_names)
    if k < 1:
        raise SubmissionRejected("component_names is empty")
    if k != info.num_components:
        raise SubmissionRejected(
            f"{k} component names submitted but {bundle.env_id} has {info.num_components} components"
        )
    _check_env_kwargs(bundle, info.kwargs)

    ref_steps = bundle.seeds[0].eval.steps
    for s in bundle.seeds:
        curve = s.eval
        if len(curve.steps) != len(ref_steps):
            raise SubmissionRejected(
                f"curves of mismatched length: seed {s.seed} has {len(curve.steps)} eval points, "
                f"seed {bundle.seeds[0].seed} has {len(ref_steps)}"
            )
        if not curve.steps:
            raise SubmissionRejected(f"seed {s.seed} has no evaluation points")
        if curve.steps != ref_steps:
            raise SubmissionRejected(
                f"seed {s.seed} was evaluated at different env steps than seed {bundle.seeds[0].seed}"
            )
        if (curve.deterministic, curve.episodes_per_point) != (
            bundle.protocol.deterministic,
            bundle.protocol.episodes_per_point,
        ):
            raise SubmissionRejected(f"seed {s.seed}: evaluation protocol differs from the bundle's protocol")
        if curve.steps[-1] > s.total_timesteps:
            raise SubmissionRejected(
                f"seed {s.seed}: eval step {curve.steps[-1]} exceeds total_timesteps {s.total_timesteps}"
            )
        for i, (rets, comps) in enumerate(zip(curve.returns, curve.component_returns, strict=True)):
            _check_point(bundle, s.seed, i, rets, comps, k, info.min_return, info.max_return)
        _check_weights(s)

    digests = [s.weights_sha256 for s in bundle.seeds if s.weights_sha256 is not None]
    if len(set(digests)) != len(digests):
        raise SubmissionRejected(
            "two or more seeds carry the same weights file; every seed's policy must be its own training run"
        )

    expected = bundle.compute_hash()
    if bundle.content_hash != expected:
        raise SubmissionRejected(
            f"content hash mismatch: bundle says {bundle.content_hash!r}, its content hashes to {expected!r}"
        )


ENV_KWARG_KEYS = ("env_kwargs", "eval_env_kwargs")


def _check_env_kwargs(bundle: Bundle, registered: dict) -> None:
    """Only the catalog task is ranked: a run trained or evaluated with other env kwargs is another task
    (verifying it in the submitter's environment would certify a score the registered env does not give)."""
    for key in ENV_KWARG_KEYS:
        given = bundle.hyperparameters.get(key)
        if given in (None, {}):
            continue
        if not isinstance(given, dict):
            raise SubmissionRejected(f"hyperparameters.{key} must be a mapping, got {type(given).__name__}")
        differs = sorted(str(k) for k, v in given.items() if k not in registered or registered[k] != v)
        if differs:
            raise SubmissionRejected(
                f"hyperparameters.{key} sets {differs}, which differ from {bundle.env_id}'s registered kwargs "
                f"{registered}; the board ranks the catalog env only (register a new env id for another task)"
            )


def check_reproducible(bundle: Bundle) -> None:
    """Rebuild every seed's policy from the bundle's hyperparameters and load its weights strictly, exactly as
    the verifier will; a bundle that fails here could never be verified, so it is refused, not stored as
    ``reproducible``."""
    from leaderboard.verify import build_policy_model

    for s in bundle.seeds:
        try:
            build_policy_model(bundle, s.seed, s.weights_bytes())
        except Exception as exc:  # noqa: BLE001 - any failure to rebuild means the claim cannot be checked
            raise SubmissionRejected(
                f"seed {s.seed}: the policy cannot be rebuilt from the bundle's hyperparameters and weights "
                f"({type(exc).__name__}: {str(exc)[:500]}); drop the weights to submit as self-reported"
            ) from exc


def _check_weights(s: SeedData) -> None:
    if s.weights_safetensors_b64 is None:
        if s.weights_sha256 is not None:
            raise SubmissionRejected(f"seed {s.seed}: weights_sha256 is set but no weights were submitted")
        return
    try:
        blob = s.weights_bytes()
    except ValueError as exc:
        raise SubmissionRejected(f"seed {s.seed}: weights are not valid base64: {exc}") from exc
    digest = hashlib.sha256(blob).hexdigest()
    if s.weights_sha256 != digest:
        raise SubmissionRejected(
            f"seed {s.seed}: weights hash to {digest}, not weights_sha256={s.weights_sha256!r}"
        )
    try:
        load_safetensors(blob)
    except ValueError as exc:
        raise SubmissionRejected(f"seed {s.seed}: {exc}") from exc


def _check_point(
    bundle: Bundle,
    seed: int,
    i: int,
    rets: list[float],
    comps: list[list[float]],
    k: int,
    lo: float,
    hi: float,
) -> None:
    n = bundle.protocol.episodes_per_point
    if len(rets) != n:
        raise SubmissionRejected(
            f"seed {seed}, eval point {i}: {len(rets)} episodes but the protocol says {n}"
        )
    for j, (ret, comp) in enumerate(zip(rets, comps, strict=True)):
        where = f"seed {seed}, eval point {i}, episode {j}"
        if not math.isfinite(ret) or not all(math.isfinite(c) for c in comp):
            raise SubmissionRejected(f"{where}: NaN or infinite return")
        if len(comp) != k:
            raise SubmissionRejected(f"{where}: {len(comp)} component returns but {k} components are named")
        if not lo - RANGE_TOLERANCE <= ret <= hi + RANGE_TOLERANCE:
            raise SubmissionRejected(
                f"{where}: return {ret!r} is outside the possible range [{lo}, {hi}] of {bundle.env_id}"
            )
        if abs(sum(comp) - ret) > SUM_TOLERANCE * max(1.0, abs(ret)):
            raise SubmissionRejected(
                f"{where}: component returns sum to {sum(comp)!r}, not the return {ret!r}"
            )
