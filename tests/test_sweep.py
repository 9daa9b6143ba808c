"""Sweeps: expansion, validation, local and Ray backends, retries, and kill-then-resume exactly once."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from baselines.sweeps.sweep import COMPLETIONS_LOG, STATE_FILE, SweepSpec, expand, load_sweep, run_sweep
from baselines.training.results import RunResult

PPO_TINY = {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 1}


def _spec(**kw):
    base = dict(name="t", algo="bandit", envs=["rayenvs/Bandit-K2n2-v0"], variants=["on-policy", "tabular"],
                seeds=[0, 1, 2], timesteps=2000, max_retries=1)
    base.update(kw)
    return SweepSpec(**base)


def _completions(root: Path) -> list[str]:
    p = root / COMPLETIONS_LOG
    return p.read_text().split() if p.exists() else []


def test_expand_bandit_batches_seeds_and_ppo_splits_them(tmp_path):
    jobs = expand(_spec(), tmp_path)
    assert [j.job_id for j in jobs] == ["Bandit-K2n2-v0/on-policy", "Bandit-K2n2-v0/tabular"]
    assert jobs[0].seeds == (0, 1, 2) and len(jobs[0].run_dirs) == 3
    ppo = expand(_spec(algo="ppo", variants=["baseline", "pfo-last"], seeds=[4, 5]), tmp_path)
    assert [j.job_id for j in ppo] == [
        "Bandit-K2n2-v0/baseline/seed_4", "Bandit-K2n2-v0/baseline/seed_5",
        "Bandit-K2n2-v0/pfo-last/seed_4", "Bandit-K2n2-v0/pfo-last/seed_5",
    ]
    assert ppo[0].run_dirs == (str(tmp_path / "Bandit-K2n2-v0" / "baseline" / "seed_4"),)


@pytest.mark.parametrize(
    "data, needle",
    [
        ({"envs": ["rayenvs/Nope-v0"]}, ": envs[0]: unknown env id 'rayenvs/Nope-v0'"),
        ({"variants": ["greedy"]}, ": variants: bandit modes ['greedy'] unknown"),
        ({"algo": "ppo", "variants": ["pfo-sometimes"]}, ": variants: unknown variant part 'pfo-sometimes'"),
        ({"envs": ["rayenvs/MultiRoom-R2-v0"]}, ": envs: algo 'bandit' needs bandit envs"),
        ({"seeds": [1, 1]}, ": seeds: [1, 1] has repeated [1]; seeds must be distinct integers >= 0"),
        ({"timesteps": 0}, ": timesteps: 0 is out of range; allowed: an integer > 0"),
        ({"name": "a b"}, ": name: 'a b' may only hold"),
        ({"surprise": 1}, ": surprise: unknown key; allowed keys: algo, device, envs,"),
        ({"device": "tpu"}, ": device: 'tpu' is not a torch device; allowed: auto, cpu, cuda, cuda:N, mps"),
    ],
)
def test_bad_sweep_files_name_the_problem(tmp_path, data, needle):
    base = dict(name="t", algo="bandit", envs=["rayenvs/Bandit-K2n2-v0"], variants=["on-policy"], seeds=[0])
    base.update(data)
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ValueError, match="s.yaml") as err:
        load_sweep(path)
    assert needle in str(err.value)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="mapping"):
        load_sweep(path)


@pytest.mark.parametrize(
    "device, gpus, needle",
    [
        ("cuda", 0, "Ray hides GPUs from tasks that request none"),
        ("cuda:1", 1, "numbered from cuda:0"),
        ("cpu", 0.5, "reserve GPUs they never use"),
    ],
)
def test_ray_device_and_gpu_requests_must_fit_before_anything_runs(tmp_path, device, gpus, needle):
    spec = _spec(device=device, resources={"cpus": 1, "gpus": gpus})
    with pytest.raises(ValueError, match=needle):
        run_sweep(spec, tmp_path / "out", backend="ray", address="127.0.0.1:1")
    assert not (tmp_path / "out").exists()  # refused before the sweep directory or any state was written


def test_local_sweep_runs_once_and_skips_finished_runs(tmp_path):
    spec = _spec()
    report = run_sweep(spec, tmp_path, max_concurrent=2)
    assert report.failed == []
    assert sorted(_completions(tmp_path)) == ["Bandit-K2n2-v0/on-policy", "Bandit-K2n2-v0/tabular"]
    assert len(report.run_dirs) == 6
    runs = [RunResult.load(d) for d in report.run_dirs]
    assert {(r.variant, r.seed) for r in runs} == {(m, s) for m in ("on-policy", "tabular") for s in (0, 1, 2)}
    # Exact expected returns: the first point is the initial performance J = K/10, i.e. 0.1 per episode.
    assert all(abs(r.eval.returns[0][0] - 0.1) < 1e-9 for r in runs)
    again = run_sweep(spec, tmp_path, max_concurrent=2)
    assert {s.state for s in again.status.values()} == {"skipped"}
    assert len(_completions(tmp_path)) == 2
    state = yaml.safe_load((tmp_path / STATE_FILE).read_text())
    assert set(state["jobs"]) == {"Bandit-K2n2-v0/on-policy", "Bandit-K2n2-v0/tabular"}


def test_failed_job_is_retried_without_stopping_the_others(tmp_path):
    # stop_at=3 is beyond the K=2 bandit's maximum J=2 (rejected when the job runs) but fine for K=4.
    spec = _spec(envs=["rayenvs/Bandit-K2n2-v0", "rayenvs/Bandit-K4n4-v0"], variants=["tabular"],
                 overrides={"stop_at": 3.0}, max_retries=2)
    report = run_sweep(spec, tmp_path, max_concurrent=2)
    bad, good = report.status["Bandit-K2n2-v0/tabular"], report.status["Bandit-K4n4-v0/tabular"]
    assert (bad.state, bad.attempts) == ("failed", 3)
    assert "stop_at" in bad.error
    assert (good.state, good.attempts) == ("done", 1)
    assert report.failed == ["Bandit-K2n2-v0/tabular"]
    assert _completions(tmp_path) == ["Bandit-K4n4-v0/tabular"]


def test_ppo_sweep_killed_midway_finishes_every_run_exactly_once(tmp_path):
    spec = {"name": "kill", "algo": "ppo", "envs": ["rayenvs/Bandit-K2n2-v0"], "variants": ["baseline"],
            "seeds": [0, 1, 2], "timesteps": 1024, "overrides": PPO_TINY, "eval_episodes": 2}
    sweep_file = tmp_path / "kill.yaml"
    sweep_file.write_text(yaml.safe_dump(spec))
    root = tmp_path / "out"
    cmd = [sys.executable, "-m", "rayenvs.cli", "sweep", str(sweep_file), "--out", str(root), "--max-concurrent", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not _completions(root) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers, mid-sweep
    proc.wait()
    first = _completions(root)
    assert 1 <= len(first) < 3, "the kill should land after the first job and before the last"
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    log = _completions(root)
    assert sorted(log) == sorted(f"Bandit-K2n2-v0/baseline/seed_{s}" for s in (0, 1, 2))
    for s in (0, 1, 2):
        r = RunResult.load(root / "Bandit-K2n2-v0" / "baseline" / f"seed_{s}")
        assert r.complete and r.total_timesteps >= 1024
        assert r.eval.steps == sorted(set(r.eval.steps)), "no duplicated evaluation points after resume"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("ray") is None, reason="the ray CLI (rayenvs[ray]) is not installed")
def test_ray_backend_on_a_local_head(tmp_path):
    port = _free_port()
    ray_tmp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    start = subprocess.run(
        ["ray", "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={ray_tmp}"],
        env=env, capture_output=True, text=True, timeout=180,
    )
    assert start.returncode == 0, start.stderr
    try:
        report = run_sweep(_spec(), tmp_path / "out", backend="ray", address=f"127.0.0.1:{port}",
                           max_concurrent=2)
        assert report.failed == []
        assert sorted(_completions(tmp_path / "out")) == ["Bandit-K2n2-v0/on-policy", "Bandit-K2n2-v0/tabular"]
        assert len(report.run_dirs) == 6 and all((d / "results.json").exists() for d in report.run_dirs)
        # A job that fails on Ray reports its own error (not Ray's wrapper) and does not stop the others.
        bad = _spec(envs=["rayenvs/Bandit-K2n2-v0", "rayenvs/Bandit-K4n4-v0"], variants=["tabular"],
                    overrides={"stop_at": 3.0}, max_retries=1)
        failing = run_sweep(bad, tmp_path / "bad", backend="ray", address=f"127.0.0.1:{port}", max_concurrent=2)
        st = failing.status["Bandit-K2n2-v0/tabular"]
        assert (st.state, st.attempts, st.node_losses) == ("failed", 2, 0)
        assert st.error.startswith("ValueError:") and "stop_at" in st.error
        assert _completions(tmp_path / "bad") == ["Bandit-K4n4-v0/tabular"]
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_readme_sweep_example_is_a_valid_ray_sweep():
    import re

    from baselines.sweeps.sweep import check_ray_resources

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    spec = SweepSpec.model_validate(yaml.safe_load(block))
    check_ray_resources(spec)  # raises if the example's device and GPU request could not work on Ray
    assert spec.device == "cuda" and spec.resources.gpus > 0


def test_rerun_with_changed_settings_is_refused_naming_the_change(tmp_path):
    spec = _spec(variants=["tabular"], seeds=[0, 1])
    assert run_sweep(spec, tmp_path, max_concurrent=1).failed == []
    before = (tmp_path / STATE_FILE).read_text()
    with pytest.raises(ValueError, match=r"Bandit-K2n2-v0/tabular \(timesteps: 2000 -> 4000\)"):
        run_sweep(_spec(variants=["tabular"], seeds=[0, 1], timesteps=4000), tmp_path)
    with pytest.raises(ValueError, match=r"overrides.lr: '<unset>' -> 0.2; seeds: \[0, 1\] -> \[0, 1, 2\]"):
        run_sweep(_spec(variants=["tabular"], seeds=[0, 1, 2], overrides={"lr": 0.2}), tmp_path)
    assert (tmp_path / STATE_FILE).read_text() == before  # refused before anything was written
    # How a sweep runs (retries, resources, concurrency) is not what its runs depend on: still finished.
    again = run_sweep(_spec(variants=["tabular"], seeds=[0, 1], max_retries=5, resources={"cpus": 2}), tmp_path)
    assert {s.state for s in again.status.values()} == {"skipped"}
    state = yaml.safe_load((tmp_path / STATE_FILE).read_text())["jobs"]["Bandit-K2n2-v0/tabular"]
    assert state["settings"]["timesteps"] == 2000 and len(state["fingerprint"]) == 16


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"overrides": {"n_env": 4}}, r"unknown bandit override key\(s\) \['n_env'\]; allowed keys: \[.*'lr'"),
        ({"algo": "ppo", "variants": ["baseline"], "overrides": {"n_env": 4}},
         r"unknown hyperparameter key\(s\) \['n_env'\]; did you mean 'n_envs' for 'n_env'\? allowed keys: \[.*'n_envs'"),
    ],
)
def test_bad_override_keys_are_refused_before_any_job(tmp_path, kw, needle):
    with pytest.raises(ValueError, match=needle):
        run_sweep(_spec(**kw), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_local_backend_refuses_a_missing_device_up_front(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="device='cuda' but CUDA is not available here"):
        run_sweep(_spec(device="cuda"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_bandit_seeds_split_into_jobs_of_seeds_per_job(tmp_path):
    jobs = expand(_spec(variants=["tabular"], seeds=[0, 1, 2, 3, 4], seeds_per_job=2), tmp_path)
    assert [(j.job_id, j.seeds) for j in jobs] == [
        ("Bandit-K2n2-v0/tabular/seeds_0-1", (0, 1)), ("Bandit-K2n2-v0/tabular/seeds_2-3", (2, 3)),
        ("Bandit-K2n2-v0/tabular/seeds_4-4", (4,)),
    ]
    assert [j.job_id for j in expand(_spec(variants=["tabular"]), tmp_path)] == ["Bandit-K2n2-v0/tabular"]


def test_sweep_file_problems_are_one_line_each_with_file_line_key_value_and_what_is_allowed(tmp_path):
    """No pydantic dump (type tags, URLs): every problem on its own line, at the line to fix."""
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: t\n"
        "algo: pp\n"
        "envs: [rayenvs/Bandit-K2n2-v0, rayenvs/Bandit-K2n2-v9]\n"
        "seeds: [0, -1]\n"
        "timesteps: -5\n"
        "resources: {cpus: 0, gpu: 1}\n"
        "seed: [1]\n"
        "max_retries: 50\n"
        "device: banana\n"
        "eval_episodes: many\n"
    )
    with pytest.raises(ValueError) as err:
        load_sweep(path)
    lines = str(err.value).splitlines()
    assert lines[0] == f"sweep file {path} has 10 problems:"
    assert sorted(lines[1:]) == sorted(f"  {path}:{rest}" for rest in [
        "2: algo: 'pp' is not allowed; did you mean 'ppo'? allowed: 'ppo', 'bandit'",
        "3: envs[1]: unknown env id 'rayenvs/Bandit-K2n2-v9'; did you mean 'rayenvs/Bandit-K2n2-v0' or "
        "'rayenvs/Bandit-K2n8-v0' or 'rayenvs/Bandit-K8n8-v0'? registered rayenvs ids are: "
        + ", ".join(sorted(__import__("rayenvs").CATALOG)),
        "4: seeds: [0, -1] has negative [-1]; seeds must be distinct integers >= 0",
        "5: timesteps: -5 is out of range; allowed: an integer > 0",
        "6: resources.cpus: 0 is out of range; allowed: a number > 0",
        "6: resources.gpu: unknown key; did you mean 'gpus'? allowed keys: cpus, gpus",
        "7: seed: unknown key; did you mean 'seeds'? allowed keys: algo, device, envs, eval_episodes, "
        "max_node_losses, max_retries, metrics_every, name, overrides, resources, seeds, seeds_per_job, "
        "timesteps, variants",
        "8: max_retries: 50 is out of range; allowed: an integer >= 0 and <= 20",
        "9: device: 'banana' is not a torch device; allowed: auto, cpu, cuda, cuda:N, mps",
        "10: eval_episodes: 'many' should be a valid integer, unable to parse string as an integer",
    ])
    assert "pydantic" not in str(err.value) and "type=" not in str(err.value)
    # a single problem is one line; a missing key has no line to point at
    path.write_text("name: t\nenvs: [rayenvs/Bandit-K2n2-v0]\n")
    with pytest.raises(ValueError) as err:
        load_sweep(path)
    assert str(err.value) == f"sweep file {path}: seeds: required key is missing"
    path.write_text("name: t\nalgo: bandit\nenvs: [rayenvs/Bandit-K2n2-v0]\nvariants: [tabular, on-polcy]\n"
                    "seeds: [0]\n")
    with pytest.raises(ValueError) as err:
        load_sweep(path)
    assert str(err.value).startswith(f"sweep file {path}:4: variants: bandit modes ['on-polcy'] unknown; "
                                     "did you mean 'on-policy'? allowed: ['on-policy', 'tabular',")


def test_sweep_file_yaml_syntax_error_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: t\nenvs: [rayenvs/Bandit-K2n2-v0\nseeds: [0]\n")
    with pytest.raises(ValueError) as err:
        load_sweep(path)
    assert str(err.value) == (f"sweep file {str(path)!r} is not valid YAML: line 3, column 6: expected ',' or ']', "
                              "but got ':' (while parsing a flow sequence at line 2, column 7)")
    path.write_text("name: t\n\tseeds: [0]\n")
    with pytest.raises(ValueError, match=r"broken.yaml' is not valid YAML: line 2, column 1: found character '\\t'"):
        load_sweep(path)


@pytest.mark.parametrize(
    "overrides, algo, variants, message",
    [
        ("{n_stepz: 4}", "ppo", "[baseline]",
         "overrides: unknown hyperparameter key(s) ['n_stepz']; did you mean 'n_steps' for 'n_stepz'? allowed keys: ["),
        ("{learning_rat: 0.1}", "bandit", "[tabular]",
         "overrides: unknown bandit override key(s) ['learning_rat']; allowed keys: ["),
        ("{stop_att: 1.5}", "bandit", "[tabular]",
         "overrides: unknown bandit override key(s) ['stop_att']; did you mean 'stop_at' for 'stop_att'? allowed"),
    ],
)
def test_sweep_file_override_keys_are_checked_when_the_file_is_read(tmp_path, overrides, algo, variants, message):
    path = tmp_path / "o.yaml"
    path.write_text(f"name: t\nalgo: {algo}\nenvs: [rayenvs/Bandit-K2n2-v0]\nvariants: {variants}\nseeds: [0]\n"
                    f"overrides: {overrides}\n")
    with pytest.raises(ValueError) as err:
        load_sweep(path)
    assert str(err.value).startswith(f"sweep file {path}:6: {message}")
