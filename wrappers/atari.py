"""ALE games with the settings of Moalla et al. (2024) and the reward split into components.

The paper's collapse experiments use ALE v5 with native frameskip 3 (v5 does no max-pooling, and an odd
skip avoids the even/odd flicker), sticky actions 0.25, no no-op or fire reset, no episodic life, 84x84
grayscale frames stacked by 4, sign-clipped training rewards and raw returns for reporting. SB3's
``AtariWrapper`` differs on most of these, so the preset is composed here from Gymnasium's own wrappers.

The components make ray interference measurable on Atari: by default the reward is split by the life it was
earned in (early lives are practised far more than late ones, a natural imbalance between components),
alternatively by the value class of the raw reward (different kinds of targets).
"""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

from rayenvs.contract import COMPONENT, NO_COMPONENT, one_hot_reward
from wrappers.component_accounting import ComponentAccounting
from wrappers.reward_mask import RewardMask

FRAMESKIP = 3
STICKY_ACTION_PROB = 0.25
MAX_EPISODE_FRAMES = 108_000  # = 36,000 agent steps at frameskip 3
SCREEN_SIZE = 84
FRAME_STACK = 4

RAW_REWARD = "raw_reward"
RAW_RETURN = "raw_return"
RAW_COMPONENT_RETURNS = "raw_component_returns"

COMPONENT_MODES = ("life", "reward_value")

# Value classes of the raw reward (of one agent step, i.e. 3 frames summed): positive rewards fall into
# log-scale bins whose edges separate each game's scoring tiers; games with negative rewards get one extra
# class for them. Values seen in 30,000 uniform-random steps and what they are, per game:
REWARD_CLASS_EDGES: dict[str, tuple[float, ...]] = {
    # 20/80 (birds of waves 1-2) | 100-450 (large birds of waves 3-4) | >= 1000 (mothership)
    "Phoenix": (100.0, 1000.0),
    # 10-40 | 50-80 | >= 100: half-decade bins, the tiers grow with the game's speed
    "NameThisGame": (50.0, 100.0),
    # 100 (enemy ships) | 250 (bunkers, fuel) | >= 1000 (planet bonuses)
    "Gravitar": (200.0, 1000.0),
    # 1000 (tank) | 2000-3000 (fighter, super tank) | >= 5000 (saucer)
    "BattleZone": (2000.0, 5000.0),
    # -1 / +1 per point: the opponent scores (negative class) | the agent scores
    "DoubleDunk": (),
    # 25 (cube colour) | 100-500 (green ball, Slick/Sam, Coily) | >= 1000 (round bonus)
    "Qbert": (100.0, 1000.0),
}
NEGATIVE_REWARD_GAMES = frozenset({"DoubleDunk"})
GAMES = tuple(REWARD_CLASS_EDGES)
_ALE_IDS = {game: f"ALE/{game}-v5" for game in GAMES}


def reward_class_names(game: str) -> tuple[str, ...]:
    """Component names of the ``"reward_value"`` mode, e.g. ``("reward_lt100", "reward_100to1000", ...)``."""
    edges = REWARD_CLASS_EDGES[_check_game(game)]
    names = ["reward_neg"] if game in NEGATIVE_REWARD_GAMES else []
    if not edges:
        return (*names, "reward_pos")
    names.append(f"reward_lt{edges[0]:g}")
    names += [f"reward_{a:g}to{b:g}" for a, b in zip(edges, edges[1:], strict=False)]
    names.append(f"reward_ge{edges[-1]:g}")
    return tuple(names)


class LifeComponents:
    """Component rule: a reward belongs to the life it was earned in (life 0 = the first).

    Lives are counted by the decrements of ALE's ``info["lives"]``, so bonus lives do not rewind the index;
    rewards earned after losing ``num_lives - 1`` lives (possible with bonus lives) go to the last
    component. A step's reward belongs to the life that was playing when the step began.
    """

    def __init__(self, num_lives: int) -> None:
        if num_lives < 1:
            raise ValueError(f"num_lives={num_lives!r} must be >= 1")
        self.num_lives = int(num_lives)
        self._lives = 0
        self._lost = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f"life_{i}" for i in range(self.num_lives))

    def __eq__(self, other: object) -> bool:
        # Equal rules give equal wrapper specs, which ``check_env``'s re-make of the id compares.
        return isinstance(other, LifeComponents) and other.num_lives == self.num_lives

    __hash__ = None  # type: ignore[assignment]

    def reset(self, obs: Any, info: dict[str, Any]) -> None:
        self._lives = int(info["lives"])
        self._lost = 0

    def __call__(self, obs: Any, reward: float, info: dict[str, Any]) -> tuple[int, np.ndarray]:
        component = min(self._lost, self.num_lives - 1)
        lives = int(info["lives"])
        if lives < self._lives:
            self._lost += self._lives - lives
        self._lives = lives
        return component, one_hot_reward(self.num_lives, component, reward)


