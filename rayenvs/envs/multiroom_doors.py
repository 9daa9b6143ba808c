"""MultiRoom-Doors: each room's reward lies behind a doorway, and walls block the view.

``MultiRoom-R{2,4,8}-v0`` puts an episode's reward in its start room and shows the agent the cells beyond
the walls, so it needs neither doorways nor memory and is far easier than Minigrid's MultiRoom. Here the
reward of the task that starts in room ``k`` lies in a *neighbouring* room, reached only through the
doorway in the wall between them, and the agent sees only the room it stands in (both rooms while it stands
in a doorway). Even rooms' rewards lie to the right, odd rooms' to the left: one network must move right in
some rooms and left in others, so rooms compete for the same parameters as the contexts of Schaul et al.'s
bandit do (their Section 3.3, "from bandits to RL"), and a policy that has learned nothing rarely reaches a
reward (``f_k(0) ~ 0``), which couples each room's learning to its own performance.

The grid, the doorways and the seeding are those of :mod:`rayenvs.envs.multiroom` (the vector env's per-env
streams equal the single env's by construction, as there); this module changes where the reward lies, what
the agent sees and which component a step belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from rayenvs.envs.multiroom import (
    _FREE,
    _REWARD,
    _WALL,
    ACTION_NAMES,
    MultiRoomEnv,
    MultiRoomVectorEnv,
    _Batch,
    _check_int,
)
from rayenvs.envs.multiroom import uniform_random_return as _uniform_random_return

DEFAULT_NUM_ROOMS = 4
DEFAULT_ROOM_SIZE = 3
MIN_ROOMS = 2


def target_rooms(num_rooms: int) -> np.ndarray:
    """Room holding the reward of the task that starts in room ``k``: ``k + 1`` for even ``k``, ``k - 1`` for
    odd ``k`` (and for the last room when ``num_rooms`` is odd, which has no right neighbour)."""
    k = np.arange(num_rooms)
    right = (k % 2 == 0) & (k + 1 < num_rooms)
    return np.where(right, k + 1, k - 1)


def default_max_episode_steps(room_size: int) -> int:
    """``2 * (4 * room_size - 2)`` steps: twice the longest shortest path (``2 * (room_size - 1)`` to the cell
    before the doorway, 2 through it, ``2 * (room_size - 1)`` to the reward), so an optimal agent always
    succeeds while a uniform-random walk mostly fails (7% of episodes on the 4-room, size-3 default)."""
    return 2 * (4 * room_size - 2)


def _validate(
    num_rooms: Any, room_size: Any, max_episode_steps: Any, tasks: Any
) -> tuple[int, int, int, tuple[int, ...]]:
    r = _check_int("num_rooms", num_rooms, MIN_ROOMS)
    s = _check_int("room_size", room_size, 2)
    t = default_max_episode_steps(s) if max_episode_steps is None else _check_int(
        "max_episode_steps", max_episode_steps, 1
    )
    if tasks is None:
        return r, s, t, tuple(range(r))
    allowed = f"a non-empty sequence of distinct room indices in [0, {r - 1}]"
    if isinstance(tasks, (str, bytes)) or not isinstance(tasks, Sequence) or not tasks:
        raise ValueError(f"tasks={tasks!r} must be {allowed}")
    out = tuple(_check_int("tasks entry", k, 0) for k in tasks)
    if len(set(out)) != len(out) or max(out) >= r:
        raise ValueError(f"tasks={tasks!r} must be {allowed}")
    return r, s, t, out


class _DoorsBatch(_Batch):
    """:class:`~rayenvs.envs.multiroom._Batch`'s grid and moves; reward in the task's target room, walled view.

    Only the layout pieces of the parent are used (``base``, ``cell_flat``, ``door_origin``, ``pw``,
    ``moves``, ``grid``, ``pos`` and the per-episode arrays); drawing, observing and stepping are this class's.
    """

    def __init__(
        self, n: int, num_rooms: int, room_size: int, max_episode_steps: int, tasks: tuple[int, ...]
    ) -> None:
        super().__init__(n, num_rooms, room_size, "random", max_episode_steps)
        r, s, v = num_rooms, room_size, self.view
        self.targets = target_rooms(r)
        self.tasks = np.asarray(tasks, dtype=np.int64)
        # start room (an index into tasks), doorway rows, reward cell in the target room, agent cell
        self.highs = np.concatenate([[len(tasks)], np.full(r - 1, s), [s * s, s * s]]).astype(np.int64)
        self.task = np.zeros(n, dtype=np.int64)
        side = 2 * v + 1
        oy, ox = np.divmod(np.arange(side * side), side)
        self.win_dy, self.win_dx = oy - v, ox - v
        self.win_offsets = self.win_dy * self.pw + self.win_dx
        self.window = side * side
        self.obs_size = 3 * self.window + 2 * r
        # Visible columns from each padded column: the room's own box (its cells and both side walls); from a
        # doorway column, the boxes of both rooms it joins. Rows: the grid's rows (walls included).
        x = np.arange(self.pw) - v  # grid column of each padded column
        s1 = s + 1
        in_wall = (x % s1 == 0) & (x >= 0) & (x < self.width)
        room_lo = (x // s1) * s1
        self.vis_lo = np.where(in_wall, np.maximum(x - s1, 0), room_lo)
        self.vis_hi = np.where(in_wall, np.minimum(x + s1, self.width - 1), room_lo + s1)
        self.row_lo, self.row_hi = v, v + self.height - 1

    def reset_rows(self, rows: np.ndarray, uniforms: np.ndarray) -> None:
        """Start new episodes in ``rows`` from one vector of uniforms each (see ``_draw_episode``)."""
        r = self.r
        draws = np.minimum((uniforms * self.highs).astype(np.int64), self.highs - 1)
        task = self.tasks[draws[:, 0]]
        self.grid[rows] = self.base
        self.grid[rows[:, None], self.door_origin + draws[:, 1:r] * self.pw] = _FREE
        self.grid[rows, self.cell_flat[self.targets[task], draws[:, r]]] = _REWARD
        self.pos[rows] = self.cell_flat[task, draws[:, r + 1]]
        present = task[:, None] == np.arange(r)
        self.task[rows] = task
        self.present[rows] = present
        self.pending[rows] = present
        self.returns[rows] = 0.0
        self.t[rows] = 0

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Float32 observations: [walls | rewards | visible] windows, room one-hot, task one-hot (pending)."""
        rows = np.arange(self.n) if rows is None else rows
        pos = self.pos[rows]
        w, r = self.window, self.r
        cells = self.grid[rows[:, None], pos[:, None] + self.win_offsets]
        py, px = np.divmod(pos, self.pw)
        col = px[:, None] + self.win_dx - self.view
        row = py[:, None] + self.win_dy
        visible = (
            (col >= self.vis_lo[px][:, None])
            & (col <= self.vis_hi[px][:, None])
            & (row >= self.row_lo)
            & (row <= self.row_hi)
        )
        obs = np.empty((len(rows), self.obs_size), dtype=np.float32)
        obs[:, :w] = visible & (cells == _WALL)
        obs[:, w : 2 * w] = visible & (cells == _REWARD)
        obs[:, 2 * w : 3 * w] = visible
        obs[:, 3 * w : 3 * w + r] = self.room_of(pos)[:, None] == np.arange(r)
        obs[:, 3 * w + r :] = self.pending[rows]
        return obs

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, ...]:
        """Move every agent; returns reward, terminated, truncated, component rewards and component (task)."""
        self.t += 1
        rows = np.arange(self.n)
        new = self.pos + self.moves[actions]
        cell = self.grid[rows, new]
        self.pos = np.where(cell != _WALL, new, self.pos)
        rewarded = cell == _REWARD
        got = np.nonzero(rewarded)[0]
        comp_rewards = np.zeros((self.n, self.r), dtype=np.float64)
        comp_rewards[got, self.task[got]] = 1.0
        self.grid[got, self.pos[got]] = _FREE
        self.pending[got, self.task[got]] = False
        self.returns[got, self.task[got]] += 1.0
        terminated = rewarded.copy()
        truncated = (self.t >= self.max_steps) & ~terminated
        return rewarded.astype(np.float64), terminated, truncated, comp_rewards, self.task.copy()


