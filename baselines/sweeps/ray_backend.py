"""The Ray backend of sweeps: runs reach the driver whatever the cluster's disks, and node loss is survived.

No disk is assumed shared between the driver and the nodes. Each job is a Ray *streaming generator* task that
runs in a node-local scratch directory (``$RAYENVS_SCRATCH``, else the node's temp dir) and yields its run
directories as a gzipped tar (results.json, config, weights, curves, CSV and TensorBoard logs, checkpoints):

- after every PPO checkpoint (``run_training``'s ``on_checkpoint`` hook, logs flushed) a ``checkpoint``
  snapshot, which the driver writes into its sweep directory at once;
- at the end a ``done`` archive, which the driver writes the same way and only then appends the job's
  completion line itself.

The driver's sweep directory is therefore the checkpoint store: a job is (re)submitted with the latest snapshot
the driver holds, unpacked in the new node's scratch directory, and ``run_training(resume=True)`` continues it
from its last checkpoint on any node. Writes into the sweep directory are atomic per run directory (extract into
a temp dir inside the sweep directory, then rename over the old one), so a killed driver leaves each run either
at its previous snapshot or at the new one, and the local backend can resume the same directory.

Node loss. Tasks run with Ray's ``max_retries=0``: Ray's own retry would replay the task with its original,
stale snapshot. Instead, a ``NodeDiedError`` / ``WorkerCrashedError`` / ``ObjectLostError`` (and the other
system errors below) re-queue the job on the driver with its newest snapshot; node losses have their own budget
(``max_node_losses``) and do not use up ``max_retries``, which counts failures of the job itself. Because only
the driver writes the completions log, after reading a ``done`` archive it has written, each job is in it
exactly once however many nodes died.

Driver memory is bounded: at most ``max_concurrent`` tasks are in flight (default: twice the cluster's CPUs
divided by ``resources.cpus``), each archive is written and dropped as soon as it arrives, and ``ray.wait`` returns with a
timeout so progress keeps moving. Archives over ``MAX_ARCHIVE_BYTES`` are refused with a message: large
artefacts belong in a storage bucket, not in the object store.
"""

from __future__ import annotations

import dataclasses
import io
import os
import queue
import shutil
import tarfile
import tempfile
import threading
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from baselines.training.checkpoints import CHECKPOINT_DIR, CHECKPOINT_STATE

if TYPE_CHECKING:
    from baselines.sweeps.sweep import Job, SweepDriver, SweepSpec

SCRATCH_ENV = "RAYENVS_SCRATCH"
MAX_ARCHIVE_BYTES = 512 * 2**20
WAIT_S = 1.0  # ray.wait timeout: progress (ETA, running count) refreshes at least this often
SYSTEM_ERROR_NAMES = (
    "NodeDiedError", "WorkerCrashedError", "ObjectLostError", "OwnerDiedError", "ObjectFetchTimedOutError",
    "ObjectReconstructionFailedError", "LocalRayletDiedError", "RaySystemError", "ReferenceCountingAssertionError",
)


# --------------------------------------------------------------------------------------------------------
# Run directories as bytes


