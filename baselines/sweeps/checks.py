"""Checks a sweep passes before any job starts: override keys, and that old runs match the current settings.

Why here and not in each job: a typo in an override key would otherwise fail every one of 1,000 jobs, each
after its start-up; and a finished sweep re-run with other settings would report its old runs as finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baselines.sweeps.sweep import Job, SweepSpec


def _changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every setting that differs (nested mappings by dotted key)."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _changes(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def check_unchanged(jobs: Sequence[Job], root: Path, previous: Mapping[str, Any]) -> None:
    """Refuse to treat runs made under other settings as this sweep's (finished or to be resumed).

    ``previous`` is sweep.json's ``jobs`` from the last run in ``root``: each job's settings and fingerprint.
    """
    conflicts = []
    for job in jobs:
        old = previous.get(job.job_id, {})
        if old.get("fingerprint") not in (None, job.fingerprint()) and job.has_output():
            changed = _changes(old.get("settings") or {}, job.settings()) or ["settings"]
            conflicts.append(f"{job.job_id} ({'; '.join(changed)})")
    if conflicts:
        shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise ValueError(
            f"sweep directory {root} holds runs made with other settings: {shown}; "
            "choose another output directory (--out) or delete those runs"
        )


def check_overrides(spec: SweepSpec) -> None:
    """Unknown or invalid override keys fail here, naming the known ones, not in every job."""
    if spec.algo == "bandit":
        from dataclasses import fields

        from baselines.bandit.learners import BanditConfig

        set_by_job = {"num_contexts", "num_arms", "mode", "num_seeds", "max_samples", "device", "seed", "log_every"}
        known = sorted({f.name for f in fields(BanditConfig)} - set_by_job)
        unknown = sorted(set(spec.overrides) - set(known))
        if unknown:
            import difflib

            close = {k: difflib.get_close_matches(k, known, n=1, cutoff=0.6) for k in unknown}
            hint = "".join(f"did you mean {c[0]!r} for {k!r}? " for k, c in close.items() if c)
            raise ValueError(f"unknown bandit override key(s) {unknown}; {hint}allowed keys: {known}")
    else:
        from baselines.training.config import resolve_config

        for env_id in spec.envs:
            resolve_config(env_id, overrides=spec.overrides, timesteps=spec.timesteps)
