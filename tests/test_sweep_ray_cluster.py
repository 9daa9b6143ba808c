"""A sweep on a real three-node Ray cluster on loopback, with no disk shared and one worker node SIGKILLed.

The head (0 CPUs) and two worker nodes (1 CPU each) are separate ``ray start --block`` process trees; each
worker's jobs run in its own scratch directory (``RAYENVS_SCRATCH``), never in the driver's sweep directory.
Every process of a node carries a marker variable in its environment, which is how a node is killed whole
(raylet, its agents and its task workers) and how teardown finds everything this test started.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from baselines.sweeps.sweep import COMPLETIONS_LOG, STATE_FILE, SweepSpec, run_sweep
from baselines.training.loop import run_training
from baselines.training.results import RunResult

pytestmark = [
    pytest.mark.skipif(shutil.which("ray") is None, reason="the ray CLI (rayenvs[ray]) is not installed"),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds a node's processes through /proc"),
]

MARK = "RAYENVS_TEST_NODE"
PPO_TINY = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}
TIMESTEPS = 2048


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_marked(prefix: str) -> list[int]:
    """Processes whose environment has ``MARK=<value starting with prefix>``."""
    needle = f"{MARK}={prefix}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            env = (entry / "environ").read_bytes()
        except OSError:
            continue
        if any(var.startswith(needle) for var in env.split(b"\0")):
            pids.append(int(entry.name))
    return pids


def _kill_marked(prefix: str) -> int:
    pids = _pids_marked(prefix)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def _wait_started(log: Path, deadline: float) -> None:
    """``ray start --block`` prints this once its node is up (raylet registered with the GCS)."""
    while time.monotonic() < deadline:
        if "Ray runtime started" in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"ray start did not finish in time: {log.read_text(errors='replace')[-2000:]}")


@pytest.fixture
def cluster():
    """Head + workers a and b on 127.0.0.1; yields (address, {name: scratch dir}, tmp); kills all on exit."""
    import ray

    tmp = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # Ray's socket paths must stay under 107 bytes
    port = _free_port()
    base = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "OMP_NUM_THREADS": "1", "RAY_raylet_start_wait_time_s": "120"}
    common = ["--node-ip-address=127.0.0.1", "--disable-usage-stats", "--block"]
    procs, scratch = [], {"a": tmp / "scratch-a", "b": tmp / "scratch-b"}

    def start(name: str, args: list[str], extra: dict[str, str]) -> None:
        log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        env = {**base, MARK: f"{tmp}/{name}", **extra}
        procs.append((subprocess.Popen(["ray", "start", *args, *common], env=env, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True), log))

    try:
        start("head", ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false",
                       f"--temp-dir={tmp / 'ray'}"], {})
        deadline = time.monotonic() + 240  # generous: two shared cores under load start a node in 10-60 s
        _wait_started(tmp / "head.log", deadline)
        for name in ("a", "b"):  # one at a time: concurrent raylet start-ups time out on a loaded machine
            start(name, [f"--address=127.0.0.1:{port}", "--num-cpus=1"], {"RAYENVS_SCRATCH": str(scratch[name])})
            _wait_started(tmp / f"{name}.log", deadline)
        ray.init(address=f"127.0.0.1:{port}", _node_ip_address="127.0.0.1", log_to_driver=False)
        while sum(n["Alive"] for n in ray.nodes()) < 3:
            if time.monotonic() > deadline:
                logs = {p.name: p.read_text()[-2000:] for p in tmp.glob("*.log")}
                raise TimeoutError(f"the worker nodes did not join within 240 s: {logs}")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", scratch, tmp
    finally:
        ray.shutdown()
        _kill_marked(str(tmp))
        for proc, log in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
        end = time.monotonic() + 30
        while _pids_marked(str(tmp)) and time.monotonic() < end:
            time.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)


def _checkpoint_step(run_dir: Path) -> int | None:
    try:
        return json.loads((run_dir / "checkpoints" / "checkpoint.json").read_text())["num_timesteps"]
    except (OSError, ValueError, KeyError):
        return None


def _csv(run_dir: Path, *keys: str) -> list[tuple[float, ...]]:
    """The rows of SB3's progress.csv that log all of ``keys`` (eval-only rows leave rollout keys empty)."""
    import csv

    with open(run_dir / "progress.csv", newline="") as f:
        return [tuple(float(r[k]) for k in keys) for r in csv.DictReader(f) if all(r.get(k) for k in keys)]