def pack_runs(base: Path, rels: Sequence[str]) -> bytes:
    """A gzipped tar of the run directories ``base/rel`` that exist (paths inside are the ``rels``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=1) as tar:
        for rel in rels:
            if (base / rel).is_dir():
                tar.add(base / rel, arcname=rel)
    data = buf.getvalue()
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ValueError(
            f"run directories {list(rels)} pack to {len(data) / 2**20:.0f} MiB, over the "
            f"{MAX_ARCHIVE_BYTES / 2**20:.0f} MiB a job may send to the driver"
        )
    return data


def replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst``, replacing what ``dst`` held (each step a rename within one filesystem)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(dst, old)
    os.rename(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def install_runs(root: Path, rels: Sequence[str], data: bytes) -> None:
    """Write an archive's run directories into ``root``, each replacing its previous version atomically."""
    tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(tmp, filter="data")  # no absolute paths, links out or devices
        for rel in rels:
            if (tmp / rel).is_dir():
                replace_dir(tmp / rel, root / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _rels(job: Job, root: str | Path) -> list[str]:
    return [os.path.relpath(d, root) for d in job.run_dirs]


def latest_snapshot(job: Job, root: Path) -> bytes | None:
    """The driver's copy of a job's interrupted runs, if any has a checkpoint to resume from."""
    rels = _rels(job, root)
    if not any((root / r / CHECKPOINT_DIR / CHECKPOINT_STATE).is_file() for r in rels):
        return None
    return pack_runs(root, rels)


# --------------------------------------------------------------------------------------------------------
# The task (runs on a node)


def scratch_base() -> Path:
    """Where a node runs its jobs: ``$RAYENVS_SCRATCH`` (set in the ``ray start`` environment), else temp."""
    base = Path(os.environ.get(SCRATCH_ENV) or Path(tempfile.gettempdir()) / "rayenvs-scratch")
    base.mkdir(parents=True, exist_ok=True)
    return base


def job_task(job: Job, root: str, snapshot: bytes | None, threads: int) -> Iterator[tuple[str, bytes]]:
    """Run ``job`` in node-local scratch; yield ``("checkpoint", tar)`` after each checkpoint and ``("done", tar)``.

    Training runs in a thread so that this generator can hand each snapshot to Ray while training goes on.
    """
    from baselines.sweeps.sweep import train_job

    work = Path(tempfile.mkdtemp(prefix="rayenvs-job-", dir=scratch_base()))
    rels = _rels(job, root)
    try:
        if snapshot is not None:
            install_runs(work, rels, snapshot)
        local = dataclasses.replace(job, run_dirs=tuple(str(work / r) for r in rels))
        items: queue.Queue[tuple[str, bytes] | None] = queue.Queue()
        outcome: dict[str, BaseException] = {}

        def body() -> None:
            try:
                train_job(local, threads, on_checkpoint=lambda _: items.put(("checkpoint", pack_runs(work, rels))))
            except BaseException as exc:  # noqa: BLE001 - re-raised below, in the task's own thread
                outcome["error"] = exc
            finally:
                items.put(None)

        thread = threading.Thread(target=body, name=f"job {job.job_id}", daemon=True)
        thread.start()
        while (item := items.get()) is not None:
            yield item
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield ("done", pack_runs(work, rels))
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------------------
# The driver


def _system_errors(ray: Any) -> tuple[type[BaseException], ...]:
    return tuple(getattr(ray.exceptions, n) for n in SYSTEM_ERROR_NAMES if hasattr(ray.exceptions, n))


def _cause(exc: BaseException, ray: Any) -> BaseException:
    """The job's own exception inside Ray's wrapper, so errors read the same as on the local backend."""
    if isinstance(exc, ray.exceptions.RayTaskError) and isinstance(getattr(exc, "cause", None), BaseException):
        return exc.cause
    return exc


def default_window(spec: SweepSpec, ray: Any) -> int:
    """Jobs in flight: twice what the cluster's CPUs (or GPUs) hold at once, at least two.

    The second job per slot waits in Ray's queue, so a node starts its next job without waiting for the
    driver to read the last one's archive and submit another (with one per slot, short jobs left the
    workers idle half the time)."""
    res = ray.cluster_resources()
    slots = res.get("CPU", 1.0) / spec.resources.cpus
    if spec.resources.gpus > 0:
        slots = min(slots, res.get("GPU", 0.0) / spec.resources.gpus)
    return 2 * max(1, int(slots))


def run_ray(jobs: Sequence[Job], driver: SweepDriver, max_concurrent: int | None, address: str | None) -> None:
    """Drive ``jobs`` on Ray with a bounded in-flight window; see the module docstring for the guarantees."""
    try:
        import ray
    except ImportError as exc:
        raise ValueError("backend 'ray' needs the ray extra: pip install 'rayenvs[ray]'") from exc
    spec, root = driver.spec, driver.root
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {}
        if address is not None and address.split(":")[0] in ("127.0.0.1", "localhost"):
            kwargs["_node_ip_address"] = "127.0.0.1"  # a loopback cluster: stay on loopback
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False,
                 **kwargs)
    system_errors = _system_errors(ray)
    task = ray.remote(num_returns="streaming", max_retries=0)(job_task).options(
        num_cpus=spec.resources.cpus, num_gpus=spec.resources.gpus
    )
    limit = max_concurrent or default_window(spec, ray)
    threads = max(1, int(spec.resources.cpus))
    todo = deque(jobs)
    running: dict[Any, Job] = {}
    try:
        while todo or running:
            while todo and len(running) < limit:
                job = todo.popleft()
                running[task.remote(job, str(root), latest_snapshot(job, root), threads)] = job
                driver.started(job)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)
            for gen in ready:
                job = running[gen]
                try:
                    kind, data = ray.get(next(gen))
                except StopIteration:  # ended without "done": only if the task was cancelled
                    kind, data = "lost", b""
                except system_errors as exc:
                    kind, data = "lost", exc
                except Exception as exc:  # noqa: BLE001 - a failed job must not stop the sweep
                    del running[gen]
                    if driver.finished(job, _cause(exc, ray)):
                        todo.append(job)
                    continue
                if kind == "lost":
                    del running[gen]
                    err = data if isinstance(data, BaseException) else RuntimeError("task ended without results")
                    if driver.finished(job, err, lost_node=True):
                        todo.append(job)
                    continue
                install_runs(root, _rels(job, root), data)
                del data
                if kind == "done":
                    del running[gen]
                    driver.completed(job)
                    driver.finished(job, None)
            driver.save()
            driver.tick()
    finally:
        for gen in running:
            try:
                ray.cancel(gen, force=True)
            except Exception:  # noqa: BLE001 - best effort: the cluster may already be gone
                pass
        if started_here:
            ray.shutdown()
