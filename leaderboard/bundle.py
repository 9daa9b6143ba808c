"""Build a submission bundle from run directories (one per seed of a single configuration).

The run directories are what training wrote (``results.json``, optionally ``policy.safetensors`` and
``config.yaml``); the bundle gathers them so that the board never has to trust numbers it cannot recompute.
Seeds of *different* configurations are refused here, because pooling them would fake the seed count.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from baselines.training.results import RunResult
from leaderboard.schema import Bundle, EvalProtocol, SeedData
from leaderboard.weights import find_weights, weights_from_file

CONFIG_FILE = "config.yaml"
# Keys of a run's config that legitimately differ between seeds of one configuration.
PER_SEED_KEYS = frozenset({"seed", "run_dir", "output_dir", "out", "device", "run_name"})


def _shared_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in PER_SEED_KEYS}


def build_bundle(run_dirs: Sequence[str | Path], submitter: str = "anonymous") -> Bundle:
    """Read every run directory and return a hashed bundle; raise ValueError on inconsistent runs."""
    import rayenvs

    if not run_dirs:
        raise ValueError("no run directories given")
    results: list[tuple[Path, RunResult]] = []
    for d in run_dirs:
        path = Path(d)
        if not path.is_dir():
            raise ValueError(f"run directory {str(path)!r} does not exist")
        try:
            results.append((path, RunResult.load(path)))
        except ValueError as exc:
            raise ValueError(f"{path}: invalid results.json: {exc}") from exc
    first_dir, first = results[0]
    for path, res in results[1:]:
        for field in ("env_id", "algo", "variant", "component_names"):
            if getattr(res, field) != getattr(first, field):
                raise ValueError(
                    f"{path} has {field}={getattr(res, field)!r} but {first_dir} has {getattr(first, field)!r}; "
                    "a submission holds seeds of one configuration"
                )
        if _shared_config(res.config) != _shared_config(first.config):
            raise ValueError(f"{path} and {first_dir} have different hyperparameters; submit them separately")
        if (res.eval.deterministic, res.eval.episodes_per_point) != (
            first.eval.deterministic,
            first.eval.episodes_per_point,
        ):
            raise ValueError(f"{path} and {first_dir} use different evaluation protocols")
    incomplete = [str(p) for p, r in results if not r.complete]
    if incomplete:
        raise ValueError(f"run(s) not complete: {', '.join(incomplete)}")

    seeds = []
    for path, res in results:
        weights = find_weights(path)
        blob = weights_from_file(weights) if weights is not None else None
        seeds.append(
            SeedData(
                seed=res.seed,
                total_timesteps=res.total_timesteps,
                wall_time_s=res.wall_time_s,
                eval=res.eval,
                metrics=res.metrics,
                weights_safetensors_b64=base64.b64encode(blob).decode("ascii") if blob is not None else None,
                weights_sha256=hashlib.sha256(blob).hexdigest() if blob is not None else None,
            )
        )
    config_path = first_dir / CONFIG_FILE
    bundle = Bundle(
        suite_version=rayenvs.__version__,
        env_id=first.env_id,
        algo=first.algo,
        variant=first.variant,
        hyperparameters=_shared_config(first.config),
        config_yaml=config_path.read_text(encoding="utf-8") if config_path.is_file() else None,
        component_names=first.component_names,
        protocol=EvalProtocol(
            deterministic=first.eval.deterministic, episodes_per_point=first.eval.episodes_per_point
        ),
        seeds=seeds,
        versions=first.versions,
        hardware=first.hardware,
        wall_time_s=sum(r.wall_time_s for _, r in results),
        submitter=submitter,
    )
    return bundle.with_hash()