class RewardValueComponents:
    """Component rule: a reward belongs to the value class of the raw (unclipped) reward it came from.

    Steps without raw reward belong to no component (-1). The training reward (clipped, possibly masked)
    is put in that class, so the component rewards sum to it exactly.
    """

    def __init__(self, game: str) -> None:
        self.game = _check_game(game)
        self.edges = np.asarray(REWARD_CLASS_EDGES[self.game], dtype=np.float64)
        self.negative = self.game in NEGATIVE_REWARD_GAMES
        self.names = reward_class_names(self.game)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RewardValueComponents) and other.game == self.game

    __hash__ = None  # type: ignore[assignment]

    def __call__(self, obs: Any, reward: float, info: dict[str, Any]) -> tuple[int, np.ndarray]:
        raw = float(info[RAW_REWARD])
        if raw == 0.0:
            component = NO_COMPONENT
        elif raw < 0.0:
            if not self.negative:
                raise ValueError(
                    f"{self.game} emitted a negative raw reward {raw!r}; its classes are {self.names}"
                )
            component = 0
        else:
            component = int(self.negative) + int(np.searchsorted(self.edges, raw, side="right"))
        return component, one_hot_reward(len(self.names), component, reward)


class RecordRawReward(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Put the reward as it is here (before clipping) in ``info["raw_reward"]``, the episode's sum in
    ``info["raw_return"]`` (running; the episode total at its last step): the score papers report, whatever the agent trains on."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)
        self._raw_return = 0.0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self._raw_return = 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info[RAW_REWARD] = float(reward)
        self._raw_return += float(reward)
        info[RAW_RETURN] = self._raw_return  # running, like the contract's keys: the total on the last step
        return obs, reward, terminated, truncated, info


class RawComponentReturns(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Sum ``info["raw_reward"]`` per ``info["component"]`` and report it as ``info["raw_component_returns"]``
    on every step (running sums: the totals on the episode's last step, however it ends), so per-component scores can be read in game points too."""

    def __init__(self, env: gym.Env, num_components: int) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, num_components=num_components)
        gym.Wrapper.__init__(self, env)
        self.num_components = int(num_components)
        self._returns = np.zeros(self.num_components, dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        self._returns = np.zeros(self.num_components, dtype=np.float64)
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._returns += one_hot_reward(self.num_components, info[COMPONENT], info[RAW_REWARD])
        info[RAW_COMPONENT_RETURNS] = self._returns.copy()
        return obs, reward, terminated, truncated, info


def _check_game(game: str) -> str:
    if game not in REWARD_CLASS_EDGES:
        raise ValueError(f"game={game!r} is not supported; choose one of {GAMES}")
    return game


def make_atari_env(
    game: str,
    mask_prob: float = 0.0,
    components: str = "life",
    render_mode: str | None = None,
) -> gym.Env:
    """Build an ALE game with the preprocessing of Moalla et al. (2024) and the component contract.

    Description:
        ALE v5 ``game`` with native frameskip 3 (no max-pooling), sticky actions 0.25, the minimal action
        set, no no-op or fire reset, no episodic life (only game over terminates), at most 108,000 frames.
        ``Masked`` ids additionally zero each training reward with probability ``mask_prob`` (Fig. 35).
        Composition: ``ALE/{game}-v5`` -> ``AtariPreprocessing(frame_skip=1, noop_max=0)`` ->
        ``FrameStackObservation(4)`` -> :class:`RecordRawReward` -> ``TransformReward(np.sign)`` ->
        :class:`ComponentAccounting` -> :class:`RawComponentReturns` -> :class:`RewardMask` (if masked).
    Observation:
        ``Box(0, 255, (4, 84, 84), uint8)``: the last 4 grayscale frames, oldest first; the first
        observation of an episode is the reset frame repeated. With ``frame_skip=1``, Gymnasium's
        ``AtariPreprocessing`` returns the previous frame again on the terminal step.
    Actions:
        ``Discrete(n)`` over the game's minimal action set (Phoenix 8, NameThisGame 6, Gravitar 18,
        BattleZone 18, DoubleDunk 18, Qbert 6).
    Rewards and components:
        The training reward is ``sign(raw reward)``, then masked. ``info["raw_reward"]`` holds the raw
        reward, ``info["unmasked_reward"]`` (masked ids) the clipped one. Components (``components=``):
        ``"life"`` (default): K = the game's starting lives from ALE (Phoenix 5, NameThisGame 3, Gravitar 6,
        BattleZone 5, Qbert 4; DoubleDunk has no lives: K = 1); see :class:`LifeComponents`.
        ``"reward_value"``: the raw reward's value class (:data:`REWARD_CLASS_EDGES`).
        Component rewards sum exactly to the training reward.
    Episode end:
        Terminated at game over; truncated by ALE after 108,000 emulator frames (``spec.max_episode_steps``
        is None: the limit is ALE's). The last step's info adds ``raw_return`` (the game score),
        ``raw_component_returns`` and the contract's ``component_returns``/``component_present``.
    Registered ids:
        ``rayenvs/Atari-{Game}-v0`` and ``rayenvs/Atari-{Game}-Masked-v0`` (mask_prob 0.9) for Phoenix,
        NameThisGame, Gravitar, BattleZone, DoubleDunk, Qbert. ``gym.make_vec(id, N)`` builds their vector
        entry point, :func:`wrappers.atari_vector.make_atari_vector_env` (ale_py's C++ vector env).
    Version History:
        v0 (later): ``gym.make_vec(id, N)`` no longer builds ``SyncVectorEnv`` of this stack (NEXT_STEP
        autoreset) but the ALE vector env with SAME_STEP autoreset, the suite's convention for native vector
        envs. Spaces, rewards, components and info keys are those of this stack under
        ``SyncVectorEnv(autoreset_mode=SAME_STEP)``, and a sub-env seeded with ``s`` replays this env's
        ``reset(seed=s)`` episode exactly when ALE's seed of ``s`` is below 2**31 (about half of all seeds);
        otherwise, and after an episode whose game over fell mid-step, the sticky-action stream differs
        (same distribution). We kept the id: single envs are unchanged and no episode's distribution
        changed, only the vector interface's autoreset step and which sticky-action sample a seed draws.
        ``gym.make_vec(id, N, vectorization_mode="sync")`` still builds the old vector env exactly.
    Arguments:
        game: one of :data:`GAMES`.
        mask_prob: probability in [0, 1] of zeroing each training reward; 0 adds no mask wrapper.
        components: ``"life"`` or ``"reward_value"``.
        render_mode: passed to ALE (``"rgb_array"`` or ``"human"``).
    """
    _check_game(game)
    if components not in COMPONENT_MODES:
        raise ValueError(f"components={components!r} is not supported; choose one of {COMPONENT_MODES}")
    mask_prob = float(mask_prob)
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob={mask_prob!r} must be in [0, 1]")
    import ale_py

    gym.register_envs(ale_py)
    env = gym.make(
        _ALE_IDS[game],
        obs_type="grayscale",
        frameskip=FRAMESKIP,
        repeat_action_probability=STICKY_ACTION_PROB,
        full_action_space=False,
        max_num_frames_per_episode=MAX_EPISODE_FRAMES,
        render_mode=render_mode,
        disable_env_checker=True,  # the outer gym.make of the rayenvs id checks the whole stack
    )
    env = gym.wrappers.AtariPreprocessing(
        env,
        noop_max=0,
        frame_skip=1,
        screen_size=SCREEN_SIZE,
        terminal_on_life_loss=False,
        grayscale_obs=True,
        scale_obs=False,
    )
    env = gym.wrappers.FrameStackObservation(env, FRAME_STACK)
    env = RecordRawReward(env)
    env = gym.wrappers.TransformReward(env, np.sign)
    if components == "life":
        rule: LifeComponents | RewardValueComponents = LifeComponents(max(1, env.unwrapped.ale.lives()))
    else:
        rule = RewardValueComponents(game)
    env = ComponentAccounting(env, rule, component_names=rule.names)
    env = RawComponentReturns(env, len(rule.names))
    if mask_prob > 0.0:
        env = RewardMask(env, mask_prob=mask_prob)
    return env
