"""run_training end to end on tiny budgets: outputs, curves, weights, logs, resume; plus config and the
Gymnasium -> SB3 vector env adapter."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml
from stable_baselines3.common.callbacks import BaseCallback

import rayenvs  # noqa: F401
from baselines.training.callbacks import evaluate_components
from baselines.training.checkpoints import CHECKPOINT_DIR, load_checkpoint_state
from baselines.training.config import (
    apply_overrides,
    parse_policy_kwargs,
    parse_yaml,
    resolve_config,
    select_blocks,
)
from baselines.training.loop import EVAL_SEED, run_training
from baselines.training.results import RunResult
from baselines.training.vec_env import GymnasiumVecEnvAdapter, make_train_env, make_vector_env, split_infos

BANDIT = "rayenvs/Bandit-K2n2-v0"
ROOMS = "rayenvs/MultiRoom-R2-v0"
SMALL = {"n_envs": 8, "n_steps": 32, "n_epochs": 2, "batch_size": 64}  # 256 env steps per rollout


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


class StepMetric(BaseCallback):
    """An extra callback with a ``history``, like the diagnostics' metrics callback."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[tuple[int, float]]] = {}

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.history.setdefault("test/steps_seen", []).append((self.num_timesteps, float(self.num_timesteps)))


class Interrupt(BaseCallback):
    """Simulates a crash once training passes ``at`` env steps."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            raise KeyboardInterrupt("simulated interruption")
        return True


@pytest.fixture(scope="module")
def bandit_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bandit")
    return run_training(
        BANDIT,
        seed=3,
        timesteps=2048,
        out_dir=out,
        overrides={**SMALL, "policy_kwargs.net_arch": [32]},
        eval_freq=512,
        eval_episodes=6,
        checkpoint_freq=1024,
        extra_callbacks=[StepMetric()],
        progress=False,
    )


def test_run_directory_layout_and_results(bandit_run: Path) -> None:
    assert bandit_run.parts[-3:] == ("Bandit-K2n2-v0", "baseline", "seed_3")
    res = RunResult.load(bandit_run)
    assert (res.env_id, res.algo, res.variant, res.seed, res.complete) == (BANDIT, "ppo", "baseline", 3, True)
    assert res.component_names == ["context_0", "context_1"]
    assert res.total_timesteps == 2048
    # eval: step 0, every 512 steps (rollouts of 256), and the end, each with 6 deterministic episodes
    assert res.eval.steps == [0, 512, 1024, 1536, 2048]
    assert res.eval.deterministic and res.eval.episodes_per_point == 6
    for rets, comps in zip(res.eval.returns, res.eval.component_returns, strict=True):
        assert len(rets) == 6 and all(len(c) == 2 for c in comps)
        assert all(r in (0.0, 1.0) for r in rets)
        assert [sum(c) for c in comps] == rets  # one-step bandit: return = sum of component returns
    # train: one point per episode, at most 32 kept per rollout (bandit.yaml), at the step they ended
    train = res.train
    assert train is not None and not train.deterministic and train.episodes_per_point == 1
    assert len(train.steps) == 8 * 32  # 8 rollouts, each with >= 32 one-step episodes
    assert all(0 < s <= 2048 for s in train.steps) and train.steps == sorted(train.steps)
    assert [s for s in train.steps[:32]] == [256 - 3 * 8] * 8 + [256 - 2 * 8] * 8 + [256 - 8] * 8 + [256] * 8
    assert res.metrics["test/steps_seen"] == [(s, float(s)) for s in range(256, 2049, 256)]
    assert res.config["n_steps"] == 32 and res.config["policy_kwargs"] == {"net_arch": [32]}
    assert "stable-baselines3" in res.versions and res.hardware["device"] == "cpu"
    assert res.wall_time_s > 0


def test_config_yaml_holds_resolved_overrides(bandit_run: Path) -> None:
    saved = yaml.safe_load((bandit_run / "config.yaml").read_text())
    assert saved["n_envs"] == 8 and saved["n_steps"] == 32 and saved["n_timesteps"] == 2048
    assert saved["policy_kwargs"] == {"net_arch": [32]}
    assert saved["learning_rate"] == pytest.approx(3e-4)  # from bandit.yaml
    assert saved == RunResult.load(bandit_run).config


def test_component_returns_logged_in_progress_csv(bandit_run: Path) -> None:
    rows = _csv_rows(bandit_run / "progress.csv")
    rollout_rows = [r for r in rows if r.get("rollout/component_return/context_0")]
    assert len(rollout_rows) == 8
    for r in rollout_rows:
        for k in (0, 1):
            assert 0.0 <= float(r[f"rollout/component_return/context_{k}"]) <= 1.0
    eval_rows = [r for r in rows if r.get("eval/mean_return")]
    res = RunResult.load(bandit_run)
    assert [int(float(r["time/total_timesteps"])) for r in eval_rows] == res.eval.steps
    assert [float(r["eval/mean_return"]) for r in eval_rows] == pytest.approx(res.eval.mean_returns())


def test_curves_png_and_policy_weights_reproduce_final_eval(bandit_run: Path) -> None:
    from safetensors.torch import load_file

    from baselines.ppo.variants import build_model
    from baselines.training.config import split_config

    assert (bandit_run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = RunResult.load(bandit_run)
    weights = load_file(str(bandit_run / "policy.safetensors"))
    model = build_model(
        "baseline", make_train_env(BANDIT, 8), split_config(res.config)[1], seed=123, device="cpu"
    )
    assert set(weights) == set(model.policy.state_dict())
    model.policy.load_state_dict(weights, strict=True)
    again = evaluate_components(model, make_vector_env(BANDIT, 6), EVAL_SEED, 2, deterministic=True)
    assert again.returns == res.eval.returns[-1]
    assert again.component_returns == res.eval.component_returns[-1]
    assert all(sum(p) == 1 for p in again.present)  # a bandit episode offers exactly its context


def test_multiroom_run(tmp_path: Path) -> None:
    run = run_training(
        ROOMS,
        timesteps=1024,
        out_dir=tmp_path,
        overrides=SMALL,
        eval_freq=512,
        eval_episodes=3,
        progress=False,
    )
    res = RunResult.load(run)
    assert res.component_names == ["room_0", "room_1"]
    assert res.eval.steps == [0, 512, 1024]
    for rets, comps in zip(res.eval.returns, res.eval.component_returns, strict=True):
        assert [sum(c) for c in comps] == pytest.approx(rets)
    # start="random": each episode can only earn its start room's reward, and results.json says which.
    for pres, comps in zip(res.eval.component_present, res.eval.component_returns, strict=True):
        assert all(sum(p) == 1 for p in pres)
        assert all(c[i] == 0 for p, c in zip(pres, comps, strict=True) for i in range(2) if not p[i])
    assert res.train is not None and all(0 < s <= 1024 for s in res.train.steps)
    assert len(res.train.component_present) == len(res.train.steps)
    header = (run / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"rollout/component_return/room_0", "rollout/component_return/room_1"} & set(header)


def _tb_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [e.step for e in acc.Scalars(tag)]


def test_resume_matches_uninterrupted_run(tmp_path: Path) -> None:
    kwargs = dict(
        timesteps=2048, overrides=SMALL, eval_freq=512, eval_episodes=4, checkpoint_freq=1024, progress=False
    )
    full = run_training(BANDIT, out_dir=tmp_path / "full", extra_callbacks=[StepMetric()], **kwargs)

    with pytest.raises(KeyboardInterrupt):
        run_training(
            BANDIT, out_dir=tmp_path / "cut", extra_callbacks=[StepMetric(), Interrupt(1700)], **kwargs
        )
    cut = tmp_path / "cut" / "Bandit-K2n2-v0" / "baseline" / "seed_0"
    partial = RunResult.load(cut)
    assert not partial.complete and partial.eval.steps == [0, 512, 1024, 1536]
    assert load_checkpoint_state(cut)["num_timesteps"] == 1024
    csv_steps_before = [int(float(r["time/total_timesteps"])) for r in _csv_rows(cut / "progress.csv")]
    assert max(csv_steps_before) > 1024  # rows past the checkpoint were written before the crash

    resumed = run_training(
        BANDIT, out_dir=tmp_path / "cut", extra_callbacks=[StepMetric()], resume=True, **kwargs
    )
    a, b = RunResult.load(full), RunResult.load(resumed)
    assert b.complete and b.total_timesteps == a.total_timesteps == 2048
    assert b.eval.steps == a.eval.steps == [0, 512, 1024, 1536, 2048]
    assert b.eval.returns[:3] == a.eval.returns[:3]  # identical up to the checkpoint
    assert b.train.steps == a.train.steps
    assert b.train.returns[: 4 * 32] == a.train.returns[: 4 * 32]
    assert b.metrics == a.metrics
    rows_a, rows_b = _csv_rows(full / "progress.csv"), _csv_rows(resumed / "progress.csv")
    assert [r["time/total_timesteps"] for r in rows_b] == [r["time/total_timesteps"] for r in rows_a]
    assert sorted(rows_b[0]) == sorted(rows_a[0])
    assert _tb_steps(resumed, "rollout/ep_rew_mean") == _tb_steps(full, "rollout/ep_rew_mean")
    assert _tb_steps(resumed, "eval/mean_return") == [0, 512, 1024, 1536, 2048]
    assert b.wall_time_s > 0
    assert sorted(p.name for p in (resumed / CHECKPOINT_DIR).iterdir()) == [
        "checkpoint.json",
        "model_2048.zip",
    ]


def test_resume_of_finished_run_is_a_no_op_and_reruns_are_refused(tmp_path: Path) -> None:
    kwargs = dict(timesteps=256, out_dir=tmp_path, overrides=SMALL, eval_episodes=2, progress=False)
    run = run_training(BANDIT, **kwargs)
    stamp = (run / "results.json").stat().st_mtime_ns
    assert run_training(BANDIT, resume=True, **kwargs) == run
    assert (run / "results.json").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="already holds a run"):
        run_training(BANDIT, **kwargs)
    with pytest.raises(ValueError, match="differs in \\['config'\\]"):
        run_training(
            BANDIT, **{**kwargs, "timesteps": 512, "overrides": {**SMALL, "n_epochs": 3}}, resume=True
        )
    # a longer budget continues from the final checkpoint
    longer = RunResult.load(run_training(BANDIT, resume=True, **{**kwargs, "timesteps": 512}))
    assert longer.total_timesteps == 512 and longer.eval.steps == [0, 256, 512]


def test_resume_with_a_shorter_budget_or_changed_config_is_refused(tmp_path: Path) -> None:
    """The issue's case in small: a 4096-step run checkpointed at 1024, resumed with --timesteps 512, must not
    be marked complete at 1024 steps; a changed hyperparameter is refused naming key, old and new value."""
    kwargs = dict(overrides=SMALL, eval_freq=512, eval_episodes=2, checkpoint_freq=1024, progress=False)
    with pytest.raises(KeyboardInterrupt):
        run_training(BANDIT, out_dir=tmp_path, timesteps=4096, extra_callbacks=[Interrupt(1300)], **kwargs)
    cut = tmp_path / "Bandit-K2n2-v0" / "baseline" / "seed_0"
    assert load_checkpoint_state(cut)["num_timesteps"] == 1024
    with pytest.raises(ValueError, match="budget changed from n_timesteps=4096 to 512"):
        run_training(BANDIT, out_dir=tmp_path, timesteps=512, resume=True, **kwargs)
    assert not RunResult.load(cut).complete
    changed = {**kwargs, "overrides": {**SMALL, "learning_rate": 0.01}}
    with pytest.raises(ValueError, match=r"learning_rate: 0\.0003 -> 0\.01"):
        run_training(BANDIT, out_dir=tmp_path, timesteps=4096, resume=True, **changed)
    assert not RunResult.load(cut).complete
    # a finished run is refused too when the budget shrinks (it is not "complete" under the smaller budget)
    done = run_training(BANDIT, out_dir=tmp_path / "done", timesteps=512, **kwargs)
    with pytest.raises(ValueError, match="budget changed from n_timesteps=512 to 256"):
        run_training(BANDIT, out_dir=tmp_path / "done", timesteps=256, resume=True, **kwargs)
    assert RunResult.load(done).total_timesteps == 512


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"env_id": "rayenvs/Nope-v0"}, "unknown env id"),
        ({"variant": "pfo-middle"}, "unknown variant part 'pfo-middle'"),
        ({"timesteps": 0}, "timesteps=0 must be an integer >= 1"),
        ({"seed": -1}, "seed=-1"),
        ({"eval_episodes": 0}, "eval_episodes=0"),
        ({"overrides": ["n_steps"]}, "must look like key=value"),
        ({"overrides": ["learning_rat=1e-3"]}, "unknown hyperparameter key"),
        ({"overrides": ["n_envs=0"]}, "n_envs=0 must be an integer >= 1"),
    ],
)
def test_bad_arguments_write_nothing(tmp_path: Path, kwargs: dict, match: str) -> None:
    args = {"env_id": BANDIT, "timesteps": 256, "out_dir": tmp_path / "out", "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        run_training(args.pop("env_id"), **args)
    assert not (tmp_path / "out").exists()


def test_config_layers_and_parsing(tmp_path: Path) -> None:
    assert (
        parse_yaml("3e-4") == pytest.approx(3e-4)
        and parse_yaml("1e5") == 1e5
        and parse_yaml("lin_1e-3") == "lin_1e-3"
    )
    assert parse_policy_kwargs(
        "dict(net_arch=dict(pi=[64, 64], vf=[32]), activation_fn=nn.ReLU, ortho_init=False)"
    ) == {
        "net_arch": {"pi": [64, 64], "vf": [32]},
        "activation_fn": "nn.ReLU",
        "ortho_init": False,
    }
    with pytest.raises(ValueError, match="unsupported expression"):
        parse_policy_kwargs("dict(x=__import__('os').system('true'))")
    assert apply_overrides(
        {"policy_kwargs": "dict(net_arch=[8])"}, ["policy_kwargs.activation_fn=nn.Tanh"]
    ) == {"policy_kwargs": {"net_arch": [8], "activation_fn": "nn.Tanh"}}
    zoo = {
        "default": {"n_steps": 8, "gamma": 0.9},
        BANDIT: {"n_steps": 16},
        "rayenvs/Other-v0": {"n_steps": 99},
    }
    assert select_blocks(zoo, BANDIT, "x") == {"n_steps": 16, "gamma": 0.9}
    user = tmp_path / "user.yaml"
    user.write_text(
        "default:\n  ent_coef: 1.0e-2\nrayenvs/Bandit-K2n2-v0:\n  n_epochs: 7\n"
        "  policy_kwargs: {activation_fn: nn.ReLU}\n"
    )
    cfg = resolve_config(
        BANDIT, user, ["gamma=0.5", "policy_kwargs.net_arch=[4, 4]"], timesteps=999, n_envs=3
    )
    assert (cfg["ent_coef"], cfg["n_epochs"], cfg["gamma"], cfg["n_timesteps"], cfg["n_envs"]) == (
        0.01,
        7,
        0.5,
        999,
        3,
    )
    # the user's policy_kwargs dict merges into bandit.yaml's "dict(net_arch=[64, 64])" string
    assert (
        cfg["policy_kwargs"] == {"net_arch": [4, 4], "activation_fn": "nn.ReLU"} and cfg["batch_size"] == 64
    )
    assert isinstance(resolve_config(BANDIT, overrides=["n_timesteps=2e3"])["n_timesteps"], int)
    with pytest.raises(ValueError, match="not valid YAML"):
        resolve_config(BANDIT, overrides=["gamma=[1"])
    with pytest.raises(ValueError, match="cannot read config file"):
        resolve_config(BANDIT, tmp_path / "missing.yaml")
    for family in ("bandit", "multiroom", "glimpse", "atari", "mujoco"):
        raw = yaml.safe_load(
            (Path(__file__).parents[1] / "baselines" / "training" / "configs" / f"{family}.yaml").read_text()
        )
        assert "default" in raw and "policy" in raw["default"]


def test_split_infos_respects_masks_and_nesting() -> None:
    infos = {
        "a": np.array([1, 2, 3]),
        "_a": np.array([True, False, True]),
        "v": np.arange(6.0).reshape(3, 2),
        "_v": np.array([False, True, False]),
        "sub": {"x": np.array([7, 8, 9]), "_x": np.array([False, False, True])},
        "_sub": np.array([False, False, True]),
    }
    out = split_infos(infos, 3)
    assert out[0] == {"a": 1} and out[2]["a"] == 3 and out[2]["sub"] == {"x": 9}
    assert set(out[1]) == {"v"} and out[1]["v"].tolist() == [2.0, 3.0]
    assert isinstance(out[0]["a"], int)


def test_adapter_moves_terminal_step_where_sb3_looks() -> None:
    venv = gym.make_vec(ROOMS, num_envs=4, vectorization_mode="vector_entry_point", max_episode_steps=3)
    ref = gym.make_vec(ROOMS, num_envs=4, vectorization_mode="vector_entry_point", max_episode_steps=3)
    env = GymnasiumVecEnvAdapter(venv)
    env.seed(11)
    obs = env.reset()
    ref_obs, _ = ref.reset(seed=11)
    np.testing.assert_array_equal(obs, ref_obs)
    truncations = 0
    for t in range(6):
        actions = np.array([(t + i) % 4 for i in range(4)])
        obs, rewards, dones, infos = env.step(actions)
        r_obs, r_rew, r_term, r_trunc, r_infos = ref.step(actions)
        np.testing.assert_array_equal(obs, r_obs)
        np.testing.assert_array_equal(rewards, r_rew.astype(np.float32))
        np.testing.assert_array_equal(dones, r_term | r_trunc)
        for i in range(4):
            assert infos[i]["TimeLimit.truncated"] == bool(r_trunc[i] and not r_term[i])
            if dones[i]:
                np.testing.assert_array_equal(infos[i]["terminal_observation"], r_infos["final_obs"][i])
                assert (
                    infos[i]["component_returns"].tolist()
                    == r_infos["final_info"]["component_returns"][i].tolist()
                )
                truncations += infos[i]["TimeLimit.truncated"]
            else:
                assert "terminal_observation" not in infos[i] and "component_rewards" in infos[i]
    assert truncations > 0
    obs_before = obs.copy()
    env.step(np.zeros(4, dtype=int))
    np.testing.assert_array_equal(obs, obs_before)  # returned observations are not aliased to env buffers
    assert env.get_attr("component_names") == [("room_0", "room_1")] * 4
    env.close()
    ref.close()


def test_eval_env_seeds_match_single_envs() -> None:
    class FirstArm:
        def predict(self, obs, deterministic=True):
            return np.zeros(len(obs), dtype=np.int64), None

    res = evaluate_components(FirstArm(), make_vector_env(BANDIT, 5), EVAL_SEED, 2)
    single = gym.make(BANDIT)
    expected = []
    for i in range(5):
        _, _ = single.reset(seed=EVAL_SEED + i)
        _, r, *_ = single.step(0)
        expected.append(float(r))
    assert res.returns == expected
    assert all(math.isclose(sum(c), r) for c, r in zip(res.component_returns, res.returns, strict=True))


def test_component_returns_callback_raw_returns_presence_and_cap() -> None:
    from types import SimpleNamespace

    from baselines.training.callbacks import ComponentReturnsCallback

    logged: dict[str, float] = {}
    cb = ComponentReturnsCallback(("a", "b"), episodes_per_rollout=2)
    cb.model = SimpleNamespace(
        num_timesteps=0, logger=SimpleNamespace(record=lambda k, v, exclude=None: logged.__setitem__(k, v))
    )
    ep = lambda comps, present, **extra: {  # noqa: E731
        "component_returns": np.array(comps),
        "component_present": np.array(present),
        **extra,
    }
    cb.on_rollout_start()
    cb.model.num_timesteps = 4
    cb.locals = {
        "dones": np.array([True, False, True]),
        "infos": [ep([1.0, 0.0], [True, False]), {}, ep([0.0, 0.5], [False, True], raw_return=7.0)],
    }
    cb.on_step()
    cb.model.num_timesteps = 8
    cb.locals = {"dones": np.array([True, False, False]), "infos": [ep([0.0, 0.0], [True, False]), {}, {}]}
    cb.on_step()
    cb.on_rollout_end()
    # means over the episodes where each component was present: a in episodes 1 and 3, b in episode 2
    assert logged == {"rollout/component_return/a": 0.5, "rollout/component_return/b": 0.5}
    curve = cb.curve()
    assert curve.steps == [4, 8] and curve.returns == [[7.0], [0.0]]  # the cap keeps the rollout's last 2
    assert curve.component_returns == [[[0.0, 0.5]], [[0.0, 0.0]]]
    cb.locals = {"dones": np.array([True]), "infos": [{"component_rewards": np.zeros(2)}]}
    with pytest.raises(ValueError, match="does not follow the rayenvs component contract"):
        cb.on_step()


def test_training_config_is_checked_on_creation_and_frozen(tmp_path: Path) -> None:
    import dataclasses

    from baselines import TrainingConfig

    cfg = TrainingConfig(BANDIT, timesteps=256, out_dir=tmp_path / "out", progress=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"eval_freq=0 must be an integer >= 1 or None"):
        TrainingConfig(BANDIT, eval_freq=0)
    with pytest.raises(ValueError, match=r"seed=True must be an integer >= 0"):
        TrainingConfig(BANDIT, seed=True)
    with pytest.raises(TypeError, match="either config= or"):
        run_training(BANDIT, config=cfg)
    assert not (tmp_path / "out").exists()
