"""The Atari presets as one batched env: ale_py's C++ ``AtariVectorEnv`` plus vector-level numpy wrappers.

``gym.make_vec("rayenvs/Atari-{Game}-v0", N)`` used to step N Python wrapper stacks (cv2 resizing, frame
stacking, clipping, components) one after another in ``SyncVectorEnv``. Here ale_py steps the N emulators in
C++ threads with the same preprocessing (frameskip 3, sticky actions 0.25, minimal actions, 84x84 grey via
``cv::INTER_AREA``, stack 4, no max-pooling, no no-op or fire reset, no episodic life, 108,000 frames), and
the reward bookkeeping of :func:`wrappers.atari.make_atari_env` runs once per batch as numpy array operations:
:class:`VectorRawReward` -> sign clipping -> :class:`VectorComponents` -> :class:`VectorRawComponentReturns`
-> :class:`VectorRewardMask`. The info layout is the one ``SyncVectorEnv(autoreset_mode=SAME_STEP)`` gives for
the single-env stack, so consumers of either read the same keys.

What matches the single-env path exactly, and what cannot (ALE's vector interface decides):

* Seeds. ``AtariEnv.reset(seed=s)`` seeds ALE with the second word of ``SeedSequence(s)``, cast to int32;
  ale_py's vector env only accepts non-negative seeds. :func:`ale_seed` passes that word unchanged when it
  is below 2**31 (about half of all seeds, e.g. 1 and 4; not 0, 2, 3), so the sub-env's episode is the
  single env's, frame for frame and reward for reward; otherwise it clears the top bit, a different but
  equally deterministic sticky-action stream.
* Later episodes. The single env emulates all 3 frames of the step in which the game ends (ALE ignores the
  frames after game over but still draws their sticky-action numbers); the C++ env stops at the game-over
  frame. An unseeded autoreset continues the random stream, so episodes after one that ended mid-step
  diverge in their sticky actions; their distribution is the same.
* First observations. ALE zero-fills the frame stack at reset, Gymnasium's ``FrameStackObservation``
  repeats the reset frame; :class:`AtariPresetVectorEnv` writes the reset frame into the zero slots of the
  first 3 steps, so observations are identical, the terminal step's (a repeat of the previous frame in both)
  included.
* Infos. Every key of the single stack is there except ``"seeds"`` (ALE's vector env has no NumPy seed).
"""

from __future__ import annotations

import numbers
import re
from typing import Any

import gymnasium.wrappers.vector
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper

from rayenvs.contract import COMPONENT, COMPONENT_PRESENT, COMPONENT_RETURNS, COMPONENT_REWARDS, NO_COMPONENT
from wrappers.atari import (
    COMPONENT_MODES,
    FRAME_STACK,
    FRAMESKIP,
    MAX_EPISODE_FRAMES,
    NEGATIVE_REWARD_GAMES,
    RAW_COMPONENT_RETURNS,
    RAW_RETURN,
    RAW_REWARD,
    REWARD_CLASS_EDGES,
    SCREEN_SIZE,
    STICKY_ACTION_PROB,
    _check_game,
    reward_class_names,
)
from wrappers.reward_mask import _MASK_STREAM, UNMASKED_COMPONENT_RETURNS, UNMASKED_REWARD

ALE_INFO_KEYS = ("lives", "episode_frame_number", "frame_number")
_MASK_BLOCK = 256  # uniforms drawn per generator call; the stream equals one ``random()`` call per step


def ale_seed(seed: int) -> int:
    """The non-negative ALE seed of ``reset(seed=seed)``: the single env's when it fits, else its low 31 bits."""
    return int(np.random.SeedSequence(int(seed)).generate_state(2)[1]) & 0x7FFFFFFF