def test_node_killed_mid_sweep_every_run_reaches_the_driver_once_and_resumes(cluster, tmp_path):
    address, scratch, tmp = cluster
    root = tmp_path / "sweep"
    spec = SweepSpec(name="nodes", algo="ppo", envs=["rayenvs/Bandit-K2n2-v0"], seeds=[0, 1, 2],
                     timesteps=TIMESTEPS, overrides=PPO_TINY, eval_episodes=2, metrics_every=0, max_retries=0)
    killed: dict[str, object] = {}

    def kill_a_mid_job() -> None:
        """SIGKILL node a once the driver holds a checkpoint of the job a is running (bounded wait)."""
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and not killed:
            for run in scratch["a"].glob("rayenvs-job-*/Bandit-K2n2-v0/baseline/seed_*"):
                rel = run.relative_to(run.parents[2])
                step = _checkpoint_step(root / rel)
                if step is not None and step < TIMESTEPS - 512:
                    killed.update(rel=rel, step=step, pids=_kill_marked(f"{tmp}/a"), at=time.monotonic())
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_mid_job, daemon=True)
    t0 = time.monotonic()
    killer.start()
    report = run_sweep(spec, root, backend="ray", address=address, max_concurrent=2)
    wall = time.monotonic() - t0
    killer.join(timeout=5)
    assert killed, "node a never held a checkpointed job to kill"
    assert killed["pids"] >= 2  # the node's raylet and its worker at least

    rel, job_id = killed["rel"], "/".join(killed["rel"].parts)
    assert report.failed == []
    log = (root / COMPLETIONS_LOG).read_text().split()
    assert sorted(log) == [f"Bandit-K2n2-v0/baseline/seed_{s}" for s in (0, 1, 2)]  # each job exactly once
    state = json.loads((root / STATE_FILE).read_text())["jobs"]
    assert {j: (s["state"], s["node_losses"]) for j, s in state.items()} == {
        j: ("done", 1 if j == job_id else 0) for j in state
    }
    assert state[job_id]["attempts"] == 2 and state[job_id]["error"] is None
    assert not list(root.glob(".incoming-*")) and not list(root.rglob(".seed_*.old-*"))
    assert not list(scratch["b"].glob("rayenvs-job-*")), "node b cleans its scratch after each job"

    # The killed job resumed on node b from a checkpoint the driver had received: SB3's time/iterations
    # restarts in the resuming process, and the run continues (not repeats) the steps before it.
    resumed = root / rel
    rows = _csv(resumed, "time/iterations", "time/total_timesteps")
    iters, steps = [r[0] for r in rows], [r[1] for r in rows]
    restart = [i for i in range(1, len(iters)) if iters[i] < iters[i - 1]]
    assert len(restart) == 1, iters
    resumed_from = int(steps[restart[0]]) - 64  # one rollout of 2 envs x 32 steps before that row
    assert resumed_from >= killed["step"] > 0
    assert steps == sorted(set(steps)) and steps[-1] == TIMESTEPS

    # ... and is identical to an uninterrupted run up to that checkpoint (after it the env is reseeded)
    ref_dir = run_training("rayenvs/Bandit-K2n2-v0", seed=int(rel.name.split("_")[1]), timesteps=TIMESTEPS,
                           overrides=PPO_TINY, eval_episodes=2, run_dir=tmp_path / "ref", device="cpu",
                           progress=False)
    a, b = RunResult.load(ref_dir), RunResult.load(resumed)
    assert b.complete and b.total_timesteps == a.total_timesteps == TIMESTEPS
    assert b.eval.steps == a.eval.steps and b.train.steps == a.train.steps
    upto = sum(s <= resumed_from for s in a.eval.steps)
    assert upto >= 2 and b.eval.returns[:upto] == a.eval.returns[:upto]
    assert b.eval.component_returns[:upto] == a.eval.component_returns[:upto]
    assert [r[1] for r in _csv(ref_dir, "time/iterations", "time/total_timesteps")] == steps
    for name in ("results.json", "policy.safetensors", "curves.png", "config.yaml"):
        assert (resumed / name).is_file()
    assert len(list(resumed.glob("events.out.tfevents.*"))) >= 1
    print(f"\nnode-loss sweep: {wall:.1f} s, node a killed {killed['at'] - t0:.1f} s in at step {killed['step']}")
