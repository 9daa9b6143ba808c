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
    max_retries: 2            # failures of a job itself; lost Ray nodes have their own max_node_losses

Why jobs and not runs: a PPO job is one seed, but a bandit job learns *all* seeds of one (env, mode) at once
(the batched learner is the point), and writes one run directory per seed. Every job knows its run
directories, so re-running a sweep skips jobs whose runs all hold a complete ``results.json``, resumes
interrupted PPO jobs from their checkpoints, and retries failed jobs up to ``max_retries`` without stopping
the others. ``seeds_per_job`` splits a bandit sweep's seeds into smaller jobs (for a cluster). The sweep's
state lives in ``<sweep dir>/sweep.json`` (written atomically by the driver) and ``<sweep dir>/completions.log``
(one line per finished job, appended by the local job itself or, on Ray, by the driver once the job's runs are
on its disk), which is what the "every run done exactly once" guarantee is tested against.

A finished sweep re-run with a changed configuration does not report its old runs as finished: sweep.json
records each job's settings and their fingerprint, and a job whose runs exist under different settings is
refused before anything runs, naming what changed. Device and override keys are checked before any job
starts (on Ray the device is checked where the jobs run: the driver may have no GPU). The Ray backend, which
ships run directories and checkpoints to the driver so that no shared disk is needed, is
:mod:`baselines.sweeps.ray_backend`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from baselines.sweeps.checks import check_overrides, check_unchanged
from baselines.sweeps.spec_errors import describe_validation_error, key_line
from baselines.training.config import load_yaml_file
from baselines.training.loop import run_dir_for
from baselines.training.loop import sanitise as _slug
from baselines.training.results import RESULTS_FILE, RunResult
from rayenvs.atomic import atomic_write_json
from rayenvs.registration import env_info

COMPLETIONS_LOG = "completions.log"
STATE_FILE = "sweep.json"


def _known_env(env_id: str) -> str:
    env_info(env_id)  # ValueError naming the unknown id and the close ones
    return env_id


