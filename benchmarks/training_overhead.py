"""Overhead of run_training (adapter + callbacks + eval + checkpoints + logs) vs plain SB3 PPO on DummyVecEnv."""
import time, shutil, sys
import rayenvs  # noqa
import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env
from baselines.training import run_training
from baselines.config import resolve_config, split_config
from baselines.variants import build_model

def plain(env_id, steps):
    cfg = resolve_config(env_id, timesteps=steps)
    run, hp = split_config(cfg)
    venv = make_vec_env(lambda: gym.make(env_id), n_envs=run["n_envs"], seed=0)
    model = build_model("baseline", venv, hp, seed=0, device="cpu")
    t = time.perf_counter(); model.learn(steps); return time.perf_counter() - t

def ours(env_id, steps):
    shutil.rmtree("/tmp/fbench/runs", ignore_errors=True)
    t = time.perf_counter()
    run_training(env_id, timesteps=steps, out_dir="/tmp/fbench/runs", progress=False, device="cpu")
    return time.perf_counter() - t

for env_id, steps in [("rayenvs/Bandit-K2n2-v0", 20480), ("rayenvs/MultiRoom-R2-v0", 20480)]:
    plain(env_id, 512); ours(env_id, 512)  # warm imports
    a = [plain(env_id, steps) for _ in range(2)]
    b = [ours(env_id, steps) for _ in range(2)]
    print(f"{env_id}: plain SB3 {min(a):.2f}s, run_training {min(b):.2f}s, ratio {min(b)/min(a):.2f}", flush=True)