def _rom_id(game: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", game).lower()  # "NameThisGame" -> "name_this_game"


_ALL_TRUE: dict[int, np.ndarray] = {}


def _all_true(n: int) -> np.ndarray:
    """A shared read-only all-True mask (the ``_key`` of a key every sub-env has; one array, not one per key)."""
    mask = _ALL_TRUE.get(n)
    if mask is None:
        mask = _ALL_TRUE[n] = np.ones(n, dtype=bool)
        mask.flags.writeable = False
    return mask


def ended(terminated: np.ndarray, truncated: np.ndarray) -> np.ndarray | None:
    """The mask of sub-envs whose episode ended at this step, or ``None`` if none did (the common case)."""
    done = terminated | truncated
    return done if done.any() else None


def step_values(infos: dict[str, Any], key: str, done: np.ndarray | None) -> np.ndarray:
    """One step's per-env values of ``key``: ending sub-envs' from ``final_info``, the others' from the top."""
    if done is None:
        return infos[key]
    if key not in infos:  # every sub-env ended
        return infos["final_info"][key]
    top = infos[key]
    return np.where(done.reshape((-1,) + (1,) * (top.ndim - 1)), infos["final_info"][key], top)


def put_step_values(infos: dict[str, Any], key: str, values: np.ndarray, done: np.ndarray | None) -> None:
    """Store one step's per-env values where SAME_STEP autoreset puts step infos: the top level for sub-envs
    that go on, ``final_info`` for those that ended (``done``, see :func:`ended`; masks ``_key``;
    masked-out rows are zero)."""
    if done is None:
        infos[key] = values
        infos[f"_{key}"] = _all_true(len(values))
        return
    live = ~done
    shape = (-1,) + (1,) * (values.ndim - 1)
    if live.any():
        infos[key] = np.where(live.reshape(shape), values, 0).astype(values.dtype)
        infos[f"_{key}"] = live
    final = infos.setdefault("final_info", {})
    final[key] = np.where(done.reshape(shape), values, 0).astype(values.dtype)
    final[f"_{key}"] = done.copy()
    infos["_final_info"] = done.copy()


def _reset_rows(num_envs: int, options: dict[str, Any] | None) -> np.ndarray:
    """The bool mask of sub-envs a ``reset`` call resets (``options["reset_mask"]``, default all)."""
    if options is None or "reset_mask" not in options:
        return np.ones(num_envs, dtype=bool)
    mask = np.asarray(options["reset_mask"])
    if mask.dtype != np.bool_ or mask.shape != (num_envs,) or not mask.any():
        raise ValueError(
            f"options['reset_mask'] must be a bool array of shape ({num_envs},) with a True entry, got {mask!r}"
        )
    return mask


def _seed_list(num_envs: int, seed: int | list[int | None] | None) -> list[int | None]:
    """Per-sub-env seeds as ``SyncVectorEnv`` assigns them: an int gives sub-env i ``seed + i``."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise ValueError(f"seed={seed!r} must be a non-negative int")
        return [int(seed) + i for i in range(num_envs)]
    seeds = [None if s is None else int(s) for s in seed]
    if len(seeds) != num_envs or any(s is not None and s < 0 for s in seeds):
        raise ValueError(f"seed list {seed!r} must have num_envs={num_envs} entries, each None or an int >= 0")
    return seeds


class AtariPresetVectorEnv(VectorEnv):
    """``num_envs`` ALE games with the settings of Moalla et al. (2024) in ale_py's threaded C++ vector env.

    Raw (unclipped) float64 rewards; SAME_STEP autoreset: the step that ends sub-env i returns its next
    episode's first observation, the last one in ``infos["final_obs"][i]`` and the step's info in
    ``infos["final_info"]`` (masks ``_final_obs``/``_final_info``). Infos: ``lives``, ``episode_frame_number``,
    ``frame_number`` (int64). ALE runs in NEXT_STEP mode underneath and ending sub-envs are reset at once, so
    ``final_info`` keeps the terminal step's lives and frame numbers (ALE's own SAME_STEP mode reports the
    reset's). ``max_episode_steps`` truncates like Gymnasium's ``TimeLimit`` (also on a terminating step).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self, num_envs: int, game: str, max_episode_steps: int | None = None, num_threads: int = 0
    ) -> None:
        from ale_py.vector_env import AtariVectorEnv

        if isinstance(num_envs, bool) or not isinstance(num_envs, numbers.Integral) or num_envs < 1:
            raise ValueError(f"num_envs={num_envs!r} must be an int >= 1")
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, numbers.Integral)
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps={max_episode_steps!r} must be None or an int >= 1")
        if isinstance(num_threads, bool) or not isinstance(num_threads, numbers.Integral) or num_threads < 0:
            raise ValueError(f"num_threads={num_threads!r} must be an int >= 0 (0: one per CPU, at most num_envs)")
        self.game = _check_game(game)
        self.num_envs = int(num_envs)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.ale = AtariVectorEnv(
            _rom_id(game),
            self.num_envs,
            num_threads=int(num_threads),
            max_num_frames_per_episode=MAX_EPISODE_FRAMES,
            repeat_action_probability=STICKY_ACTION_PROB,
            full_action_space=False,
            autoreset_mode=AutoresetMode.NEXT_STEP,
            img_height=SCREEN_SIZE,
            img_width=SCREEN_SIZE,
            grayscale=True,
            stack_num=FRAME_STACK,
            frameskip=FRAMESKIP,
            maxpool=False,
            noop_max=0,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=False,
        )
        self.single_observation_space = self.ale.single_observation_space
        self.single_action_space = self.ale.single_action_space
        self.observation_space = self.ale.observation_space
        self.action_space = self.ale.action_space
        self.num_actions = int(self.single_action_space.n)
        self._age = np.zeros(self.num_envs, dtype=np.int64)  # steps since each sub-env's reset
        self._first = np.zeros((self.num_envs, SCREEN_SIZE, SCREEN_SIZE), dtype=np.uint8)
        _, info = self.ale.reset()  # unseeded: only to read the starting lives
        self.start_lives = int(info["lives"][0])
        self._needs_reset = True

    def _pad(self, obs: np.ndarray) -> None:
        """Write the reset frame into the slots ALE zero-filled (the first 3 steps of an episode)."""
        for i in np.flatnonzero(self._age < FRAME_STACK - 1):
            obs[i, : FRAME_STACK - 1 - self._age[i]] = self._first[i]

    def _ale_reset(self, mask: np.ndarray, seeds: list[int | None]) -> tuple[np.ndarray, dict[str, Any]]:
        rows = np.flatnonzero(mask)
        ale_seeds = np.array([-1 if seeds[i] is None else ale_seed(seeds[i]) for i in rows], dtype=np.int64)
        options = None if mask.all() else {"reset_mask": mask}
        obs, info = self.ale.reset(seed=ale_seeds, options=options)
        self._age[rows] = 0
        self._first[rows] = obs[rows, -1]
        self._pad(obs)
        return obs, info

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all sub-envs (or ``options["reset_mask"]``'s); an int seed gives sub-env i ``seed + i``."""
        mask = _reset_rows(self.num_envs, options)
        obs, info = self._ale_reset(mask, _seed_list(self.num_envs, seed))
        self._needs_reset = False
        infos: dict[str, Any] = {}
        for key in ALE_INFO_KEYS:
            infos[key] = np.where(mask, info[key], 0).astype(np.int64)
            infos[f"_{key}"] = mask.copy()
        return obs, infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step every sub-env; those that end are reset in the same step (SAME_STEP autoreset)."""
        if self._needs_reset:
            raise RuntimeError("AtariPresetVectorEnv.step() called before reset()")
        acts = np.asarray(actions)
        if acts.shape != (self.num_envs,) or not np.issubdtype(acts.dtype, np.integer):
            raise ValueError(f"actions must be an int array of shape ({self.num_envs},), got {actions!r}")
        if acts.min() < 0 or acts.max() >= self.num_actions:
            raise ValueError(f"actions must lie in [0, {self.num_actions - 1}], got {actions!r}")
        obs, raw, terminated, truncated, info = self.ale.step(acts.astype(np.int64, copy=False))
        self._age += 1
        self._pad(obs)
        rewards = raw.astype(np.float64)
        if self.max_episode_steps is not None:
            truncated = truncated | (self._age >= self.max_episode_steps)
        done = terminated | truncated
        values = {key: info[key].astype(np.int64) for key in ALE_INFO_KEYS}
        infos: dict[str, Any] = {}
        if done.any():
            rows = np.flatnonzero(done)
            final_obs = np.full(self.num_envs, None, dtype=object)
            for i in rows:
                final_obs[i] = obs[i].copy()
            infos["final_obs"], infos["_final_obs"] = final_obs, done.copy()
            infos["final_info"] = {}
            for key in ALE_INFO_KEYS:
                put_step_values(infos, key, values[key], done)  # fills final_info; the top is rewritten below
            reset_obs, reset_info = self._ale_reset(done, [None] * self.num_envs)
            obs[rows] = reset_obs[rows]
            for key in ALE_INFO_KEYS:
                values[key][rows] = reset_info[key][rows]
        for key in ALE_INFO_KEYS:  # the reset info of ending sub-envs, as SyncVectorEnv gives it
            infos[key], infos[f"_{key}"] = values[key], _all_true(self.num_envs)
        return obs, rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        self.ale = None


def _one_hot_table(k: int) -> np.ndarray:
    """Rows 0..k-1: one-hot; row k (= index -1, :data:`NO_COMPONENT`): zeros. ``table[c] * r[:, None]`` puts
    each sub-env's reward in its component in one gather."""
    return np.vstack([np.eye(k), np.zeros((1, k))])


class _PresetWrapper(VectorWrapper):
    """A vector wrapper that keeps per-sub-env episode state; ``component_names`` reads through."""

    @property
    def component_names(self) -> tuple[str, ...]:
        return self.unwrapped.component_names

    @property
    def start_lives(self) -> int:
        return self.unwrapped.start_lives

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, infos = self.env.reset(seed=seed, options=options)
        self._on_reset(_reset_rows(self.num_envs, options), seed, infos)
        return obs, infos

    def _on_reset(self, mask: np.ndarray, seed: Any, infos: dict[str, Any]) -> None:
        """Clear this wrapper's per-episode state in the reset rows ``mask``; a stateless wrapper keeps none."""


class VectorRawReward(_PresetWrapper):
    """Vector :class:`wrappers.atari.RecordRawReward`: ``raw_reward`` and the running ``raw_return``."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self._returns = np.zeros(self.num_envs, dtype=np.float64)

    def _on_reset(self, mask: np.ndarray, seed: Any, infos: dict[str, Any]) -> None:
        self._returns[mask] = 0.0

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = ended(terminated, truncated)
        self._returns += rewards
        put_step_values(infos, RAW_REWARD, rewards, done)
        put_step_values(infos, RAW_RETURN, self._returns.copy(), done)
        if done is not None:
            self._returns[done] = 0.0
        return obs, rewards, terminated, truncated, infos


class VectorComponents(_PresetWrapper):
    """Vector :class:`wrappers.atari.LifeComponents` / :class:`~wrappers.atari.RewardValueComponents` with the
    contract's bookkeeping (:class:`wrappers.component_accounting.ComponentAccounting`): every step carries
    ``component_rewards`` (summing to the reward), ``component``, and the running ``component_returns`` /
    ``component_present`` (all components present)."""

    def __init__(self, env: VectorEnv, game: str, components: str = "life") -> None:
        super().__init__(env)
        if components not in COMPONENT_MODES:
            raise ValueError(f"components={components!r} is not supported; choose one of {COMPONENT_MODES}")
        self.mode = components
        n = self.num_envs
        if components == "life":
            names = tuple(f"life_{i}" for i in range(max(1, self.start_lives)))
        else:
            names = reward_class_names(game)
            self._edges = np.asarray(REWARD_CLASS_EDGES[game], dtype=np.float64)
            self._negative = game in NEGATIVE_REWARD_GAMES
            self._game = game
        self.unwrapped.component_names = names
        k = len(names)
        self._onehot = _one_hot_table(k)
        self._lives = np.zeros(n, dtype=np.int64)
        self._lost = np.zeros(n, dtype=np.int64)
        self._returns = np.zeros((n, k), dtype=np.float64)
        self._present = np.ones((n, k), dtype=bool)

    def _on_reset(self, mask: np.ndarray, seed: Any, infos: dict[str, Any]) -> None:
        self._lives[mask] = infos["lives"][mask]
        self._lost[mask] = 0
        self._returns[mask] = 0.0

    def _component(self, infos: dict[str, Any], done: np.ndarray | None) -> np.ndarray:
        if self.mode == "life":  # the life playing when the step began; then count this step's losses
            component = np.minimum(self._lost, self._returns.shape[1] - 1)
            lives = step_values(infos, "lives", done)
            self._lost += np.maximum(self._lives - lives, 0)
            self._lives = lives.copy()
            return component
        raw = step_values(infos, RAW_REWARD, done)
        if not self._negative and (raw < 0).any():
            raise ValueError(
                f"{self._game} emitted a negative raw reward {raw[raw < 0][0]!r}; its classes are "
                f"{self.component_names}"
            )
        component = int(self._negative) + np.searchsorted(self._edges, raw, side="right")
        component[raw < 0] = 0
        component[raw == 0] = NO_COMPONENT
        return component.astype(np.int64)

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = ended(terminated, truncated)
        component = self._component(infos, done)
        terms = self._onehot[component] * rewards[:, None]
        self._returns += terms
        put_step_values(infos, COMPONENT_REWARDS, terms, done)
        put_step_values(infos, COMPONENT, component, done)
        put_step_values(infos, COMPONENT_RETURNS, self._returns.copy(), done)
        put_step_values(infos, COMPONENT_PRESENT, self._present.copy(), done)
        if done is not None:
            self._returns[done] = 0.0
            self._lost[done] = 0
            self._lives[done] = infos["lives"][done]  # the next episode's starting lives
        return obs, rewards, terminated, truncated, infos


class VectorRawComponentReturns(_PresetWrapper):
    """Vector :class:`wrappers.atari.RawComponentReturns`: running ``raw_component_returns`` per component."""

    def __init__(self, env: VectorEnv) -> None:
        super().__init__(env)
        self._onehot = _one_hot_table(len(self.component_names))
        self._returns = np.zeros((self.num_envs, len(self.component_names)), dtype=np.float64)

    def _on_reset(self, mask: np.ndarray, seed: Any, infos: dict[str, Any]) -> None:
        self._returns[mask] = 0.0

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = ended(terminated, truncated)
        component = step_values(infos, COMPONENT, done)
        self._returns += self._onehot[component] * step_values(infos, RAW_REWARD, done)[:, None]
        put_step_values(infos, RAW_COMPONENT_RETURNS, self._returns.copy(), done)
        if done is not None:
            self._returns[done] = 0.0
        return obs, rewards, terminated, truncated, infos


class VectorRewardMask(_PresetWrapper):
    """Vector :class:`wrappers.reward_mask.RewardMask`: sub-env i zeroes each reward with probability
    ``mask_prob``, drawing from its own generator seeded as the single wrapper seeds it (``reset(seed=s)`` ->
    ``default_rng([s + i, stream])``), one uniform per step, continued across unseeded resets, so the mask
    sequences equal ``SyncVectorEnv``'s. Draws are taken in blocks (the same numbers, fewer calls)."""

    def __init__(self, env: VectorEnv, mask_prob: float = 0.9) -> None:
        super().__init__(env)
        mask_prob = float(mask_prob)
        if not 0.0 <= mask_prob <= 1.0:
            raise ValueError(f"mask_prob={mask_prob!r} must be in [0, 1]")
        self.mask_prob = mask_prob
        n = self.num_envs
        self._rngs = [np.random.default_rng() for _ in range(n)]
        self._draws = np.stack([g.random(_MASK_BLOCK) for g in self._rngs])
        self._pos = np.zeros(n, dtype=np.int64)
        self._rows = np.arange(n)
        self._masked = np.zeros((n, len(self.component_names)), dtype=np.float64)

    def _on_reset(self, mask: np.ndarray, seed: Any, infos: dict[str, Any]) -> None:
        for i, s in enumerate(_seed_list(self.num_envs, seed)):
            if mask[i] and s is not None:
                self._rngs[i] = np.random.default_rng([s, _MASK_STREAM])
                self._draws[i] = self._rngs[i].random(_MASK_BLOCK)
                self._pos[i] = 0
        self._masked[mask] = 0.0

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, rewards, terminated, truncated, infos = self.env.step(actions)
        done = ended(terminated, truncated)
        for i in np.flatnonzero(self._pos >= _MASK_BLOCK):
            self._draws[i] = self._rngs[i].random(_MASK_BLOCK)
            self._pos[i] = 0
        keep = self._draws[self._rows, self._pos] >= self.mask_prob
        self._pos += 1
        put_step_values(infos, UNMASKED_REWARD, rewards, done)
        comp = step_values(infos, COMPONENT_REWARDS, done) * keep[:, None]
        self._masked += comp
        put_step_values(infos, UNMASKED_COMPONENT_RETURNS, step_values(infos, COMPONENT_RETURNS, done), done)
        put_step_values(infos, COMPONENT_REWARDS, comp, done)
        put_step_values(infos, COMPONENT_RETURNS, self._masked.copy(), done)
        if done is not None:
            self._masked[done] = 0.0
        return obs, np.where(keep, rewards, 0.0), terminated, truncated, infos


def make_atari_vector_env(
    num_envs: int,
    game: str,
    mask_prob: float = 0.0,
    components: str = "life",
    render_mode: str | None = None,
    max_episode_steps: int | None = None,
    num_threads: int = 0,
    autoreset_mode: AutoresetMode | str = AutoresetMode.SAME_STEP,
) -> VectorEnv:
    """The vector entry point of ``rayenvs/Atari-*`` ids: :func:`wrappers.atari.make_atari_env` for N envs.

    Same spaces, rewards, components and info keys as the single-env preset under
    ``SyncVectorEnv(autoreset_mode=SAME_STEP)``; see the module docstring for which episodes coincide.
    ``num_threads``: ALE worker threads (0: one per CPU, at most ``num_envs``). Rendering and NEXT_STEP
    autoreset are not offered here; ``gym.make_vec(id, N, vectorization_mode="sync")`` still builds the
    ``SyncVectorEnv`` of single envs (NEXT_STEP by default), the ``gym.make_vec`` default before this
    entry point existed.
    """
    _check_game(game)
    if components not in COMPONENT_MODES:
        raise ValueError(f"components={components!r} is not supported; choose one of {COMPONENT_MODES}")
    mask_prob = float(mask_prob)
    if not 0.0 <= mask_prob <= 1.0:
        raise ValueError(f"mask_prob={mask_prob!r} must be in [0, 1]")
    if render_mode is not None:
        raise ValueError(
            f"render_mode={render_mode!r} is not supported by the ALE vector env (allowed: None); use "
            "gym.make_vec(id, num_envs, vectorization_mode='sync', render_mode=...)"
        )
    if AutoresetMode(autoreset_mode) != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"autoreset_mode={autoreset_mode!r} is not supported (allowed: SAME_STEP); for NEXT_STEP use "
            "gym.make_vec(id, num_envs, vectorization_mode='sync')"
        )
    env: VectorEnv = AtariPresetVectorEnv(num_envs, game, max_episode_steps, num_threads)
    env = VectorRawReward(env)
    env = gymnasium.wrappers.vector.TransformReward(env, np.sign)
    env = VectorComponents(env, game, components)
    env = VectorRawComponentReturns(env)
    if mask_prob > 0.0:
        env = VectorRewardMask(env, mask_prob)
    return env