def _observation_space(batch: _DoorsBatch) -> spaces.Box:
    return spaces.Box(0.0, 1.0, shape=(batch.obs_size,), dtype=np.float32)


class MultiRoomDoorsEnv(MultiRoomEnv):
    """R rooms in a row; each episode's reward lies in a neighbouring room, behind a doorway, out of sight.

    ## Description
    ``num_rooms`` square rooms of ``room_size x room_size`` free cells, left to right, separated by one-cell
    walls with one doorway each at a random row. An episode starts at a random cell of a uniformly random
    room ``k`` (its *task*); its one reward (value 1) lies at a random cell of room ``k + 1`` if ``k`` is
    even, else of room ``k - 1`` (the last room of an odd count uses its left neighbour). Doorways, reward
    and start cells are redrawn at every reset from the env's generator. The agent must find the doorway of
    the right wall of its room and walk through it: rooms whose reward lies to the right and rooms whose
    reward lies to the left compete for the same network, which is where ray interference shows up.

    ## Observation
    ``Box(0, 1, (3 * (2 * room_size + 1) ** 2 + 2 * num_rooms,), float32)``, the same format in every room:
    three ``(2 * room_size + 1) ** 2`` egocentric windows centred on the agent (row-major) holding 1 at
    visible walls, at a visible reward, and at visible cells. Visible are the cells of the room the agent
    stands in and its four walls (in a doorway: both rooms it joins); nothing beyond a wall is seen, so the
    reward shows only once the agent reaches the doorway leading to it. Then a one-hot of the room the agent
    is in (all 0 in a doorway) and a one-hot of the episode's task (the start room, 0 once collected).

    ## Actions
    ``Discrete(4)``: 0 up, 1 down, 2 left, 3 right. Moving into a wall leaves the agent in place.

    ## Rewards and components
    Reward 1 when the agent steps onto the reward, else 0. The components are the tasks, named by their
    start room (``room_0`` ... ``room_{R-1}``): the reward of an episode that started in room ``k`` counts
    for ``room_k`` wherever it lies. Every step's info holds ``component_rewards``, ``component`` (the
    episode's task, on every step), ``component_returns`` (running sums) and ``component_present`` (the
    task only). The reset info is empty.

    ## Episode end
    Terminates when the reward is collected (return 1); truncates after ``max_episode_steps`` steps (return
    0). ``gym.make(id, max_episode_steps=N)`` adds an outer ``TimeLimit`` and leaves the env's own limit in
    force (see :class:`~rayenvs.envs.multiroom.MultiRoomEnv`).

    ## Registered ids
    ``rayenvs/MultiRoom-R{2,4}-Doors-v0``; ``gym.make_vec`` builds :class:`MultiRoomDoorsVectorEnv`.

    ## Arguments
    ``num_rooms`` (int >= 2, default 4), ``room_size`` (int >= 2, default 3), ``max_episode_steps`` (int
    >= 1, default ``2 * (4 * room_size - 2)``), ``tasks`` (the start rooms drawn from, uniformly; default
    all: a subset trains one network per room, the separate-networks control of Schaul et al.),
    ``render_mode`` (None or "rgb_array"; the picture shows the whole grid, not the agent's view).

    ## Version History
    - v0: initial version (rayenvs issue 16: ray interference beyond the bandit).
    """

    def __init__(
        self,
        num_rooms: int = DEFAULT_NUM_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        max_episode_steps: int | None = None,
        tasks: Sequence[int] | None = None,
        render_mode: str | None = None,
    ) -> None:
        r, s, t, tasks_ = _validate(num_rooms, room_size, max_episode_steps, tasks)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r} is not supported; allowed: None, 'rgb_array'")
        self.num_rooms, self.room_size, self.start, self.max_episode_steps = r, s, "random", t
        self.tasks = tasks_
        self.render_mode = render_mode
        self.component_names = tuple(f"room_{k}" for k in range(r))
        self._batch = _DoorsBatch(1, r, s, t, tasks_)
        self.observation_space = _observation_space(self._batch)
        self.action_space = spaces.Discrete(len(ACTION_NAMES))
        self._needs_reset = True


