"""The ``results.json`` every run directory ends with: the one format training writes and analysis reads.

Training (``rayenvs train``), the bandit learners, the diagnostics (``rayenvs analyze``) and the leaderboard
(``rayenvs submit``) all speak this schema, so it is versioned: bump :data:`SCHEMA_VERSION` on any change that
old readers cannot ignore. Curves are stored raw (every evaluation episode, every component), never only as
means, so that honest statistics can be computed later.
"""

from __future__ import annotations

import json
import math
import platform
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rayenvs.atomic import atomic_write_text

SCHEMA_VERSION = 1
RESULTS_FILE = "results.json"


class Curve(BaseModel):
    """Episode returns at a sequence of env-step counts (evaluation points or training episodes)."""

    model_config = ConfigDict(extra="forbid")

    steps: list[int] = Field(description="env steps at each point, non-decreasing")
    returns: list[list[float]] = Field(description="[point][episode] total episode returns")
    component_returns: list[list[list[float]]] = Field(description="[point][episode][component] returns")
    component_present: list[list[list[bool]]] | None = Field(
        default=None,
        description="[point][episode][component] which components could be earned in that episode "
        "(the contract's component_present); None means every component in every episode",
    )
    deterministic: bool = True
    episodes_per_point: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> Curve:
        if len(self.returns) != len(self.steps) or len(self.component_returns) != len(self.steps):
            raise ValueError(
                f"curve lengths differ: steps={len(self.steps)}, returns={len(self.returns)}, "
                f"component_returns={len(self.component_returns)}"
            )
        if any(b < a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError("curve steps must be non-decreasing")
        for i, (rets, comps) in enumerate(zip(self.returns, self.component_returns, strict=True)):
            if len(rets) != len(comps):
                raise ValueError(f"point {i}: {len(rets)} returns but {len(comps)} component-return rows")
            for x in rets:
                if not math.isfinite(x):
                    raise ValueError(f"point {i}: non-finite return {x!r}")
        if self.component_present is not None:
            if len(self.component_present) != len(self.steps):
                raise ValueError(
                    f"curve lengths differ: steps={len(self.steps)}, component_present={len(self.component_present)}"
                )
            for i, (pres, comps) in enumerate(zip(self.component_present, self.component_returns, strict=True)):
                if [len(r) for r in pres] != [len(r) for r in comps]:
                    raise ValueError(f"point {i}: component_present does not match component_returns in shape")
        return self

    def mean_returns(self) -> list[float]:
        return [sum(r) / len(r) if r else float("nan") for r in self.returns]

    def mean_component_returns(self, present_only: bool = True) -> list[list[float]]:
        """[point][component] mean return; with ``present_only``, over the episodes where the component could
        be earned (an estimate of J_k given its context: a room's reward, not how often the room came up).
        NaN where a component was never present at a point."""
        out = []
        for i, rows in enumerate(self.component_returns):
            k = len(rows[0]) if rows else 0
            sums, counts = [0.0] * k, [0] * k
            for e, row in enumerate(rows):
                for c, value in enumerate(row):
                    if present_only and self.component_present is not None and not self.component_present[i][e][c]:
                        continue
                    sums[c] += value
                    counts[c] += 1
            out.append([sums[c] / counts[c] if counts[c] else float("nan") for c in range(k)])
        return out


class RunResult(BaseModel):
    """One seed of one configuration on one env."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    env_id: str
    algo: str
    variant: str
    seed: int
    config: dict[str, Any] = Field(default_factory=dict, description="resolved hyperparameters")
    component_names: list[str]
    total_timesteps: int = Field(ge=0)
    eval: Curve
    train: Curve | None = Field(default=None, description="training-episode returns, if logged")
    metrics: dict[str, list[tuple[int, float]]] = Field(
        default_factory=dict, description="diagnostic time series: key -> [(env step, value)]"
    )
    versions: dict[str, str] = Field(default_factory=dict)
    hardware: dict[str, str] = Field(default_factory=dict)
    wall_time_s: float = Field(ge=0)
    complete: bool = True

    @field_validator("env_id")
    @classmethod
    def _versioned(cls, v: str) -> str:
        if "-v" not in v.rsplit("/", 1)[-1]:
            raise ValueError(f"env id {v!r} has no -vN version suffix")
        return v

    def save(self, run_dir: str | Path) -> Path:
        """Write ``run_dir/results.json`` atomically."""
        return atomic_write_text(Path(run_dir) / RESULTS_FILE, self.model_dump_json(indent=2))

    @classmethod
    def load(cls, path: str | Path) -> RunResult:
        """Read a results.json (or the one inside a run directory)."""
        p = Path(path)
        if p.is_dir():
            p = p / RESULTS_FILE
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ValueError(f"no {RESULTS_FILE} at {p}") from exc
        except json.JSONDecodeError as exc:
            raise ValueError(f"{p} is not valid JSON: {exc}") from exc
        return cls.model_validate(data)


def metric_series(metrics: Mapping[str, Any], key: str) -> tuple[list[int], list[float]] | None:
    """``(steps, values)`` of one metric of ``results.json``'s ``metrics`` (``{key: [(step, value)]}``), or None
    when the run did not record it."""
    points = metrics.get(key)
    if not points:
        return None
    return [int(s) for s, _ in points], [float(v) for _, v in points]


def library_versions() -> dict[str, str]:
    """Versions of the libraries a result depends on, for reproducibility."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("rayenvs", "gymnasium", "numpy", "torch", "stable-baselines3", "sb3-contrib", "ale-py", "mujoco"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware_info(device: str = "cpu") -> dict[str, str]:
    """A short description of the machine a result came from."""
    import os

    info = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "device": device,
    }
    if device.startswith("cuda"):
        try:
            import torch

            info["gpu"] = torch.cuda.get_device_name(torch.device(device))  # the run's GPU, not GPU 0
        except Exception:  # noqa: BLE001 - best effort description only
            pass
    return info
