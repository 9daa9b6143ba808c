"""MultiRoom: R rooms in a row, one reward per room, one network for all rooms.

The rooms are the components of the objective. Every room looks the same to the agent (an egocentric
window plus a few flags), so a single policy network must serve all of them: learning to collect one
room's reward moves the parameters that the other rooms use, which is where ray interference shows up.

One batched numpy core (:class:`_Batch`) runs both :class:`MultiRoomEnv` (a batch of one) and
:class:`MultiRoomVectorEnv` (a batch of N), so the vector env's per-env streams equal the single env's
by construction: every random draw happens at reset, in the fixed pattern of :func:`_draw_episode`, from
a per-env generator seeded exactly like ``Env.np_random``.
"""

from __future__ import annotations

import numbers
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from rayenvs.contract import COMPONENT, COMPONENT_PRESENT, COMPONENT_RETURNS, COMPONENT_REWARDS
from rayenvs.envs import multiroom_kernels
from rayenvs.envs.pcg64 import pack_states, random_doubles
from rayenvs.validation import is_int

START_MODES = ("random", "first")
MIN_ROOM_SIZE = 2
DEFAULT_ROOM_SIZE = 5
DEFAULT_NUM_ROOMS = 2

# Actions move by (dx, dy) = up (0, -1), down (0, 1), left (-1, 0), right (1, 0); y grows downwards (row index).
ACTION_NAMES = ("up", "down", "left", "right")


def default_max_episode_steps(num_rooms: int, room_size: int, start: str) -> int:
    """``4 * room_size`` steps per leg; a leg is one walk of at most ``2 * (room_size - 1)`` steps.

    "random" needs one leg (start -> reward); "first" needs ``2 * num_rooms - 1`` (reward -> doorway ->
    next reward for every further room), so an optimal agent always has at least twice the steps it needs
    while a uniform-random one mostly runs out.
    """
    legs = 1 if start == "random" else 2 * num_rooms - 1
    return 4 * room_size * legs


def _check_int(name: str, value: Any, minimum: int) -> int:
    if not is_int(value):
        raise ValueError(f"{name}={value!r} must be an int >= {minimum} (got type {type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}={value!r} is out of range: must be an int >= {minimum}")
    return int(value)


def _validate(
    num_rooms: Any, room_size: Any, start: Any, max_episode_steps: Any
) -> tuple[int, int, str, int]:
    """Check the constructor kwargs at the earliest point and fill in the default time limit."""
    r = _check_int("num_rooms", num_rooms, 1)
    s = _check_int("room_size", room_size, MIN_ROOM_SIZE)
    if not isinstance(start, str) or start not in START_MODES:
        raise ValueError(f"start={start!r} is not a known start mode; allowed: {', '.join(START_MODES)}")
    if max_episode_steps is None:
        t = default_max_episode_steps(r, s, start)
    else:
        t = _check_int("max_episode_steps", max_episode_steps, 1)
    return r, s, start, t


def _draw_highs(num_rooms: int, room_size: int) -> np.ndarray:
    """Exclusive upper bounds of one episode's draws: start room, doorway rows, reward cells, agent cell."""
    r, s = num_rooms, room_size
    return np.concatenate([[r], np.full(r - 1, s), np.full(r, s * s), [s * s - 1]]).astype(np.int64)


def _draw_episode(rng: np.random.Generator, highs: np.ndarray) -> np.ndarray:
    """All the randomness of one episode: one uniform float per entry of ``highs``, in one call.

    Floats (scaled to integers in :meth:`_Batch.reset_rows`, vectorised over the rows being reset) keep
    the per-env Python work of a reset to this single generator call.
    """
    return rng.random(len(highs))


# Cell codes of the padded grid.
_FREE, _WALL, _REWARD = multiroom_kernels.FREE, multiroom_kernels.WALL, multiroom_kernels.REWARD