class MultiRoomDoorsVectorEnv(MultiRoomVectorEnv):
    """``num_envs`` :class:`MultiRoomDoorsEnv` episodes stepped at once with numpy; SAME_STEP autoreset.

    Sub-env ``i`` behaves exactly like ``MultiRoomDoorsEnv(...).reset(seed=seed + i)`` stepped with the same
    actions; the info layout is that of :class:`~rayenvs.envs.multiroom.MultiRoomVectorEnv`.
    """

    def __init__(
        self,
        num_envs: int,
        num_rooms: int = DEFAULT_NUM_ROOMS,
        room_size: int = DEFAULT_ROOM_SIZE,
        max_episode_steps: int | None = None,
        tasks: Sequence[int] | None = None,
        render_mode: str | None = None,
    ) -> None:
        n = _check_int("num_envs", num_envs, 1)
        r, s, t, tasks_ = _validate(num_rooms, room_size, max_episode_steps, tasks)
        self.num_rooms, self.room_size, self.start, self.max_episode_steps = r, s, "random", t
        self.tasks = tasks_
        self._setup(n, _DoorsBatch(n, r, s, t, tasks_), render_mode)


def uniform_random_return(num_episodes: int = 10_000, seed: int = 0, **env_kwargs: Any) -> float:
    """Mean return of a uniform-random policy over the first episode of seeds ``seed .. seed + n - 1``."""
    return _uniform_random_return(num_episodes, seed, vector_env=MultiRoomDoorsVectorEnv, **env_kwargs)


__all__ = ["MultiRoomDoorsEnv", "MultiRoomDoorsVectorEnv", "target_rooms", "uniform_random_return"]
