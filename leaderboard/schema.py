"""The versioned submission bundle: everything a leaderboard entry claims, in one self-checking document.

A bundle holds the *raw* per-seed evaluation data (every episode, every component), not summary numbers, so
the board computes all statistics itself and nobody can report a CI they did not earn. Its
:attr:`Bundle.content_hash` covers the scientific content (data, configuration, versions, and the weights
through their sha256) but not the submitter's name, so the same runs submitted twice under two names are
still one duplicate, and a stored bundle whose weights live elsewhere keeps a checkable hash.

Weights travel as base64 safetensors only: a format that stores tensors and nothing executable.

No document can break the board: every number anywhere in a bundle must be finite and every integer fit in
int64 (checked on the raw input, before any field is built), and the sizes below bound what one entry may
make the board store, parse or score. A stored row is re-validated with these same rules when it is read.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baselines.training.results import Curve

BUNDLE_VERSION = 1
MAX_NAME_CHARS = 200
# Fields the content hash leaves out: the hash itself and who submitted it.
_UNHASHED = frozenset({"content_hash", "submitter"})

# Bounds on one bundle (why: each bounds memory or CPU a single submission can cost every reader).
MAX_SEEDS = 64
MAX_EVAL_POINTS = 2_000
MAX_EPISODES_PER_POINT = 1_000
MAX_COMPONENTS = 1_024
MAX_CURVE_NUMBERS = 4_000_000  # seeds x points x episodes x (components + 1)
MAX_STEPS = 10**12
MAX_SEED_VALUE = 2**32 - 1
MAX_WALL_TIME_S = 1e9
MAX_DICT_ITEMS = 256
MAX_METRIC_POINTS = 1_000_000  # summed over a seed's metrics
MAX_TEXT_CHARS = 200_000  # config_yaml and any string inside hyperparameters
MAX_WEIGHTS_B64_CHARS = 96 * 1024 * 1024
MAX_NESTING = 32
_INT64 = 2**63 - 1


def _check_raw(value: Any, where: str, depth: int = 0) -> None:
    """Refuse non-finite floats, integers outside int64, over-long strings and too deep nesting anywhere."""
    if depth > MAX_NESTING:
        raise ValueError(f"{where}: nested deeper than {MAX_NESTING} levels")
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: non-finite number {value!r} (only finite numbers are accepted)")
    elif isinstance(value, int):
        if abs(value) > _INT64:
            raise ValueError(f"{where}: integer {value} is outside the int64 range")
    elif isinstance(value, str):
        limit = MAX_WEIGHTS_B64_CHARS if where.endswith("weights_safetensors_b64") else MAX_TEXT_CHARS
        if len(value) > limit:
            raise ValueError(f"{where}: string of {len(value)} characters exceeds {limit}")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_raw(v, f"{where}.{k}"[:300], depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_raw(v, f"{where}[{i}]", depth + 1)


def _check_dict(d: dict, name: str) -> None:
    if len(d) > MAX_DICT_ITEMS:
        raise ValueError(f"{name} has {len(d)} entries; at most {MAX_DICT_ITEMS} are accepted")
    long_keys = [k for k in d if len(str(k)) > MAX_NAME_CHARS]
    if long_keys:
        raise ValueError(f"{name}: key of {len(str(long_keys[0]))} characters exceeds {MAX_NAME_CHARS}")


class EvalProtocol(BaseModel):
    """How every evaluation point was measured (identical across seeds, or the bundle is rejected)."""

    model_config = ConfigDict(extra="forbid")

    deterministic: bool
    episodes_per_point: int = Field(ge=1, le=MAX_EPISODES_PER_POINT)


class SeedData(BaseModel):
    """One training seed: its raw evaluation curve, diagnostics and optional final policy weights."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    seed: int = Field(ge=0, le=MAX_SEED_VALUE)
    total_timesteps: int = Field(ge=0, le=MAX_STEPS)
    wall_time_s: float = Field(ge=0, le=MAX_WALL_TIME_S)
    eval: Curve
    metrics: dict[str, list[tuple[int, float]]] = Field(default_factory=dict)
    weights_safetensors_b64: str | None = Field(
        default=None, max_length=MAX_WEIGHTS_B64_CHARS, description="final policy state_dict"
    )
    weights_sha256: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{64}$", description="hex sha256 of the safetensors bytes"
    )

    @model_validator(mode="before")
    @classmethod
    def _raw_finite(cls, data: Any) -> Any:
        if isinstance(data, dict):
            _check_raw(data, f"seed {data.get('seed')!r}")
        return data

    @model_validator(mode="after")
    def _bounded(self) -> SeedData:
        where = f"seed {self.seed}"
        if len(self.eval.steps) > MAX_EVAL_POINTS:
            raise ValueError(f"{where}: {len(self.eval.steps)} eval points; at most {MAX_EVAL_POINTS}")
        bad = [x for x in self.eval.steps if not 0 <= x <= MAX_STEPS]
        if bad:
            raise ValueError(f"{where}: eval step {bad[0]} is outside [0, {MAX_STEPS}]")
        if any(len(r) > MAX_EPISODES_PER_POINT for r in self.eval.returns):
            raise ValueError(f"{where}: more than {MAX_EPISODES_PER_POINT} episodes at one eval point")
        _check_dict(self.metrics, f"{where}: metrics")
        points = sum(len(v) for v in self.metrics.values())
        if points > MAX_METRIC_POINTS:
            raise ValueError(f"{where}: {points} metric points; at most {MAX_METRIC_POINTS}")
        bad = [st for v in self.metrics.values() for st, _ in v if not 0 <= st <= MAX_STEPS]
        if bad:
            raise ValueError(f"{where}: metric step {bad[0]} is outside [0, {MAX_STEPS}]")
        return self

    def weights_bytes(self) -> bytes | None:
        """The decoded safetensors blob, or None when the seed carries no weights."""
        if self.weights_safetensors_b64 is None:
            return None
        return base64.b64decode(self.weights_safetensors_b64, validate=True)


