"""The masked-image glimpse task of Bengio et al. (2020, Section 3): classify an image seen through a moving window.

Bengio et al. use it to compare interference and generalisation between RL and supervised learning on the
same images: the seed is the image index, so train and test sets are disjoint seed sets. Each class is one
component of the objective, which makes per-class interference measurable in the suite's common format.
"""

from __future__ import annotations

import os
from numbers import Real
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from rayenvs.contract import COMPONENT, COMPONENT_PRESENT, COMPONENT_RETURNS, COMPONENT_REWARDS
from rayenvs.envs.glimpse_data import (
    DEFAULT_SPLIT_SIZES,
    NUM_CLASSES,
    SPLITS,
    WINDOW,
    ArrayImages,
    GlyphImages,
    load_npz,
    split_arrays,
    validate_arrays,
)
from rayenvs.validation import check_int, is_int

MOVE_UP, MOVE_DOWN, MOVE_LEFT, MOVE_RIGHT = NUM_CLASSES, NUM_CLASSES + 1, NUM_CLASSES + 2, NUM_CLASSES + 3
_MOVES = {MOVE_UP: (-WINDOW, 0), MOVE_DOWN: (WINDOW, 0), MOVE_LEFT: (0, -WINDOW), MOVE_RIGHT: (0, WINDOW)}
VISIBLE = 255  # value of the mask channels where a pixel is revealed / inside the current window


def _action_index(action: Any, n: int) -> int:
    """``action`` as an int in [0, n), accepting Python and numpy integers (0-d arrays too)."""
    value = action.item() if isinstance(action, np.ndarray) and action.shape == () else action
    if not is_int(value) or not 0 <= value < n:
        raise ValueError(f"action={action!r} must be an integer in [0, {n - 1}]")
    return int(value)


