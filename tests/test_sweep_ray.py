"""The Ray backend's parts that need no cluster: run directories as bytes, the node-side task, progress."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from baselines.sweeps import ray_backend as sweep_ray
from baselines.sweeps.progress import SweepProgress, summary_table
from baselines.sweeps.ray_backend import install_runs, job_task, latest_snapshot, pack_runs
from baselines.sweeps.sweep import JobStatus, SweepSpec, expand
from baselines.training.results import RunResult


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_run_directories_round_trip_and_replace_the_old_version(tmp_path):
    src = tmp_path / "node"
    (src / "e/v/seed_0/checkpoints").mkdir(parents=True)
    (src / "e/v/seed_0/results.json").write_text("{}")
    (src / "e/v/seed_0/checkpoints/model_8.zip").write_bytes(b"\x00\x01" * 100)
    (src / "e/v/seed_1").mkdir(parents=True)
    (src / "e/v/seed_1/progress.csv").write_text("a,b\n1,2\n")
    rels = ["e/v/seed_0", "e/v/seed_1", "e/v/seed_2"]  # seed_2 has nothing yet: left out, not an error
    dst = tmp_path / "driver"
    (dst / "e/v/seed_0").mkdir(parents=True)
    (dst / "e/v/seed_0/stale.txt").write_text("from an older snapshot")
    install_runs(dst, rels, pack_runs(src, rels))
    assert _tree(dst) == _tree(src)  # the stale file went with the old version of the directory
    assert sorted(p.name for p in dst.iterdir()) == ["e"]  # no temp or old directories left behind


def test_archives_over_the_limit_are_refused(tmp_path, monkeypatch):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "w.bin").write_bytes(bytes(range(256)) * 64)
    monkeypatch.setattr(sweep_ray, "MAX_ARCHIVE_BYTES", 100)
    with pytest.raises(ValueError, match=r"run directories \['r'\] pack to .* MiB, over the 0 MiB"):
        pack_runs(tmp_path, ["r"])


def test_job_task_runs_in_node_scratch_and_yields_checkpoints_then_the_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(sweep_ray.SCRATCH_ENV, str(tmp_path / "scratch"))
    root = tmp_path / "sweep"
    spec = SweepSpec(name="t", algo="ppo", envs=["rayenvs/Bandit-K2n2-v0"], seeds=[3], timesteps=256,
                     overrides={"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}, eval_episodes=2,
                     metrics_every=0)
    (job,) = expand(spec, root)
    assert latest_snapshot(job, root) is None
    items = list(job_task(job, str(root), None, 1))
    kinds = [k for k, _ in items]
    assert kinds[-1] == "done" and kinds[:-1] == ["checkpoint"] * (len(kinds) - 1) and len(kinds) >= 3
    assert not root.exists()  # the task never touches the driver's directory ...
    assert list((tmp_path / "scratch").iterdir()) == []  # ... and cleans its scratch
    root.mkdir()
    install_runs(root, ["Bandit-K2n2-v0/baseline/seed_3"], items[1][1])  # a mid-run snapshot
    run = root / "Bandit-K2n2-v0/baseline/seed_3"
    assert (run / "checkpoints/checkpoint.json").is_file() and not (run / "results.json").exists()
    assert latest_snapshot(job, root) is not None  # what a re-queued job is sent to resume from
    install_runs(root, ["Bandit-K2n2-v0/baseline/seed_3"], items[-1][1])
    assert job.is_complete() and RunResult.load(run).total_timesteps == 256


def test_progress_lines_when_not_a_terminal_and_the_summary_table():
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)
    with SweepProgress("s", 4, console, every_s=0) as progress:
        progress("a", JobStatus(state="skipped"))
        progress("b", JobStatus(state="running"))
        progress("c", JobStatus(state="running"))
        progress("b", JobStatus(state="done", attempts=1))
        progress("c", JobStatus(state="pending", attempts=1, error="NodeDiedError: gone", node_losses=1))
        progress("c", JobStatus(state="failed", attempts=2, error="ValueError: bad", node_losses=1))
    text = out.getvalue()
    assert "retry c (attempt 1): NodeDiedError: gone" in text and "failed c (attempt 2): ValueError: bad" in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("sweep s: 3/4 finished (1 done, 1 skipped), 0 running, 1 failed, 1 retried;")
    assert "ETA" in last and "jobs/s" in last
    status = {"a": JobStatus(state="skipped"), "b": JobStatus(state="done", attempts=1),
              "c": JobStatus(state="failed", attempts=2, error="ValueError: bad", node_losses=1)}
    table = io.StringIO()
    Console(file=table, width=120).print(summary_table("s", status, 75.0))
    rendered = table.getvalue()
    assert "sweep s: 3 jobs in 1m15s" in rendered and "ValueError: bad" in rendered
    assert [ln.split("│")[1].strip() for ln in rendered.splitlines() if ln.count("│") == 5][:3] == [
        "done", "skipped", "failed"]
