"""Steps/s of the native bandit vector env against its peers, all measured in one run (issue 15).

Peers, each stepping N one-step bandit episodes per call with the same actions:

- ``numpy_bound``: a plain numpy loop doing only the step's core (one uniform per env from one shared
  generator, inverse-CDF context by ``searchsorted``, reward compare, one-hot obs by ``take``); no infos,
  no per-env streams. The issue's target: the native env at >= 0.5 of it at N=65536, K=2 and K=8.
- ``jax_min``: the same core as one ``jax.jit(jax.vmap(step))`` call with one PRNG key per env (so per-env
  streams, like the native env), float32 rewards; ``block_until_ready`` inside the timed loop.
- ``jax_full``: the same plus every array the native env returns (final obs, component rewards and
  returns, component mask, contexts), so its work matches the native env's.
- ``envpool``: envpool has no bandit; ``NChain-v0`` (a tabular C++ env, the cheapest step it ships) at the
  same N and one thread gives envpool's own per-step cost for a trivial env.

A peer that does not import is reported as missing, never skipped silently. Rounds alternate the peers and
each peer's best round is kept (the machine is shared; ``/proc/loadavg`` before and after is printed).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import rayenvs  # noqa: F401  (registers the ids)


def _rate(step: Callable[[int], object], steps: int, num_envs: int) -> float:
    start = time.perf_counter()
    for t in range(steps):
        step(t)
    return steps * num_envs / (time.perf_counter() - start)


def _native(num_envs: int, k: int, actions: np.ndarray) -> Callable[[int], object]:
    env = gym.make_vec(f"rayenvs/Bandit-K{k}n{k}-v0", num_envs=num_envs)
    env.reset(seed=0)
    env.step(actions[0])
    return lambda t: env.step(actions[t])


def _numpy_bound(num_envs: int, k: int, actions: np.ndarray) -> Callable[[int], object]:
    rng = np.random.default_rng(0)
    cdf = np.cumsum(np.full(k, 1.0 / k))
    cdf[-1] = 1.0
    eye = np.eye(k, dtype=np.float32)
    state = {"ctx": np.searchsorted(cdf, rng.random(num_envs), side="right")}

    def step(t: int) -> tuple[np.ndarray, np.ndarray]:
        rewards = (actions[t] == state["ctx"]).astype(np.float64)
        state["ctx"] = np.searchsorted(cdf, rng.random(num_envs), side="right")
        return eye.take(state["ctx"], axis=0), rewards

    return step


def _jax(num_envs: int, k: int, actions: np.ndarray, full: bool) -> Callable[[int], object]:
    import jax
    import jax.numpy as jnp

    cdf = jnp.asarray(np.cumsum(np.full(k, 1.0 / k)).astype(np.float32)).at[-1].set(1.0)

    def one(key: jax.Array, ctx: jax.Array, action: jax.Array) -> tuple:
        key, sub = jax.random.split(key)
        new = jnp.searchsorted(cdf, jax.random.uniform(sub), side="right")
        hit = action == ctx
        reward = hit.astype(jnp.float32)
        obs = jax.nn.one_hot(new, k, dtype=jnp.float32)
        if not full:
            return key, new, obs, reward
        final_obs = jax.nn.one_hot(ctx, k, dtype=jnp.float32)
        comp = final_obs * reward
        return key, new, obs, reward, final_obs, comp, comp + 0.0, final_obs > 0

    step = jax.jit(jax.vmap(one))
    acts = jnp.asarray(actions.astype(np.int32))
    state = {"keys": jax.random.split(jax.random.key(0), num_envs), "ctx": jnp.zeros(num_envs, jnp.int32)}

    def run(t: int) -> object:
        out = step(state["keys"], state["ctx"], acts[t])
        state["keys"], state["ctx"] = out[0], out[1]
        return jax.block_until_ready(out)

    run(0)  # compile
    return run


def _envpool(num_envs: int, actions: np.ndarray) -> Callable[[int], object]:
    import envpool

    env = envpool.make("NChain-v0", env_type="gymnasium", num_envs=num_envs, num_threads=1, seed=0)
    env.reset()
    acts = (actions % 2).astype(np.int32)
    env.step(acts[0])
    return lambda t: env.step(acts[t])


def bench_peers(num_envs: int, k: int, steps: int, rounds: int) -> dict:
    """Best-of-``rounds`` steps/s of every available peer, and each one's ratio to the native env."""
    actions = np.random.default_rng(1).integers(0, k, size=(steps, num_envs))
    makers: dict[str, Callable[[], Callable[[int], object]]] = {
        "native": lambda: _native(num_envs, k, actions),
        "numpy_bound": lambda: _numpy_bound(num_envs, k, actions),
        "jax_min": lambda: _jax(num_envs, k, actions, full=False),
        "jax_full": lambda: _jax(num_envs, k, actions, full=True),
        "envpool_nchain": lambda: _envpool(num_envs, actions),
    }
    steppers, missing = {}, {}
    for name, make in makers.items():
        try:
            steppers[name] = make()
        except ImportError as err:
            missing[name] = f"does not import: {err}"
    best = dict.fromkeys(steppers, 0.0)
    for _ in range(rounds):
        for name, step in steppers.items():
            # envpool is ~100x slower here: fewer steps give its rate without dominating the run.
            n_steps = max(2, steps // 20) if name.startswith("envpool") else steps
            best[name] = max(best[name], _rate(step, n_steps, num_envs))
    native = best["native"]
    return {
        "num_envs": num_envs,
        "num_contexts": k,
        "steps_per_s": best,
        "native_over_peer": {name: native / rate for name, rate in best.items() if name != "native"},
        "missing": missing,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1024, 65536])
    parser.add_argument("--contexts", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("loadavg before:", open("/proc/loadavg").read().strip())
    for n in args.num_envs:
        for k in args.contexts:
            steps = args.steps if n > 4096 else args.steps * 10
            print(json.dumps(bench_peers(n, k, steps, args.rounds)), flush=True)
    print("loadavg after:", open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
