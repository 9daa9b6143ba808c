"""The shipped configs are rl-zoo3 ``-conf`` files: a tiny rl-zoo3 train runs with each, and our own loader
still resolves exactly the hyperparameters it resolved before they were made rl-zoo3 files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

import rayenvs  # noqa: F401  (registers the ids)
from baselines.training.config import CONFIG_DIR, resolve_config
from rayenvs.registration import CATALOG

GOLDEN = Path(__file__).resolve().parent / "data" / "resolved_configs.json"
ONE_ID_PER_FILE = {
    "bandit": "rayenvs/Bandit-K2n2-v0",
    "multiroom": "rayenvs/MultiRoom-R2-v0",
    "glimpse": "rayenvs/Glimpse-v0",
    "mujoco": "rayenvs/MuJoCo-Hopper-v0",
    "atari": "rayenvs/Atari-Phoenix-v0",
}


def _typed(value):
    """JSON-comparable value that keeps int vs float apart (1e5 must stay an int budget)."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_typed(v) for v in value]
    return [type(value).__name__, value]


def test_every_shipped_config_file_is_covered() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(ONE_ID_PER_FILE)


def test_golden_file_covers_every_id_that_existed_before_the_layout() -> None:
    """Ids registered later (MultiRoom-Doors) have no "before"; every golden id must still be registered."""
    golden = set(json.loads(GOLDEN.read_text()))
    assert golden <= set(CATALOG)
    assert len(golden) == 30


@pytest.mark.parametrize("env_id", sorted(json.loads(GOLDEN.read_text())))
def test_our_loader_resolves_the_same_hyperparameters_as_before(env_id: str) -> None:
    """tests/data/resolved_configs.json was written by the loader and files before the rl-zoo3 layout."""
    want = json.loads(GOLDEN.read_text())[env_id]
    got = json.loads(json.dumps(resolve_config(env_id)))
    assert _typed(got) == _typed(want)


@pytest.mark.parametrize("family", sorted(ONE_ID_PER_FILE))
def test_files_are_in_the_layout_rl_zoo3_reads(family: str) -> None:
    """rl-zoo3 reads the env id's block only, with PyYAML's YAML 1.1 resolver, and passes it to SB3's PPO."""
    with open(CONFIG_DIR / f"{family}.yaml", encoding="utf-8") as f:
        data = yaml.load(f, Loader=yaml.UnsafeLoader)  # noqa: S506 - what rl-zoo3 itself does
    ids = [i for i, info in CATALOG.items() if info.family == family]
    for env_id in ids:
        block = data[env_id]
        assert block["policy"] in ("MlpPolicy", "CnnPolicy")
        assert isinstance(block["n_timesteps"], float | int) and isinstance(block["learning_rate"], float)
        assert not {"settings", "train_episodes_per_rollout"} & set(block)


@pytest.mark.parametrize("family", sorted(ONE_ID_PER_FILE))
def test_a_tiny_rl_zoo3_train_runs_with_each_shipped_config(family: str, tmp_path, monkeypatch) -> None:
    rl_zoo3_train = pytest.importorskip("rl_zoo3.train")
    env_id = ONE_ID_PER_FILE[family]
    argv = ["train", "--algo", "ppo", "--env", env_id, "-conf", str(CONFIG_DIR / f"{family}.yaml"),
            "--gym-packages", "rayenvs", "-n", "64", "--eval-freq", "-1", "-f", str(tmp_path), "--seed", "0",
            "--log-interval", "-1", "-params", "n_steps:16", "batch_size:16", "n_epochs:1"]
    if family == "mujoco":
        argv += ["--env-kwargs", "warmup_steps:20"]
    monkeypatch.setattr(sys, "argv", argv)
    rl_zoo3_train.train()
    run = tmp_path / "ppo" / f"{env_id.replace('/', '-')}_1"
    assert (run / f"{env_id.replace('/', '-')}.zip").is_file()
    saved = yaml.load((run / env_id.replace("/", "-") / "config.yml").read_text(), Loader=yaml.UnsafeLoader)
    hyper = dict(saved)
    assert hyper["n_steps"] == 16 and hyper["policy"] == CATALOG_POLICY[family]


CATALOG_POLICY = {"bandit": "MlpPolicy", "multiroom": "MlpPolicy", "glimpse": "MlpPolicy", "mujoco": "MlpPolicy",
                  "atari": "CnnPolicy"}


