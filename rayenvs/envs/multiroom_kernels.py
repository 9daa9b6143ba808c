"""numba kernels of MultiRoom's batched core: the move and the observation of N episodes in one loop each.

numpy needed a chain of whole-batch passes per step (gather the windows, two compares, two float32 casts
into slices, room lookup, nonzero of the rewarded rows, scatter, any over the pending flags); these write
each output element once. Observations are the same float32 values as before, byte for byte
(``tests/test_multiroom.py`` compares them with the pre-issue-15 gather).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Cell codes (multiroom.py uses these); observe_rows relies on WALL having bit 0 and REWARD bit 1 only.
FREE, WALL, REWARD = 0, 1, 2


@njit(cache=True, nogil=True)
def observe_rows(
    grid: np.ndarray,
    pos: np.ndarray,
    pending: np.ndarray,
    room_table: np.ndarray,
    rows: np.ndarray,
    view: int,
    pw: int,
    out: np.ndarray,
) -> None:
    """``out[j]`` = [walls | rewards | room one-hot | pending] of env ``rows[j]`` (float32 0/1).

    The window is ``side x side`` cells centred on the agent, read row by row from the flat padded grid
    (each row of the window is contiguous there).
    """
    side = 2 * view + 1
    w = side * side
    r = pending.shape[1]
    for j in range(rows.shape[0]):
        i = rows[j]
        p = pos[i]
        g = grid[i]
        o = out[j]
        corner = p - view * pw - view
        for dy in range(side):
            # Contiguous 1-D slices and branch-free bit tests (wall = code & 1, reward = code >> 1) let
            # LLVM vectorise the row: 3x faster than indexing ``out[j, ...]`` with compares.
            src = g[corner + dy * pw : corner + dy * pw + side]
            walls = o[dy * side : dy * side + side]
            rewards = o[w + dy * side : w + dy * side + side]
            for dx in range(side):
                c = src[dx]
                walls[dx] = np.float32(c & 1)
                rewards[dx] = np.float32(c >> 1)
        room = room_table[p]
        for k in range(r):
            o[2 * w + k] = 1.0 if room == k else 0.0
            o[2 * w + r + k] = 1.0 if pending[i, k] else 0.0


@njit(cache=True, nogil=True)
def step_batch(
    actions: np.ndarray,
    moves: np.ndarray,
    grid: np.ndarray,
    pos: np.ndarray,
    pending: np.ndarray,
    returns: np.ndarray,
    t: np.ndarray,
    room_table: np.ndarray,
    max_steps: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Move every agent (a wall leaves it in place), collect rewards, advance the clocks.

    Returns reward (float64), terminated, truncated, component rewards (float64 (n, r)) and the room after
    the move (-1 in a doorway); updates ``grid``, ``pos``, ``pending``, ``returns`` and ``t`` in place.
    """
    n, r = pending.shape
    reward = np.zeros(n)
    terminated = np.empty(n, dtype=np.bool_)
    truncated = np.empty(n, dtype=np.bool_)
    comp_rewards = np.zeros((n, r))
    room = np.empty(n, dtype=np.int64)
    for i in range(n):
        t[i] += 1
        new = pos[i] + moves[actions[i]]
        cell = grid[i, new]
        if cell != WALL:
            pos[i] = new
        rm = room_table[pos[i]]
        room[i] = rm
        if cell == REWARD:  # a reward cell is never a doorway, so rm >= 0
            grid[i, new] = FREE
            pending[i, rm] = False
            returns[i, rm] += 1.0
            comp_rewards[i, rm] = 1.0
            reward[i] = 1.0
        left = False
        for k in range(r):
            left |= pending[i, k]
        terminated[i] = not left
        truncated[i] = left and t[i] >= max_steps
    return reward, terminated, truncated, comp_rewards, room
