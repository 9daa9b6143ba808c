"""Sweeps: the product of envs x variants x seeds, run on a local process pool or on a Ray cluster.

A sweep file (YAML) names what to run::

    name: ppo-multiroom
    algo: ppo                 # "ppo" (rayenvs train) or "bandit" (batched REINFORCE learners)
    envs: [rayenvs/MultiRoom-R4-v0]
    variants: [baseline, pfo-last]   # PPO variants, or bandit modes (on-policy, tabular, ...)
    seeds: [0, 1, 2]
    timesteps: 50000          # PPO env steps, or bandit samples (max_samples)
    overrides: {n_envs: 4}    # hyperparameter overrides (PPO) or train_bandit kwargs (bandit)
    resources: {cpus: 1, gpus: 0}
    max_retries: 2

Why jobs and not runs: a PPO job is one seed, but a bandit job learns *all* seeds of one (env, mode) at once
(the batched learner is the point), and writes one run directory per seed. Every job knows its run
directories, so re-running a sweep skips jobs whose runs all hold a complete ``results.json``, resumes
interrupted PPO jobs from their checkpoints, and retries failed jobs up to ``max_retries`` without stopping
the others. The sweep's state lives in ``<sweep dir>/sweep.json`` (written atomically by the driver) and
``<sweep dir>/completions.log`` (one line per finished job, appended by the job itself), which is what the
"every run done exactly once" guarantee is tested against.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from baselines.training.config import load_yaml_file
from baselines.training.loop import run_dir_for
from baselines.training.loop import sanitise as _slug
from baselines.training.results import RESULTS_FILE, RunResult
from rayenvs.atomic import atomic_write_json
from rayenvs.registration import env_info

COMPLETIONS_LOG = "completions.log"
STATE_FILE = "sweep.json"


class Resources(BaseModel):
    """Per-job resource request (used by the Ray backend; the local pool runs one job per worker)."""

    model_config = ConfigDict(extra="forbid")
    cpus: float = Field(default=1.0, gt=0)
    gpus: float = Field(default=0.0, ge=0)


class SweepSpec(BaseModel):
    """A validated sweep file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    algo: Literal["ppo", "bandit"] = "ppo"
    envs: list[str] = Field(min_length=1)
    variants: list[str] = Field(default_factory=lambda: ["baseline"], min_length=1)
    seeds: list[int] = Field(min_length=1)
    timesteps: int | None = Field(default=None, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    max_retries: int = Field(default=2, ge=0, le=20)
    device: str = "cpu"
    eval_episodes: int = Field(default=10, ge=1)
    metrics_every: int = Field(default=1, ge=0, description="PPO diagnostics every N rollouts (0: off)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise ValueError(f"sweep name {v!r} may only hold letters, digits, '_', '.', '-'")
        return v

    @field_validator("envs")
    @classmethod
    def _known_envs(cls, v: list[str]) -> list[str]:
        for env_id in v:
            env_info(env_id)  # ValueError naming the unknown id
        return v

    @field_validator("device")
    @classmethod
    def _torch_device(cls, v: str) -> str:
        from baselines.common.devices import SUPPORTED, parse_device

        if v != "auto":
            dev = parse_device(v)
            if dev is None or dev.type not in SUPPORTED:
                raise ValueError(f"device {v!r} is not one of auto, cpu, cuda, cuda:N, mps")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError(f"seeds {v} must be distinct non-negative integers")
        return v

    @model_validator(mode="after")
    def _variants_fit_algo(self) -> SweepSpec:
        if self.algo == "bandit":
            from baselines.bandit.learners import MODES

            bad = [v for v in self.variants if v not in MODES]
            if bad:
                raise ValueError(f"bandit modes {bad} unknown; allowed: {list(MODES)}")
            not_bandit = [e for e in self.envs if env_info(e).family != "bandit"]
            if not_bandit:
                raise ValueError(f"algo 'bandit' needs bandit envs, got {not_bandit}")
        else:
            from baselines.ppo.variants import parse_variant

            for v in self.variants:
                parse_variant(v)
        return self


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file; errors name the file and the bad field."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"sweep file {p} does not exist")
    data = load_yaml_file(p)  # errors name the file: unreadable, invalid YAML, not a mapping
    try:
        return SweepSpec.model_validate(data)
    except Exception as exc:  # pydantic's message names the field
        raise ValueError(f"sweep file {p}: {exc}") from exc


@dataclass(frozen=True)
class Job:
    """One unit of work and the run directories it produces."""

    job_id: str
    algo: str
    env_id: str
    variant: str
    seeds: tuple[int, ...]
    run_dirs: tuple[str, ...]
    timesteps: int | None
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    eval_episodes: int = 10
    metrics_every: int = 1

    def is_complete(self) -> bool:
        for d in self.run_dirs:
            p = Path(d) / RESULTS_FILE
            if not p.exists():
                return False
            try:
                if not RunResult.load(p).complete:
                    return False
            except ValueError:
                return False
        return True


def expand(spec: SweepSpec, root: str | Path) -> list[Job]:
    """The sweep's jobs in a fixed order (envs, then variants, then seeds)."""
    root = Path(root)
    jobs = []
    for env_id, variant in itertools.product(spec.envs, spec.variants):
        if spec.algo == "bandit":
            seeds = tuple(spec.seeds)
            dirs = tuple(str(run_dir_for(root, env_id, variant, s)) for s in seeds)
            jobs.append(
                Job(f"{_slug(env_id)}/{_slug(variant)}", "bandit", env_id, variant, seeds, dirs,
                    spec.timesteps, dict(spec.overrides), spec.device, spec.eval_episodes)
            )
        else:
            for s in spec.seeds:
                jobs.append(
                    Job(f"{_slug(env_id)}/{_slug(variant)}/seed_{s}", "ppo", env_id, variant, (s,),
                        (str(run_dir_for(root, env_id, variant, s)),), spec.timesteps,
                        dict(spec.overrides), spec.device, spec.eval_episodes, spec.metrics_every)
                )
    return jobs


def _append_completion(root: Path, job_id: str) -> None:
    """One line per finished job; O_APPEND writes of one short line are atomic on POSIX."""
    line = (job_id + "\n").encode()
    fd = os.open(root / COMPLETIONS_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def execute_job(job: Job, root: str, threads: int | None = None) -> str:
    """Run one job to completion (resuming where a checkpoint exists); returns the job id.

    ``threads`` caps torch's intra-op threads: jobs running side by side must share the cores, not each
    claim all of them (oversubscription made concurrent PPO jobs several times slower).
    """
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    if job.algo == "bandit":
        from baselines.bandit.runs import run_bandit_job

        run_bandit_job(job.env_id, job.variant, list(job.seeds), [Path(d) for d in job.run_dirs],
                       max_samples=job.timesteps, device=job.device, **job.overrides)
    else:
        from baselines.diagnostics.metrics import metrics_callback_for
        from baselines.training.config import resolve_config
        from baselines.training.loop import run_training

        config = resolve_config(job.env_id, overrides=job.overrides, timesteps=job.timesteps)
        metrics = metrics_callback_for(config, job.metrics_every, seed=job.seeds[0])
        run_training(
            job.env_id, variant=job.variant, seed=job.seeds[0], timesteps=job.timesteps,
            run_dir=Path(job.run_dirs[0]), overrides=job.overrides, device=job.device,
            eval_episodes=job.eval_episodes, resume=True, progress=False,
            extra_callbacks=[metrics] if metrics is not None else [],
        )
    _append_completion(Path(root), job.job_id)
    return job.job_id


@dataclass
class JobStatus:
    state: str = "pending"  # pending | running | done | failed | skipped
    attempts: int = 0
    error: str | None = None


@dataclass
class SweepReport:
    """What a sweep did: per job status, and where its runs are."""

    root: Path
    jobs: list[Job]
    status: dict[str, JobStatus]

    @property
    def failed(self) -> list[str]:
        return [j for j, s in self.status.items() if s.state == "failed"]

    @property
    def run_dirs(self) -> list[Path]:
        return [Path(d) for j in self.jobs if self.status[j.job_id].state in ("done", "skipped") for d in j.run_dirs]


def _save_state(root: Path, spec: SweepSpec, status: dict[str, JobStatus]) -> None:
    atomic_write_json(
        root / STATE_FILE,
        {"spec": json.loads(spec.model_dump_json()), "jobs": {k: asdict(v) for k, v in status.items()}},
    )


def check_ray_resources(spec: SweepSpec) -> None:
    """Refuse device / GPU requests that cannot work on Ray, before any task is submitted.

    Why: Ray hides every GPU from a task that requests none, and numbers a task's own GPUs from ``cuda:0``,
    so ``device: cuda`` with ``gpus: 0`` fails in every task, ``cuda:1`` never exists, and ``gpus > 0``
    with ``device: cpu`` reserves GPUs that no run uses.
    """
    import torch

    device, gpus = spec.device, spec.resources.gpus
    if device.startswith("cuda"):
        if gpus <= 0:
            raise ValueError(
                f"device={device!r} with resources.gpus={gpus}: Ray hides GPUs from tasks that request none; "
                "set resources.gpus > 0 (e.g. 0.25 to share one GPU between 4 runs)"
            )
        if torch.device(device).index not in (None, 0):
            raise ValueError(
                f"device={device!r}: a Ray task sees only its own GPUs, numbered from cuda:0; use device: cuda"
            )
    elif device == "cpu" and gpus > 0:
        raise ValueError(
            f"resources.gpus={gpus} with device='cpu': the runs would reserve GPUs they never use; "
            "set device: cuda (or auto)"
        )


def run_sweep(
    spec: SweepSpec,
    root: str | Path,
    backend: str = "local",
    max_concurrent: int | None = None,
    address: str | None = None,
    on_update: Callable[[str, JobStatus], None] | None = None,
) -> SweepReport:
    """Run every unfinished job of the sweep; failed jobs are retried up to ``spec.max_retries`` times."""
    if backend not in ("local", "ray"):
        raise ValueError(f"backend {backend!r} unknown; allowed: 'local', 'ray'")
    if max_concurrent is not None and max_concurrent < 1:
        raise ValueError(f"max_concurrent={max_concurrent} must be >= 1")
    if backend == "ray":
        check_ray_resources(spec)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    jobs = expand(spec, root)
    status = {j.job_id: JobStatus() for j in jobs}
    todo = []
    for j in jobs:
        if j.is_complete():
            status[j.job_id].state = "skipped"
        else:
            todo.append(j)
    _save_state(root, spec, status)
    limit = max_concurrent or max(1, (os.cpu_count() or 1))
    runner = _run_ray if backend == "ray" else _run_local
    runner(todo, str(root), spec, status, limit, address, on_update)
    _save_state(root, spec, status)
    return SweepReport(root, jobs, status)


def _record(job: Job, status: dict[str, JobStatus], error: BaseException | None, max_retries: int,
            on_update: Callable[[str, JobStatus], None] | None) -> bool:
    """Update a job's status after an attempt; True if it should be retried."""
    st = status[job.job_id]
    st.attempts += 1
    if error is None:
        st.state, st.error = "done", None
    else:
        st.error = "".join(traceback.format_exception_only(type(error), error)).strip()
        st.state = "pending" if st.attempts <= max_retries else "failed"
    if on_update:
        on_update(job.job_id, st)
    return st.state == "pending"


def _run_local(jobs: Sequence[Job], root: str, spec: SweepSpec, status: dict[str, JobStatus], limit: int,
               address: str | None, on_update) -> None:
    queue = list(jobs)
    threads = max(1, (os.cpu_count() or 1) // min(limit, max(1, len(queue))))
    # spawn, not fork: workers import torch afresh instead of inheriting the driver's threads.
    with ProcessPoolExecutor(max_workers=min(limit, max(1, len(queue))), mp_context=get_context("spawn")) as pool:
        running: dict[Future, Job] = {}
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop(0)
                status[job.job_id].state = "running"
                running[pool.submit(execute_job, job, root, threads)] = job
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job = running.pop(fut)
                if _record(job, status, fut.exception(), spec.max_retries, on_update):
                    queue.append(job)
            _save_state(Path(root), spec, status)


def _run_ray(jobs: Sequence[Job], root: str, spec: SweepSpec, status: dict[str, JobStatus], limit: int,
             address: str | None, on_update) -> None:
    try:
        import ray
    except ImportError as exc:
        raise ValueError("backend 'ray' needs the ray extra: pip install 'rayenvs[ray]'") from exc
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False)
    remote = ray.remote(max_retries=0)(execute_job).options(
        num_cpus=spec.resources.cpus, num_gpus=spec.resources.gpus
    )
    queue = list(jobs)
    running: dict[Any, Job] = {}
    try:
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop(0)
                status[job.job_id].state = "running"
                running[remote.remote(job, root, max(1, int(spec.resources.cpus)))] = job
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                job = running.pop(ref)
                try:
                    ray.get(ref)
                    err = None
                except Exception as exc:  # noqa: BLE001 - a failed job must not stop the sweep
                    err = exc
                if _record(job, status, err, spec.max_retries, on_update):
                    queue.append(job)
            _save_state(Path(root), spec, status)
    finally:
        if started_here:
            ray.shutdown()
