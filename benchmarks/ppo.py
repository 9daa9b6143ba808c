"""Throughput of RayPPO's interventions against stable_baselines3.PPO, measured in the same run.

For one Atari game (rayenvs/Atari-Phoenix-v0: the paper's ALE preset, NatureCNN with separate actor and critic)
and for Hopper-v5 (64-64 tanh MLPs), every configuration trains for the same few rollouts with the same
hyperparameters and SB3 settings, so the only difference to the SB3 peer is the intervention. Configurations are
interleaved over ``--repeats`` rounds and the median is reported, which keeps slow drifts of a shared machine from
favouring one of them. Reported: env steps per second over whole rollouts+updates (wall clock and process CPU
time: on a machine shared with other jobs only the CPU time is meaningful), CPU seconds per update phase, and the
overhead of each against SB3's PPO (targets: <= 10% for PFO-last, <= 20% for PFO-all). Run with
OMP_NUM_THREADS=1 so that CPU time equals compute cost.

    OMP_NUM_THREADS=1 python benchmarks/ppo.py --suite atari hopper --rollouts 2 --repeats 2 --device cpu
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch as th
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import rayenvs  # noqa: F401  (registers the ids)
from baselines.ppo.variants import build_model

SUITES: dict[str, dict[str, Any]] = {
    "atari": {
        "env_id": "rayenvs/Atari-Phoenix-v0",
        "n_envs": 8,
        "hyperparams": {
            "policy": "CnnPolicy",
            "n_steps": 128,
            "batch_size": 256,
            "n_epochs": 4,
            "learning_rate": 2.5e-4,
            "clip_range": 0.1,
            "ent_coef": 0.01,
        },
    },
    "hopper": {
        "env_id": "Hopper-v5",
        "n_envs": 2,
        "hyperparams": {
            "policy": "MlpPolicy",
            "n_steps": 1024,
            "batch_size": 64,
            "n_epochs": 10,
            "policy_kwargs": {"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": th.nn.Tanh},
        },
    },
}
VARIANTS: tuple[str, ...] = ("baseline", "pfo-last", "pfo-all", "shared-trunk", "adam-reset")
PEER = "sb3 PPO"


def _sb3_peer(env: Any, hyperparams: dict[str, Any], device: str) -> PPO:
    hp = dict(hyperparams)
    policy = hp.pop("policy")
    pk = dict(hp.pop("policy_kwargs", {}))
    if policy == "CnnPolicy":
        pk["share_features_extractor"] = False  # the same separate networks as RayPPO's non-shared variants
    return PPO(policy, env, policy_kwargs=pk, seed=0, device=device, **hp)


class Timed:
    """One configuration's model, warmed up, with the wall and CPU time of each learn() and update phase."""

    def __init__(self, suite: str, label: str, device: str) -> None:
        spec = SUITES[suite]
        self.env = make_vec_env(spec["env_id"], n_envs=spec["n_envs"], seed=0)
        if label == PEER:
            self.model = _sb3_peer(self.env, spec["hyperparams"], device)
        else:
            self.model = build_model(label, self.env, spec["hyperparams"], seed=0, device=device)
        self.per_rollout = spec["n_envs"] * spec["hyperparams"]["n_steps"]
        self.model.learn(self.per_rollout)  # warm-up: env resets, allocator, first-call overheads
        self.update_cpu: list[float] = []
        original: Callable[[], None] = self.model.train

        def train() -> None:
            start = time.process_time()
            original()
            self.update_cpu.append(time.process_time() - start)

        self.model.train = train  # type: ignore[method-assign]
        self.fps_wall: list[float] = []
        self.fps_cpu: list[float] = []

    def run(self, rollouts: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.model.learn(rollouts * self.per_rollout, reset_num_timesteps=False)
        steps = rollouts * self.per_rollout
        self.fps_wall.append(steps / (time.perf_counter() - wall))
        self.fps_cpu.append(steps / (time.process_time() - cpu))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", nargs="+", choices=sorted(SUITES), default=["atari", "hopper"])
    parser.add_argument("--rollouts", type=int, default=2, help="timed rollouts per configuration and round")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; the median is reported")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if args.rollouts < 1 or args.repeats < 1:
        raise SystemExit(f"--rollouts {args.rollouts} and --repeats {args.repeats} must be >= 1")
    labels = (PEER, *VARIANTS)
    print(f"torch {th.__version__}, threads {th.get_num_threads()}, device {args.device}")
    print("fps: env steps per second of rollouts + updates, by wall clock and by this process's CPU time")
    print("(CPU time is what to compare on a shared machine; with 1 thread it is the compute cost)")
    for suite in args.suite:
        runs = {label: Timed(suite, label, args.device) for label in labels}
        for _ in range(args.repeats):
            for run in runs.values():
                run.run(args.rollouts)
        med = statistics.median
        peer = runs[PEER]
        print(f"\n{suite} ({SUITES[suite]['env_id']}), {args.rollouts} rollouts x {args.repeats} rounds")
        print(
            f"{'config':<14}{'fps wall':>10}{'fps cpu':>9}{'overhead cpu':>14}{'cpu s/update':>14}{'update overhead':>17}"
        )
        for label, run in runs.items():
            over = 100.0 * (med(peer.fps_cpu) / med(run.fps_cpu) - 1.0)
            upd_over = 100.0 * (med(run.update_cpu) / med(peer.update_cpu) - 1.0)
            print(
                f"{label:<14}{med(run.fps_wall):>10.1f}{med(run.fps_cpu):>9.1f}{over:>13.1f}%"
                f"{med(run.update_cpu):>14.2f}{upd_over:>16.1f}%"
            )
        for run in runs.values():
            run.env.close()


if __name__ == "__main__":
    main()
