"""The versioned submission bundle: everything a leaderboard entry claims, in one self-checking document.

A bundle holds the *raw* per-seed evaluation data (every episode, every component), not summary numbers, so
the board computes all statistics itself and nobody can report a CI they did not earn. Its
:attr:`Bundle.content_hash` covers the scientific content (data, configuration, versions, and the weights
through their sha256) but not the submitter's name, so the same runs submitted twice under two names are
still one duplicate, and a stored bundle whose weights live elsewhere keeps a checkable hash.

Weights travel as base64 safetensors only: a format that stores tensors and nothing executable.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baselines.training.results import Curve

BUNDLE_VERSION = 1
MAX_NAME_CHARS = 200
# Fields the content hash leaves out: the hash itself and who submitted it.
_UNHASHED = frozenset({"content_hash", "submitter"})


class EvalProtocol(BaseModel):
    """How every evaluation point was measured (identical across seeds, or the bundle is rejected)."""

    model_config = ConfigDict(extra="forbid")

    deterministic: bool
    episodes_per_point: int = Field(ge=1)


class SeedData(BaseModel):
    """One training seed: its raw evaluation curve, diagnostics and optional final policy weights."""

    model_config = ConfigDict(extra="forbid")

    seed: int
    total_timesteps: int = Field(ge=0)
    wall_time_s: float = Field(ge=0)
    eval: Curve
    metrics: dict[str, list[tuple[int, float]]] = Field(default_factory=dict)
    weights_safetensors_b64: str | None = Field(default=None, description="final policy state_dict")
    weights_sha256: str | None = Field(default=None, description="hex sha256 of the safetensors bytes")

    def weights_bytes(self) -> bytes | None:
        """The decoded safetensors blob, or None when the seed carries no weights."""
        if self.weights_safetensors_b64 is None:
            return None
        return base64.b64decode(self.weights_safetensors_b64, validate=True)


class Bundle(BaseModel):
    """One leaderboard submission: a single configuration (algo, variant, hyperparameters) on one env id."""

    model_config = ConfigDict(extra="forbid")

    bundle_version: int = BUNDLE_VERSION
    suite_version: str = Field(max_length=MAX_NAME_CHARS)
    env_id: str = Field(max_length=MAX_NAME_CHARS)
    algo: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    variant: str = Field(min_length=1, max_length=MAX_NAME_CHARS)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    config_yaml: str | None = Field(default=None, description="the run's config.yaml, verbatim")
    component_names: list[str]
    protocol: EvalProtocol
    seeds: list[SeedData]
    versions: dict[str, str] = Field(default_factory=dict)
    hardware: dict[str, str] = Field(default_factory=dict)
    wall_time_s: float = Field(ge=0, description="sum over seeds")
    submitter: str = Field(default="anonymous", min_length=1, max_length=MAX_NAME_CHARS)
    content_hash: str = ""

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