class _Batch:
    """The state and dynamics of N independent MultiRoom episodes as numpy arrays (leading axis N).

    Each episode's grid is stored flat, padded by the view radius with walls so the egocentric window
    is one gather; the agent's position is a flat index into it.
    """

    def __init__(self, n: int, num_rooms: int, room_size: int, start: str, max_episode_steps: int) -> None:
        r, s = num_rooms, room_size
        self.n, self.r, self.s, self.start, self.max_steps = n, r, s, start, max_episode_steps
        self.view = v = s  # radius: the whole room and both of its walls are visible from any cell in it
        self.width, self.height = r * (s + 1) + 1, s + 2
        self.pw = self.width + 2 * v  # padded width
        side = 2 * v + 1
        oy, ox = np.divmod(np.arange(side * side), side)
        self.offsets = (oy - v) * self.pw + (ox - v)
        self.moves = np.array([-self.pw, self.pw, -1, 1], dtype=np.int64)  # up, down, left, right
        self.window = side * side
        self.obs_size = 2 * self.window + 2 * r
        base = np.full((self.height + 2 * v, self.pw), _WALL, dtype=np.int8)
        for k in range(r):
            x0 = v + k * (s + 1) + 1
            base[v + 1 : v + 1 + s, x0 : x0 + s] = _FREE
        self.base = base.ravel()
        self.highs = _draw_highs(r, s)
        # Flat index of room k's row-major cell c, and of the doorway of inner wall k at row d.
        row, col = np.divmod(np.arange(s * s), s)
        rooms_x0 = v + np.arange(r) * (s + 1) + 1
        self.cell_flat = (v + 1 + row) * self.pw + rooms_x0[:, None] + col
        self.door_origin = (v + 1) * self.pw + v + np.arange(1, r) * (s + 1)
        self.grid = np.tile(self.base, (n, 1))
        self.pos = np.zeros(n, dtype=np.int64)
        self.pending = np.zeros((n, r), dtype=bool)
        self.present = np.zeros((n, r), dtype=bool)
        self.returns = np.zeros((n, r), dtype=np.float64)
        self.t = np.zeros(n, dtype=np.int64)
        self.rows = np.arange(n)
        self.room_table = self._room_table()

    def reset_rows(self, rows: np.ndarray, uniforms: np.ndarray) -> None:
        """Start new episodes in ``rows`` from their :func:`_draw_episode` vectors (one row each)."""
        r = self.r
        k = len(rows)
        draws = np.minimum((uniforms * self.highs).astype(np.int64), self.highs - 1)
        if self.start == "first":
            start_room = np.zeros(k, dtype=np.int64)
            present = np.ones((k, r), dtype=bool)
        else:
            start_room = draws[:, 0]
            present = start_room[:, None] == np.arange(r)
        cells = draws[:, r : 2 * r]
        agent = draws[:, -1]
        agent = agent + (agent >= cells[np.arange(k), start_room])
        self.grid[rows] = self.base
        if r > 1:
            self.grid[rows[:, None], self.door_origin + draws[:, 1:r] * self.pw] = _FREE
        reward_rows, reward_rooms = np.nonzero(present)
        self.grid[rows[reward_rows], self.cell_flat[reward_rooms, cells[reward_rows, reward_rooms]]] = _REWARD
        self.pos[rows] = self.cell_flat[start_room, agent]
        self.present[rows] = present
        self.pending[rows] = present
        self.returns[rows] = 0.0
        self.t[rows] = 0

    def room_of(self, pos: np.ndarray) -> np.ndarray:
        """Room index of each flat position, -1 in a doorway (a lookup in :attr:`room_table`)."""
        return self.room_table[pos]

    def _room_table(self) -> np.ndarray:
        """Room index of every flat position of one padded grid: its column's room, -1 on a wall column."""
        s1 = self.s + 1
        x = np.arange(self.grid.shape[1]) % self.pw - self.view
        return np.where(x % s1 == 0, -1, (x - 1) // s1)

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Float32 observations of ``rows`` (all by default): [walls | rewards | room one-hot | pending].

        One numba pass (:func:`rayenvs.envs.multiroom_kernels.observe_rows`) reads each window row by row
        from the padded grid and writes every output value once.
        """
        rows = self.rows if rows is None else rows
        obs = np.empty((len(rows), self.obs_size), dtype=np.float32)
        multiroom_kernels.observe_rows(
            self.grid, self.pos, self.pending, self.room_table, rows, self.view, self.pw, obs
        )
        return obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Move every agent; returns reward, terminated, truncated, component rewards and component."""
        return multiroom_kernels.step_batch(
            actions, self.moves, self.grid, self.pos, self.pending, self.returns, self.t,
            self.room_table, self.max_steps,
        )

    def render_rgb(self, i: int, tile: int = 8) -> np.ndarray:
        """An RGB image of row ``i``: walls grey, free cells black, pending rewards green, agent red."""
        v = self.view
        grid = self.grid[i].reshape(-1, self.pw)[v : v + self.height, v : v + self.width]
        palette = np.array([[0, 0, 0], [100, 100, 100], [0, 200, 0]], dtype=np.uint8)
        img = palette[grid]
        ay, ax = divmod(int(self.pos[i]), self.pw)
        img[ay - v, ax - v] = (220, 0, 0)
        return np.repeat(np.repeat(img, tile, axis=0), tile, axis=1)


def _observation_space(batch: _Batch) -> spaces.Box:
    return spaces.Box(0.0, 1.0, shape=(batch.obs_size,), dtype=np.float32)


class MultiRoomEnv(gym.Env[np.ndarray, np.int64]):
    """R rooms in a row joined by doorways, one reward per room; the rooms are the components.

    ## Description
    A gridworld of ``num_rooms`` square rooms of ``room_size x room_size`` free cells, laid out left to
    right in a row and separated by one-cell walls; each inner wall has one doorway at a random row. Each
    room holds one reward of value 1 at a random cell, collectable once per episode. Doorways, reward
    cells and the agent's start cell are redrawn at every reset from the env's generator, so the layout
    is a deterministic function of the reset seed but the task cannot be solved by memorising one path.

    ## Observation
    A flat ``Box(0, 1, (2 * (2 * room_size + 1) ** 2 + 2 * num_rooms,), float32)``, the same format in
    every room so one network serves all rooms:
    a ``(2 * room_size + 1) ** 2`` egocentric window centred on the agent (row-major, 1 = wall or outside
    the grid; it covers the agent's whole room, its walls and doorways from any cell), the same window
    with 1 at uncollected rewards, a one-hot of the room the agent is in (all 0 in a doorway), and one flag
    per room saying whether that room's reward is still to be collected in this episode.

    ## Actions
    ``Discrete(4)``: 0 up, 1 down, 2 left, 3 right. Moving into a wall leaves the agent in place.

    ## Rewards and components
    Reward 1 when the agent steps onto an uncollected reward, else 0. Components are the rooms
    (``room_0`` ... ``room_{R-1}``, left to right). Every step's info holds ``component_rewards`` (a
    collected reward on its room), ``component`` (the room the agent stands in after the move, which is the
    room whose reward it collected on rewarded steps, and -1 in a doorway), ``component_returns`` (the
    episode's running sums of ``component_rewards``, so the totals on whichever step ends the episode) and
    ``component_present`` (the start room only for start="random", every room for start="first"). The reset
    info is empty.

    ## Episode end
    start="random": the episode starts in a uniformly random room, only that room holds a reward, and it
    terminates when that reward is collected (episode return in {0, 1}). start="first": the episode starts
    in room 0 with every room's reward present and terminates when all are collected (return in
    [0, num_rooms]). Either way it truncates after ``max_episode_steps`` steps. Note that
    ``gym.make(id, max_episode_steps=N)`` does not reach the env: Gymnasium consumes it for an outer
    ``TimeLimit`` (whose truncating step still carries the episode's component totals, as every step does),
    so the env's own limit also stays in force and the smaller one wins. To change the env's own limit,
    construct the class, pass ``max_episode_steps`` to ``gym.make_vec``, or put it in the spec kwargs.

    ## Registered ids
    ``rayenvs/MultiRoom-v0`` (defaults below), ``rayenvs/MultiRoom-R{2,4,8}-v0`` (start="random") and
    ``rayenvs/MultiRoom-R{2,4,8}-Seq-v0`` (start="first"); ``gym.make_vec`` builds
    :class:`MultiRoomVectorEnv`.

    ## Arguments
    ``num_rooms`` (int >= 1, default 2), ``room_size`` (int >= 2 free cells per side, default 5),
    ``start`` ("random" or "first", default "random"), ``max_episode_steps`` (int >= 1; default
    :func:`default_max_episode_steps`: ``4 * room_size`` for "random", ``4 * room_size * (2 * num_rooms - 1)``
    for "first"), ``render_mode`` (None or "rgb_array").

    ## Version History
    - v0 (issue 15): the batched core's observe and move run as numba kernels and the vector env's
      per-env streams as PCG64 states advanced in numba (:mod:`rayenvs.envs.pcg64`, the same doubles as
      each sub-env's ``Generator``). Observations (byte for byte), rewards, infos and every per-seed
      stream are unchanged, so the id keeps its version.
    - v0 (later): the native vector env accepts ``render_mode="rgb_array"`` too (``render()`` gives one frame
      per sub-env). Rendering reads the state only; observations, rewards and streams are unchanged.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        num_rooms: int = DEFAULT_NUM_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        start: str = "random",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        r, s, start, t = _validate(num_rooms, room_size, start, max_episode_steps)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; allowed: None, 'rgb_array'")
        self.num_rooms, self.room_size, self.start, self.max_episode_steps = r, s, start, t
        self.render_mode = render_mode
        self.component_names = tuple(f"room_{k}" for k in range(r))
        self._batch = _Batch(1, r, s, start, t)
        self.observation_space = _observation_space(self._batch)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._needs_reset = False
        self._batch.reset_rows(
            np.zeros(1, dtype=np.int64), _draw_episode(self.np_random, self._batch.highs)[None]
        )
        return self._batch.observe()[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("MultiRoomEnv.step() called before reset()")
        if not self.action_space.contains(action):
            raise ValueError(f"action={action!r} is not in the action space {self.action_space}")
        b = self._batch
        reward, terminated, truncated, comp_rewards, room = b.step(np.array([action], dtype=np.int64))
        info: dict[str, Any] = {
            COMPONENT_REWARDS: comp_rewards[0],
            COMPONENT: int(room[0]),
            COMPONENT_RETURNS: b.returns[0].copy(),
            COMPONENT_PRESENT: b.present[0].copy(),
        }
        return b.observe()[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self._batch.render_rgb(0)
        return None


class MultiRoomVectorEnv(VectorEnv):
    """``num_envs`` MultiRoom episodes stepped at once (numpy and numba); SAME_STEP autoreset.

    Sub-env ``i`` behaves exactly like ``MultiRoomEnv(...).reset(seed=seed + i)`` stepped with the same
    actions, automatic resets and time-limit truncation included. On a step where sub-env ``i`` ends,
    ``infos["final_obs"][i]`` / ``infos["final_info"]`` hold its last observation and step info (masks
    ``_final_obs`` / ``_final_info``), the returned observation is the next episode's first one, and its
    top-level info entries are those of the (empty) reset info, i.e. masked out: the key layout of
    ``SyncVectorEnv(..., autoreset_mode=SAME_STEP)``. Sub-envs that go on carry all four component keys
    (running ``component_returns`` included) at the top level. See :class:`MultiRoomEnv` for the task.
    """

    metadata = {"render_modes": ["rgb_array"], "autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        num_rooms: int = DEFAULT_NUM_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        start: str = "random",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        n = _check_int("num_envs", num_envs, 1)
        r, s, start, t = _validate(num_rooms, room_size, start, max_episode_steps)
        self.num_rooms, self.room_size, self.start, self.max_episode_steps = r, s, start, t
        self._setup(n, _Batch(n, r, s, start, t), render_mode)

    def _setup(self, n: int, batch: _Batch, render_mode: str | None) -> None:
        """What every MultiRoom-style vector env sets up around its batch (subclasses pass their own batch)."""
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; allowed: None, 'rgb_array'")
        self.num_envs = n
        self.render_mode = render_mode
        self.component_names = tuple(f"room_{k}" for k in range(batch.r))
        self._batch = batch
        # Row i: sub-env i's PCG64 state and increment, advanced in numba exactly as its generator would be.
        self._states = np.zeros((n, 4), dtype=np.uint64)
        self._seeded = np.zeros(n, dtype=bool)
        self.single_observation_space = _observation_space(batch)
        self.single_action_space = spaces.Discrete(len(ACTION_NAMES))
        self.observation_space = batch_space(self.single_observation_space, n)
        self.action_space = batch_space(self.single_action_space, n)
        self._needs_reset = True

    def _draw(self, rows: np.ndarray) -> np.ndarray:
        """:func:`_draw_episode` of each listed sub-env's own stream, one row each."""
        return random_doubles(self._states, rows, len(self._batch.highs))

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset all sub-envs (or those in ``options["reset_mask"]``); int seeds give sub-env i seed + i."""
        n = self.num_envs
        if seed is None:
            seeds: list[int | None] = [None] * n
        elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
            seeds = [int(seed) + i for i in range(n)]
        else:
            seeds = [None if x is None else int(x) for x in seed]
            if len(seeds) != n:
                raise ValueError(f"seed list has length {len(seeds)}; it must have num_envs={n} entries")
        mask = np.ones(n, dtype=bool)
        if options is not None and "reset_mask" in options:
            mask = np.asarray(options["reset_mask"])
            if mask.dtype != np.bool_ or mask.shape != (n,) or not mask.any():
                raise ValueError(
                    f"options['reset_mask'] must be a bool array of shape ({n},) with a True entry, got {mask!r}"
                )
        rows = np.nonzero(mask)[0]
        fresh = [i for i in rows if seeds[i] is not None or not self._seeded[i]]
        if fresh:  # (re)seed the streams of the rows being reset, as Env.reset(seed=...) seeds np_random
            pack_states([seeding.np_random(seeds[i])[0] for i in fresh], self._states, fresh)
            self._seeded[fresh] = True
        self._batch.reset_rows(rows, self._draw(rows))
        self._needs_reset = False
        return self._batch.observe(), {}

    def render(self) -> tuple[np.ndarray, ...] | None:
        """With ``render_mode="rgb_array"``, one frame per sub-env (as ``SyncVectorEnv``); otherwise ``None``."""
        if self.render_mode != "rgb_array":
            return None
        if self._needs_reset:
            raise RuntimeError("MultiRoomVectorEnv.render() called before reset()")
        return tuple(self._batch.render_rgb(i) for i in range(self.num_envs))

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Step all sub-envs; those that end are reset in the same step (SAME_STEP autoreset)."""
        if self._needs_reset:
            raise RuntimeError("MultiRoomVectorEnv.step() called before reset()")
        acts = np.asarray(actions)
        if acts.shape != (self.num_envs,) or not np.issubdtype(acts.dtype, np.integer):
            raise ValueError(f"actions must be an int array of shape ({self.num_envs},), got {actions!r}")
        if acts.min() < 0 or acts.max() >= len(ACTION_NAMES):
            raise ValueError(f"actions must lie in [0, {len(ACTION_NAMES) - 1}], got {actions!r}")
        b = self._batch
        reward, terminated, truncated, comp_rewards, room = b.step(acts.astype(np.int64))
        done = terminated | truncated
        infos: dict[str, Any] = {}
        live = ~done
        if live.any():
            infos[COMPONENT_REWARDS] = np.where(live[:, None], comp_rewards, 0.0)
            infos[f"_{COMPONENT_REWARDS}"] = live.copy()
            infos[COMPONENT] = np.where(live, room, 0).astype(np.int64)
            infos[f"_{COMPONENT}"] = live.copy()
            infos[COMPONENT_RETURNS] = np.where(live[:, None], b.returns, 0.0)
            infos[f"_{COMPONENT_RETURNS}"] = live.copy()
            infos[COMPONENT_PRESENT] = live[:, None] & b.present
            infos[f"_{COMPONENT_PRESENT}"] = live.copy()
        if done.any():
            idx = np.nonzero(done)[0]
            final_obs = np.full(self.num_envs, None, dtype=object)
            for j, o in zip(idx, b.observe(idx), strict=True):
                final_obs[j] = o
            d = done[:, None]
            infos["final_obs"] = final_obs
            infos["_final_obs"] = done.copy()
            infos["final_info"] = {
                COMPONENT_REWARDS: np.where(d, comp_rewards, 0.0),
                f"_{COMPONENT_REWARDS}": done.copy(),
                COMPONENT: np.where(done, room, 0).astype(np.int64),
                f"_{COMPONENT}": done.copy(),
                COMPONENT_RETURNS: np.where(d, b.returns, 0.0),
                f"_{COMPONENT_RETURNS}": done.copy(),
                COMPONENT_PRESENT: d & b.present,
                f"_{COMPONENT_PRESENT}": done.copy(),
            }
            infos["_final_info"] = done.copy()
            b.reset_rows(idx, self._draw(idx))
        return b.observe(), reward, terminated, truncated, infos


def uniform_random_return(
    num_episodes: int = 10_000, seed: int = 0, vector_env: type | None = None, **env_kwargs: Any
) -> float:
    """Mean return of a uniform-random policy over the first episodes of seeds ``seed .. seed + n - 1``.

    Each seed contributes exactly its first episode, so short (often rewarded) episodes are not
    over-counted the way "the first n episodes to finish" would; this is the leaderboard's reference.
    ``vector_env`` is the vector env class to play (default :class:`MultiRoomVectorEnv`; its variants pass theirs).
    """
    n = _check_int("num_episodes", num_episodes, 1)
    env = (vector_env or MultiRoomVectorEnv)(n, **env_kwargs)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    returns = np.zeros(n, dtype=np.float64)
    finished = np.zeros(n, dtype=bool)
    while not finished.all():
        _, reward, terminated, truncated, _ = env.step(rng.integers(0, len(ACTION_NAMES), size=n))
        returns += np.where(finished, 0.0, reward)
        finished |= terminated | truncated
    return float(returns.mean())