#: a registered id, checked item by item so an error names its index (``envs[1]``)
EnvId = Annotated[str, AfterValidator(_known_env)]


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
    envs: list[EnvId] = Field(min_length=1)
    variants: list[str] = Field(default_factory=lambda: ["baseline"], min_length=1)
    seeds: list[int] = Field(min_length=1)
    timesteps: int | None = Field(default=None, gt=0)
    overrides: dict[str, Any] = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    max_retries: int = Field(default=2, ge=0, le=20)
    max_node_losses: int = Field(default=3, ge=0, le=100, description="re-queues of a job whose Ray node died")
    seeds_per_job: int | None = Field(default=None, ge=1, description="bandit: seeds learnt per job (all)")
    device: str = "cpu"
    eval_episodes: int = Field(default=10, ge=1)
    metrics_every: int = Field(default=1, ge=0, description="PPO diagnostics every N rollouts (0: off)")

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise ValueError(f"{v!r} may only hold letters, digits, '_', '.', '-'")
        return v

    @field_validator("envs")
    @classmethod
    def _envs_fit_algo(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("algo") == "bandit":
            not_bandit = [e for e in v if env_info(e).family != "bandit"]
            if not_bandit:
                raise ValueError(f"algo 'bandit' needs bandit envs, got {not_bandit}")
        return v

    @field_validator("variants")
    @classmethod
    def _variants_fit_algo(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("algo") == "bandit":
            from baselines.bandit.learners import MODES

            bad = [m for m in v if m not in MODES]
            if bad:
                import difflib

                close = [c for m in bad for c in difflib.get_close_matches(m, list(MODES), n=1, cutoff=0.6)]
                hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
                raise ValueError(f"bandit modes {bad} unknown; {hint}allowed: {list(MODES)}")
        elif info.data.get("algo") == "ppo":
            from baselines.ppo.variants import parse_variant

            for variant in v:
                parse_variant(variant)
        return v

    @field_validator("device")
    @classmethod
    def _torch_device(cls, v: str) -> str:
        from baselines.common.devices import SUPPORTED, parse_device

        if v != "auto":
            dev = parse_device(v)
            if dev is None or dev.type not in SUPPORTED:
                raise ValueError(f"{v!r} is not a torch device; allowed: auto, cpu, cuda, cuda:N, mps")
        return v

    @field_validator("seeds")
    @classmethod
    def _unique_seeds(cls, v: list[int]) -> list[int]:
        negative = [s for s in v if s < 0]
        repeated = sorted({s for s in v if v.count(s) > 1})
        if negative or repeated:
            what = f"negative {negative}" if negative else f"repeated {repeated}"
            raise ValueError(f"{v} has {what}; seeds must be distinct integers >= 0")
        return v


def load_sweep(path: str | Path) -> SweepSpec:
    """Read and validate a sweep YAML file, override keys included; errors name the file, line and key."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"sweep file {p} does not exist")
    data = load_yaml_file(p, kind="sweep file")  # errors name the file (and the line of a YAML syntax error)
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as exc:  # one line per problem: file, line, key path, value, what is allowed
        raise ValueError(describe_validation_error(exc, SweepSpec, p)) from None
    try:
        check_overrides(spec)
    except ValueError as exc:
        line = key_line(p, ("overrides",))
        raise ValueError(f"sweep file {p}{f':{line}' if line else ''}: overrides: {exc}") from None
    return spec


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

    def settings(self) -> dict[str, Any]:
        """What the job's runs depend on (not where or how fast they run: device, resources, retries)."""
        return {"algo": self.algo, "env_id": self.env_id, "variant": self.variant, "seeds": list(self.seeds),
                "timesteps": self.timesteps, "overrides": json.loads(json.dumps(self.overrides, sort_keys=True)),
                "eval_episodes": self.eval_episodes, "metrics_every": self.metrics_every}

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()[:16]

    def has_output(self) -> bool:
        """Whether any of its run directories holds (part of) a run."""
        from baselines.training.loop import holds_run

        return any(holds_run(Path(d)) for d in self.run_dirs)

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
            size = spec.seeds_per_job or len(spec.seeds)
            for i in range(0, len(spec.seeds), size):
                seeds = tuple(spec.seeds[i:i + size])
                dirs = tuple(str(run_dir_for(root, env_id, variant, s)) for s in seeds)
                job_id = f"{_slug(env_id)}/{_slug(variant)}"
                if size < len(spec.seeds):
                    job_id += f"/seeds_{seeds[0]}-{seeds[-1]}"
                jobs.append(
                    Job(job_id, "bandit", env_id, variant, seeds, dirs,
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


def train_job(job: Job, threads: int | None = None, on_checkpoint: Callable[[Path], None] | None = None) -> None:
    """Run one job to completion in its run directories, resuming where a checkpoint exists.

    ``threads`` caps torch's intra-op threads: jobs running side by side must share the cores, not each
    claim all of them (oversubscription made concurrent PPO jobs several times slower). ``on_checkpoint``
    is passed to :func:`baselines.training.run_training` (PPO only; bandit jobs have no checkpoints).
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
            extra_callbacks=[metrics] if metrics is not None else [], on_checkpoint=on_checkpoint,
        )


def execute_job(job: Job, root: str, threads: int | None = None) -> str:
    """Run one job on this machine, then log its completion; returns the job id (the local pool's task)."""
    train_job(job, threads)
    _append_completion(Path(root), job.job_id)
    return job.job_id


@dataclass
class JobStatus:
    state: str = "pending"  # pending | running | done | failed | skipped
    attempts: int = 0
    error: str | None = None
    node_losses: int = 0  # attempts ended by a lost Ray node (not counted against max_retries)
    fingerprint: str | None = None
    settings: dict[str, Any] | None = None


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


def _load_state(root: Path) -> dict[str, Any]:
    try:
        return json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


STATE_SAVE_EVERY_S = 1.0  # sweep.json of a 1,000-job sweep is rewritten at most this often (and at the end)


class SweepDriver:
    """The driver's bookkeeping, shared by the backends: job states, sweep.json, completions, callbacks."""

    def __init__(self, spec: SweepSpec, root: Path, status: dict[str, JobStatus],
                 on_update: Callable[[str, JobStatus], None] | None) -> None:
        self.spec, self.root, self.status, self.on_update = spec, root, status, on_update
        self._saved_at = 0.0

    def save(self, force: bool = False) -> None:
        if force or time.monotonic() - self._saved_at >= STATE_SAVE_EVERY_S:
            atomic_write_json(
                self.root / STATE_FILE,
                {"spec": json.loads(self.spec.model_dump_json()),
                 "jobs": {k: asdict(v) for k, v in self.status.items()}},
            )
            self._saved_at = time.monotonic()

    def notify(self, job_id: str) -> None:
        if self.on_update:
            self.on_update(job_id, self.status[job_id])

    def started(self, job: Job) -> None:
        self.status[job.job_id].state = "running"
        self.notify(job.job_id)

    def tick(self) -> None:
        """No event: lets a progress display refresh its rate and ETA."""
        if self.on_update:
            self.on_update("", JobStatus(state="tick"))

    def completed(self, job: Job) -> None:
        _append_completion(self.root, job.job_id)

    def finished(self, job: Job, error: BaseException | None, lost_node: bool = False) -> bool:
        """Update a job's status after an attempt; True if it should be re-queued."""
        st = self.status[job.job_id]
        st.attempts += 1
        if error is None:
            st.state, st.error = "done", None
        else:
            st.error = "".join(traceback.format_exception_only(type(error), error)).strip()
            if lost_node:
                st.node_losses += 1
                again = st.node_losses <= self.spec.max_node_losses
            else:
                again = st.attempts - st.node_losses <= self.spec.max_retries
            st.state = "pending" if again else "failed"
        self.notify(job.job_id)
        return st.state == "pending"


def run_sweep(
    spec: SweepSpec,
    root: str | Path,
    backend: str = "local",
    max_concurrent: int | None = None,
    address: str | None = None,
    on_update: Callable[[str, JobStatus], None] | None = None,
) -> SweepReport:
    """Run every unfinished job of the sweep; failed jobs are retried up to ``spec.max_retries`` times.

    ``on_update(job_id, status)`` is called when a job starts, ends an attempt, and (``job_id == ""``,
    state ``tick``) about once a second on Ray while nothing happens. Everything that can be checked on the
    driver is checked before the sweep directory is written.
    """
    if backend not in ("local", "ray"):
        raise ValueError(f"backend {backend!r} unknown; allowed: 'local', 'ray'")
    if max_concurrent is not None and max_concurrent < 1:
        raise ValueError(f"max_concurrent={max_concurrent} must be >= 1")
    if backend == "ray":
        check_ray_resources(spec)
    else:
        from baselines.training.loop import check_device

        check_device(spec.device)
    check_overrides(spec)
    root = Path(root)
    jobs = expand(spec, root)
    check_unchanged(jobs, root, _load_state(root).get("jobs", {}))
    root.mkdir(parents=True, exist_ok=True)
    status = {j.job_id: JobStatus(fingerprint=j.fingerprint(), settings=j.settings()) for j in jobs}
    todo = []
    for j in jobs:
        if j.is_complete():
            status[j.job_id].state = "skipped"
        else:
            todo.append(j)
    driver = SweepDriver(spec, root, status, on_update)
    driver.save(force=True)
    for j in jobs:
        if status[j.job_id].state == "skipped":
            driver.notify(j.job_id)
    try:
        if backend == "ray":
            from baselines.sweeps.ray_backend import run_ray

            run_ray(todo, driver, max_concurrent, address)
        else:
            _run_local(todo, driver, max_concurrent)
    finally:
        driver.save(force=True)  # an interrupted driver still leaves sweep.json matching its disk
    return SweepReport(root, jobs, status)


def _run_local(jobs: Sequence[Job], driver: SweepDriver, max_concurrent: int | None) -> None:
    limit = max_concurrent or max(1, (os.cpu_count() or 1))
    queue = list(jobs)
    threads = max(1, (os.cpu_count() or 1) // min(limit, max(1, len(queue))))
    # spawn, not fork: workers import torch afresh instead of inheriting the driver's threads.
    with ProcessPoolExecutor(max_workers=min(limit, max(1, len(queue))), mp_context=get_context("spawn")) as pool:
        running: dict[Future, Job] = {}
        while queue or running:
            while queue and len(running) < limit:
                job = queue.pop(0)
                running[pool.submit(execute_job, job, str(driver.root), threads)] = job
                driver.started(job)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                job = running.pop(fut)
                if driver.finished(job, fut.exception()):
                    queue.append(job)
            driver.save()
