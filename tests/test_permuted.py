"""PermutedActions (a non-stationary target: the actions' meaning changes every period) and its step clock."""

from __future__ import annotations

import functools

import gymnasium as gym
import numpy as np
import pytest

from baselines.training.callbacks import StepClockCallback
from wrappers.permuted import PHASE, PermutedActions, PermutedObservations, phase_permutation


class _Counter(gym.Env):
    """Observation ``[0, 1, ..., n-1] + 10 t`` at step ``t`` (each entry identifiable, exact in float32)."""

    def __init__(self, n: int = 4) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1000.0, (n,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0

    def _obs(self) -> np.ndarray:
        return (np.arange(self.observation_space.shape[0]) + 10 * self.t).astype(np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._obs(), {}

    def step(self, action):
        self.t += 1
        return self._obs(), 0.0, False, False, {}


class _Recorder(gym.Env):
    """Records the actions it receives; one-step episodes, reward = the received action."""

    def __init__(self, n: int = 4, start: int = 0) -> None:
        self.action_space = gym.spaces.Discrete(n, start=start)
        self.observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
        self.received: list[int] = []

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.received.append(int(action))
        return np.zeros(1, np.float32), float(action), True, False, {}


def test_phase_permutations_exact_and_distinct():
    assert phase_permutation(4, 0, 0).tolist() == [0, 1, 2, 3]
    assert phase_permutation(4, 1, 0).tolist() == [3, 2, 1, 0]
    assert phase_permutation(4, 2, 0).tolist() == [3, 0, 1, 2]
    assert phase_permutation(4, 3, 0).tolist() == [1, 0, 2, 3]
    # two actions: the swap alternates with the identity
    assert [phase_permutation(2, p, 5).tolist() for p in range(4)] == [[0, 1], [1, 0], [0, 1], [1, 0]]
    for n in (2, 3, 5, 7):
        perms = [phase_permutation(n, p, 3) for p in range(12)]
        for prev, cur in zip(perms, perms[1:], strict=False):
            assert sorted(cur.tolist()) == list(range(n))
            assert not np.array_equal(prev, cur)
    assert not np.array_equal(phase_permutation(6, 1, 0), phase_permutation(6, 1, 1))  # the seed matters
    # far phases need no recursion, and a wrapper stepping phase by phase gets the same sequence
    assert sorted(phase_permutation(3, 5000, 0).tolist()) == [0, 1, 2]
    env = PermutedActions(_Recorder(5), period=1, seed=4)
    env.reset(seed=0)
    for _ in range(30):
        env.step(0)
    assert env.unwrapped.received == [int(phase_permutation(5, p, 4)[0]) for p in range(30)]


def test_wrapper_switches_every_period_across_episodes():
    env = PermutedActions(_Recorder(4), period=3, seed=0)
    env.reset(seed=123)
    phases, rewards = [], []
    for _ in range(9):
        _, r, *_, info = env.step(0)
        phases.append(info[PHASE])
        rewards.append(r)
        env.reset()
    assert phases == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    # action 0 reaches the env as perm_p[0]: identity, then [3,2,1,0], then [3,0,1,2]
    assert env.unwrapped.received == [0, 0, 0, 3, 3, 3, 3, 3, 3]
    assert rewards == [0.0, 0.0, 0.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert int(env.clock[0]) == 9 and env.phase == 3


def test_reset_seed_does_not_change_the_permutations():
    a = PermutedActions(_Recorder(5), period=1, seed=7)
    b = PermutedActions(_Recorder(5), period=1, seed=7)
    a.reset(seed=0)
    b.reset(seed=99)
    for _ in range(6):
        a.step(1)
        b.step(1)
    assert a.unwrapped.received == b.unwrapped.received
    assert a.unwrapped.received == [int(phase_permutation(5, p, 7)[1]) for p in range(6)]


def test_discrete_start_offset():
    env = PermutedActions(_Recorder(3, start=10), period=1, seed=0)
    env.reset(seed=0)
    for a in (10, 11, 12):
        env.step(a)
    assert env.unwrapped.received == [10 + int(phase_permutation(3, p, 0)[a - 10]) for p, a in enumerate((10, 11, 12))]
    with pytest.raises(ValueError, match="outside"):
        env.step(13)


def test_shared_clock_is_read_not_advanced():
    clock = np.zeros(1, dtype=np.int64)
    env = PermutedActions(_Recorder(4), period=2, seed=0, clock=clock)
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    assert int(clock[0]) == 0 and env.unwrapped.received == [0, 0]
    clock[0] = 4  # phase 2 for whoever shares the clock
    _, _, _, _, info = env.step(0)
    assert info[PHASE] == 2 and env.unwrapped.received[-1] == 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"period": 0}, "period=0 must be an integer >= 1"),
        ({"period": 2.5}, "period=2.5 must be an integer"),
        ({"period": 1, "seed": -1}, "seed=-1 must be an integer >= 0"),
        ({"period": 1, "clock": np.zeros(2, np.int64)}, "clock must be a one-element integer"),
        ({"period": 1, "clock": np.zeros(1)}, "clock must be a one-element integer"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PermutedActions(_Recorder(4), **kwargs)


def test_bad_action_spaces():
    with pytest.raises(ValueError, match="needs a Discrete action space"):
        PermutedActions(gym.make("Pendulum-v1"), period=1)
    with pytest.raises(ValueError, match="at least 2 actions"):
        PermutedActions(_Recorder(1), period=1)
    with pytest.raises(ValueError, match="phase=-1"):
        phase_permutation(3, -1, 0)
    with pytest.raises(ValueError, match="n=1 must be an integer >= 2"):
        phase_permutation(1, 0, 0)


def test_step_clock_callback_drives_train_and_eval_phases(tmp_path):
    """A short PPO run: the clock ends at the run's step count, and the eval env reads the same phase."""
    import rayenvs  # noqa: F401
    from baselines.training.loop import run_training
    from baselines.training.results import RunResult

    with pytest.raises(ValueError, match="clock must be"):
        StepClockCallback(np.zeros(3, np.int64))
    clock = np.zeros(1, dtype=np.int64)
    seen: list[int] = []

    def wrap(env: gym.Env) -> gym.Env:
        w = PermutedActions(env, period=128, seed=0, clock=clock)
        seen.append(id(w))
        return w

    rdir = run_training(
        "rayenvs/Bandit-K2n2-v0",
        seed=0,
        timesteps=512,
        run_dir=tmp_path / "run",
        overrides={"n_envs": 4, "n_steps": 32},
        extra_callbacks=[StepClockCallback(clock)],
        env_wrappers=(wrap,),
        progress=False,
        eval_episodes=2,
    )
    assert int(clock[0]) == 512
    assert len(seen) == 4 + 2  # every training and evaluation copy is wrapped
    assert RunResult.load(rdir).total_timesteps == 512
    assert RunResult.load(rdir).config["env_wrappers"] == [f"{__name__}.{wrap.__qualname__}()"]
    # the wrappers are part of the run: reusing it under other ones (or none) is refused, naming the change
    kwargs = dict(seed=0, timesteps=512, run_dir=tmp_path / "run", overrides={"n_envs": 4, "n_steps": 32},
                  progress=False, eval_episodes=2, resume=True)  # fmt: skip
    other = functools.partial(PermutedActions, period=64, seed=0, clock=clock)
    for wrappers in ((other,), ()):
        with pytest.raises(ValueError, match="env_wrappers"):
            run_training("rayenvs/Bandit-K2n2-v0", env_wrappers=wrappers, **kwargs)
    assert run_training("rayenvs/Bandit-K2n2-v0", env_wrappers=(wrap,), **kwargs) == rdir  # the same: reused


def test_wrapper_signature_names_the_factory_and_its_settings():
    from baselines.training.loop import wrapper_signature

    clock = np.zeros(1, dtype=np.int64)
    assert wrapper_signature(functools.partial(PermutedActions, period=64, seed=3, clock=clock)) == (
        "wrappers.permuted.PermutedActions(period=64, seed=3)"
    )
    assert wrapper_signature(PermutedActions) == "wrappers.permuted.PermutedActions()"


def test_permuted_observations_follow_the_next_steps_phase():
    env = PermutedObservations(_Counter(4), period=2, seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.tolist() == [0.0, 1.0, 2.0, 3.0]
    seen = []
    for _ in range(5):
        obs, _, _, _, info = env.step(0)
        seen.append((info[PHASE], obs.tolist()))
    # step t's info says the phase it was taken in; its observation is already in the next step's phase
    assert [p for p, _ in seen] == [0, 0, 1, 1, 2]
    assert seen[0][1] == [10.0, 11.0, 12.0, 13.0]
    assert seen[1][1] == [23.0, 22.0, 21.0, 20.0]  # phase 1: [3, 2, 1, 0]
    assert seen[3][1] == [43.0, 40.0, 41.0, 42.0]  # phase 2: [3, 0, 1, 2]
    assert env.observation_space.contains(np.asarray(seen[4][1], dtype=np.float32))


def test_permuted_observations_check_the_space():
    with pytest.raises(ValueError, match="1-D Box observation space"):
        PermutedObservations(_Recorder(4), period=1)  # Box of size 1
    with pytest.raises(ValueError, match="1-D Box observation space"):
        PermutedObservations(gym.make("Blackjack-v1"), period=1)  # a Tuple space

    class _Uneven(_Counter):
        def __init__(self) -> None:
            super().__init__(3)
            self.observation_space = gym.spaces.Box(np.zeros(3, np.float32), np.array([1.0, 2.0, 3.0], np.float32))

    with pytest.raises(ValueError, match="equal bounds"):
        PermutedObservations(_Uneven(), period=1)
    with pytest.raises(ValueError, match="period=0"):
        PermutedObservations(_Counter(3), period=0)