def test_zoo_shim_rewrites_what_record_video_would_reject_or_look_up_raw() -> None:
    from rayenvs.zoo import prepare_argv

    modules, argv = prepare_argv("record_video", ["--algo", "ppo", "--env", "rayenvs:rayenvs/Bandit-K2n2-v0",
                                                  "--gym-packages", "rayenvs", "minigrid", "-n", "5"])
    assert modules == ["rayenvs", "minigrid"]
    assert argv == ["--algo", "ppo", "--env", "rayenvs/Bandit-K2n2-v0", "-n", "5"]
    # train and enjoy have --gym-packages: it is kept (and its modules imported by the shim as well)
    modules, argv = prepare_argv("train", ["--env=rayenvs/MultiRoom-R2-v0", "--gym-packages", "rayenvs"])
    assert modules == ["rayenvs"] and argv == ["--env", "rayenvs/MultiRoom-R2-v0", "--gym-packages", "rayenvs"]
    with pytest.raises(SystemExit, match="unknown rl-zoo3 script 'record_training'.*train, enjoy, record_video"):
        prepare_argv("record_training", [])


def test_zoo_shim_selects_headless_egl_only_without_a_display_or_a_choice() -> None:
    from rayenvs.zoo import headless_gl

    env: dict[str, str] = {}
    headless_gl(env, "linux")
    assert env == {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl"}
    for given, platform in (({"DISPLAY": ":0"}, "linux"), ({"MUJOCO_GL": "osmesa"}, "linux"), ({}, "darwin")):
        env = dict(given)
        headless_gl(env, platform)
        assert env == given


def _tiny_zoo_train(env_id: str, family: str, folder: Path, monkeypatch, extra: tuple[str, ...] = ()) -> None:
    rl_zoo3_train = pytest.importorskip("rl_zoo3.train")
    argv = ["train", "--algo", "ppo", "--env", env_id, "-conf", str(CONFIG_DIR / f"{family}.yaml"),
            "--gym-packages", "rayenvs", "-n", "32", "--eval-freq", "-1", "-f", str(folder), "--seed", "0",
            "--log-interval", "-1", "-params", "n_steps:16", "batch_size:16", "n_epochs:1", "n_envs:2", *extra]
    monkeypatch.setattr(sys, "argv", argv)
    rl_zoo3_train.train()


def _record_video(env_arg: str, folder: Path, frames: int) -> Path:
    """rl-zoo3's own record_video script, in a fresh process as a user runs it (through the shim)."""
    import os
    import subprocess

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "rayenvs.zoo", "record_video", "--algo", "ppo", "--env", env_arg,
                           "-f", str(folder), "-n", str(frames), "--gym-packages", "rayenvs"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    videos = list((folder / "ppo").glob("*_1/videos/*.mp4"))
    assert len(videos) == 1, done.stdout[-2000:]
    return videos[0]


def _assert_video(video: Path, env_id: str, frames: int) -> None:
    """``-n N`` records the reset frame and N steps; the first frame is the env's own render after reset(seed=0)."""
    import gymnasium as gym
    import imageio.v3 as iio
    import imageio_ffmpeg
    import numpy as np

    assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == frames + 1
    first = iio.imread(video, index=0).astype(float)
    env = gym.make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    want = env.render().astype(float)
    env.close()
    assert first.shape == want.shape
    assert np.abs(first - want).mean() < 8.0  # lossy H.264; a different frame differs by tens


def test_rl_zoo3_record_video_films_a_model_rl_zoo3_trained_with_a_shipped_config(tmp_path, monkeypatch) -> None:
    pytest.importorskip("moviepy")
    env_id = "rayenvs/MultiRoom-R2-v0"
    _tiny_zoo_train(env_id, "multiroom", tmp_path, monkeypatch)
    video = _record_video("rayenvs:" + env_id, tmp_path, frames=12)
    assert video.name == "final-model-ppo-rayenvs-MultiRoom-R2-v0-step-0-to-step-12.mp4"
    _assert_video(video, env_id, frames=12)


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(set(ONE_ID_PER_FILE) - {"multiroom"}))
def test_rl_zoo3_record_video_films_every_family(family: str, tmp_path, monkeypatch) -> None:
    """MuJoCo needs an offscreen GL context (the shim picks EGL on a headless machine); Atari renders ALE frames."""
    pytest.importorskip("moviepy")
    env_id = ONE_ID_PER_FILE[family]
    extra = ("--env-kwargs", "warmup_steps:20") if family == "mujoco" else ()
    _tiny_zoo_train(env_id, family, tmp_path, monkeypatch, extra)
    # 10 steps: moviepy 2.x drops the last frame of some clips by float rounding (7 frames at 30 fps give 6)
    video = _record_video(env_id, tmp_path, frames=10)
    if family != "mujoco":  # MuJoCo's own render needs the GL backend the shim set in its subprocess only
        _assert_video(video, env_id, frames=10)
    else:
        import imageio_ffmpeg

        assert imageio_ffmpeg.count_frames_and_secs(str(video))[0] == 11