class GlimpseEnv(gym.Env[np.ndarray, np.int64]):
    """
    ## Description

    The masked-image task of Bengio et al. (2020, "Interference and Generalization in Temporal Difference
    Learning", Section 3). The agent first sees only the 8x8 window at the centre of an image; it can move
    the window by 8 px in four directions, revealing more of the image (revealed pixels stay visible), or
    answer one of 10 classes. The seed is the image index: ``reset(seed=s)`` shows image ``s mod len(split)``
    of the chosen split; ``reset()`` without a seed draws the index from the env's ``np_random``.

    The default image set is procedural and offline (:mod:`rayenvs.envs.glimpse_data`): 40x40 grayscale
    noisy, jittered digit glyphs, so the window moves over a 5x5 grid of whole tiles; 10,000 train and 2,000
    test images, disjoint seed sets. ``dataset=`` takes a user ``.npz`` instead.

    ## Observation

    ``Box(0, 255, (H, W, C + 2), uint8)``, channel-last (``C`` = 1 for the default set): the image channels
    with every unrevealed pixel set to 0, then a "revealed" channel (255 where revealed, else 0), then a
    "window" channel (255 inside the current window). The mask channels tell a black pixel from a hidden
    one and tell the agent where its window is. With C = 1 the observation is a 3-channel image, so SB3's
    ``CnnPolicy`` (NatureCNN needs H, W >= 36, met by the default 40x40) and ``MlpPolicy`` both apply.

    ## Actions

    ``Discrete(14)``: actions 0-9 answer that class; 10 up, 11 down, 12 left, 13 right move the window by
    8 px. A move that would take the window wholly off the image does nothing. On images whose size is not
    the centre window plus whole 8 px tiles (e.g. 32x32), windows at the border are clipped to the image.

    ## Rewards and components

    Reward 1 for answering the image's class, 0 for everything else (moves and wrong answers). The
    components are the classes, ``component_names = ("class_0", ..., "class_9")``: every step's info holds
    ``component_rewards`` (float64 (10,), the reward at the image's class), ``component`` (the image's
    class), ``component_returns`` (the episode's running sums of ``component_rewards``, so its totals on
    whichever step ends it, an outer ``TimeLimit``'s truncation included) and ``component_present`` (True
    only at the class). The reset info holds ``component`` and ``image_index`` (the index within the split).

    ## Episode end

    Terminated on a correct answer. A wrong answer gives 0 and the episode goes on, as in the paper ("the
    episode ends upon a correct classification or after 20 steps"), so an agent can correct itself. Truncated
    after ``max_steps`` (20) steps without a correct answer. A uniform-random policy earns
    1 - (13/14)^20 = 0.7729 on average (``GLIMPSE_RANDOM_RETURN`` in :mod:`rayenvs.registration`).
    ``gym.make(id, max_episode_steps=N)`` does not change ``max_steps``: Gymnasium adds an outer
    ``TimeLimit`` and the smaller limit wins; pass ``max_steps=`` to change the env's own.

    ## Registered ids

    - ``rayenvs/Glimpse-v0``: default arguments (procedural digits, train split, 20 steps).

    ## Arguments

    - ``split``: ``"train"`` (default) or ``"test"``.
    - ``dataset``: ``None`` (procedural digits), a path to an ``.npz`` with ``images`` (N, H, W) or
      (N, H, W, C) uint8 (H, W >= 8) and ``labels`` (N,) integers in [0, 9], or an ``(images, labels)``
      pair of arrays. A user set's train split is its first ``N - round(N * test_fraction)`` images.
    - ``test_fraction``: share of a user set held out as the test split, in (0, 1); default 0.2. Ignored
      for the default set.
    - ``max_steps``: step limit, int >= 1; default 20.
    - ``num_images``: training-set size (Bengio et al. vary it to separate memorisation from
      generalisation): only the split's first ``num_images`` images are shown, ``reset(seed=s)`` showing
      image ``s mod num_images``; int in [1, len(split)]. Default ``None``: the whole split, so the
      registered id behaves exactly as before this argument existed.
    - ``render_mode``: ``None`` or ``"rgb_array"`` (the revealed image, hidden pixels dark blue, the window
      outlined in red).
    """

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        split: str = "train",
        dataset: str | os.PathLike | tuple[np.ndarray, np.ndarray] | None = None,
        test_fraction: float = 0.2,
        max_steps: int = 20,
        render_mode: str | None = None,
        num_images: int | None = None,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"split={split!r} must be one of {SPLITS}")
        if (
            isinstance(test_fraction, bool)
            or not isinstance(test_fraction, Real)
            or not 0 < test_fraction < 1
        ):
            raise ValueError(f"test_fraction={test_fraction!r} must be a number in (0, 1)")
        check_int("max_steps", max_steps)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode={render_mode!r} must be None or one of {self.metadata['render_modes']}"
            )
        self.split = split
        self.max_steps = int(max_steps)
        self.render_mode = render_mode
        self.images = self._load(dataset, split, float(test_fraction))
        available = len(self.images)
        if num_images is not None and (not is_int(num_images) or not 1 <= num_images <= available):
            raise ValueError(
                f"num_images={num_images!r} must be an integer in [1, {available}] (the {split} split)"
            )
        self.num_images = available if num_images is None else int(num_images)
        sample, _ = self.images.example(0)
        self.height, self.width, self.channels = sample.shape
        self.component_names = tuple(f"class_{k}" for k in range(NUM_CLASSES))
        self.observation_space = spaces.Box(
            0, 255, shape=(self.height, self.width, self.channels + 2), dtype=np.uint8
        )
        self.action_space = spaces.Discrete(NUM_CLASSES + len(_MOVES))
        self.start = ((self.height - WINDOW) // 2, (self.width - WINDOW) // 2)

        self.image: np.ndarray | None = None
        self.label = -1
        self.image_index = -1
        self.window = self.start
        self.revealed = np.zeros((self.height, self.width), dtype=bool)
        self.steps = 0
        self._done = True

    @staticmethod
    def _load(
        dataset: str | os.PathLike | tuple[np.ndarray, np.ndarray] | None, split: str, test_fraction: float
    ) -> ArrayImages | GlyphImages:
        if dataset is None:
            return GlyphImages(split, DEFAULT_SPLIT_SIZES[split])
        if isinstance(dataset, str | os.PathLike):
            data = load_npz(dataset)
        elif isinstance(dataset, tuple | list) and len(dataset) == 2:
            data = validate_arrays(dataset[0], dataset[1], "dataset=(images, labels)")
        else:
            raise ValueError(
                f"dataset of type {type(dataset).__name__} must be None, a path to an .npz file, "
                "or an (images, labels) pair"
            )
        return split_arrays(data, split, test_fraction)

    def _window_slices(self) -> tuple[slice, slice]:
        r, c = self.window
        return slice(max(r, 0), min(r + WINDOW, self.height)), slice(max(c, 0), min(c + WINDOW, self.width))

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.observation_space.shape, dtype=np.uint8)
        obs[:, :, : self.channels] = self.image * self.revealed[:, :, None]
        obs[:, :, self.channels] = self.revealed * np.uint8(VISIBLE)
        rows, cols = self._window_slices()
        obs[rows, cols, self.channels + 1] = VISIBLE
        return obs

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Show the centre window of image ``seed mod num_images`` (or of a random one of them if unseeded)."""
        super().reset(seed=seed)
        n = self.num_images
        self.image_index = seed % n if seed is not None else int(self.np_random.integers(n))
        self.image, self.label = self.images.example(self.image_index)
        self.window = self.start
        self.revealed = np.zeros((self.height, self.width), dtype=bool)
        self.revealed[self._window_slices()] = True
        self.steps = 0
        self._done = False
        return self._obs(), {COMPONENT: self.label, "image_index": self.image_index}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Move the window or answer a class; 1 and termination for the right class, truncation at the limit."""
        if self._done:
            raise ResetNeeded("GlimpseEnv.step() needs a reset() after the episode ended")
        action = _action_index(action, int(self.action_space.n))
        self.steps += 1
        reward = 0.0
        terminated = False
        if action < NUM_CLASSES:
            if action == self.label:
                reward, terminated = 1.0, True
        else:
            dr, dc = _MOVES[action]
            r, c = self.window[0] + dr, self.window[1] + dc
            if -WINDOW < r < self.height and -WINDOW < c < self.width:
                self.window = (r, c)
                self.revealed[self._window_slices()] = True
        truncated = not terminated and self.steps >= self.max_steps
        component_rewards = np.zeros(NUM_CLASSES, dtype=np.float64)
        component_rewards[self.label] = reward
        present = np.zeros(NUM_CLASSES, dtype=bool)
        present[self.label] = True
        info: dict[str, Any] = {
            COMPONENT_REWARDS: component_rewards,
            COMPONENT: self.label,
            # Only a terminating step pays, so the running sums are this step's component rewards.
            COMPONENT_RETURNS: component_rewards.copy(),
            COMPONENT_PRESENT: present,
        }
        self._done = terminated or truncated
        return self._obs(), reward, terminated, truncated, info

    def render(self) -> np.ndarray | None:
        """RGB frame: revealed pixels in gray (or colour), hidden ones dark blue, the window outlined in red."""
        if self.render_mode != "rgb_array":
            return None
        if self.image is None:
            raise ResetNeeded("GlimpseEnv.render() needs a reset() first")
        rgb = self.image if self.channels == 3 else np.repeat(self.image[:, :, :1], 3, axis=2)
        frame = np.where(self.revealed[:, :, None], rgb, np.array([0, 0, 64], dtype=np.uint8)).astype(
            np.uint8
        )
        rows, cols = self._window_slices()
        red = np.array([255, 0, 0], dtype=np.uint8)
        frame[rows.start, cols] = red
        frame[rows.stop - 1, cols] = red
        frame[rows, cols.start] = red
        frame[rows, cols.stop - 1] = red
        return frame