class Bundle(BaseModel):
    """One leaderboard submission: a single configuration (algo, variant, hyperparameters) on one env id."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    bundle_version: int = BUNDLE_VERSION
    suite_version: str = Field(max_length=MAX_NAME_CHARS)
    env_id: str = Field(max_length=MAX_NAME_CHARS)
    algo: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    variant: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    config_yaml: str | None = Field(
        default=None, max_length=MAX_TEXT_CHARS, description="the run's config.yaml, verbatim"
    )
    component_names: list[str] = Field(max_length=MAX_COMPONENTS)
    protocol: EvalProtocol
    seeds: list[SeedData] = Field(max_length=MAX_SEEDS)
    versions: dict[str, str] = Field(default_factory=dict)
    hardware: dict[str, str] = Field(default_factory=dict)
    wall_time_s: float = Field(ge=0, le=MAX_SEEDS * MAX_WALL_TIME_S, description="sum over seeds")
    submitter: str = Field(default="anonymous", min_length=1, max_length=MAX_NAME_CHARS)
    content_hash: str = Field(default="", max_length=80)

    @model_validator(mode="before")
    @classmethod
    def _raw_finite(cls, data: Any) -> Any:
        if isinstance(data, dict):  # seeds are checked by SeedData itself
            for key, value in data.items():
                if key != "seeds":
                    _check_raw(value, str(key)[:100])
            seeds = data.get("seeds")
            if isinstance(seeds, list) and len(seeds) > MAX_SEEDS:
                raise ValueError(f"{len(seeds)} seeds submitted; at most {MAX_SEEDS} are accepted")
        return data

    @model_validator(mode="after")
    def _bounded(self) -> Bundle:
        for name in ("hyperparameters", "versions", "hardware"):
            _check_dict(getattr(self, name), name)
        for name in ("versions", "hardware"):
            long_values = [v for v in getattr(self, name).values() if len(v) > MAX_NAME_CHARS]
            if long_values:
                raise ValueError(
                    f"{name}: value of {len(long_values[0])} characters exceeds {MAX_NAME_CHARS}"
                )
        long_names = [c for c in self.component_names if len(c) > MAX_NAME_CHARS]
        if long_names:
            raise ValueError(f"component name of {len(long_names[0])} characters exceeds {MAX_NAME_CHARS}")
        numbers = sum(len(r) * (len(self.component_names) + 1) for s in self.seeds for r in s.eval.returns)
        if numbers > MAX_CURVE_NUMBERS:
            raise ValueError(f"eval curves hold {numbers} numbers; at most {MAX_CURVE_NUMBERS} are accepted")
        return self

    def compute_hash(self) -> str:
        """sha256 of the canonical JSON of every field except the hash, the submitter and the weight blobs
        (whose ``weights_sha256`` digests are hashed instead)."""
        data = self.model_dump(mode="json", exclude=set(_UNHASHED))
        for seed in data["seeds"]:  # weights enter through their digest, so the hash survives dropping them
            seed.pop("weights_safetensors_b64")
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), allow_nan=True)
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def with_hash(self) -> Bundle:
        """A copy whose ``content_hash`` is filled in."""
        return self.model_copy(update={"content_hash": self.compute_hash()})

    def has_weights(self) -> bool:
        return bool(self.seeds) and all(s.weights_safetensors_b64 is not None for s in self.seeds)

    def without_weights(self) -> Bundle:
        """A copy with the weights dropped (what the JSON API and the web pages show)."""
        return self.model_copy(
            update={"seeds": [s.model_copy(update={"weights_safetensors_b64": None}) for s in self.seeds]}
        )
