"""Image sets for the Glimpse env: a procedural digit-glyph set (offline, deterministic) and user ``.npz`` files.

Bengio et al. (2020) use SVHN and CIFAR-10; those need a download, so the default set is drawn here instead:
ten digit glyphs from a 5x7 bitmap font, each image under its own random affine jitter (scale, shear,
rotation, shift), stroke and background intensities and pixel noise. Image ``i`` of a split comes from the
seed ``(split tag, i)`` alone, so the sets need no storage, are identical on every machine, and the train and
test splits are disjoint seed sets, as in the paper.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_CLASSES = 10
WINDOW = 8
GLYPH_SIZE = 40  # 5 x 5 tiles of 8 px: the centre window and every move land on whole tiles
DEFAULT_SPLIT_SIZES = {"train": 10_000, "test": 2_000}
SPLITS = ("train", "test")
_SPLIT_TAGS = {"train": 0x7261, "test": 0x7465}

_FONT_ROWS = {
    0: [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
    1: ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
    2: [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
    3: ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
    4: ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
    5: ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
    6: ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
    7: ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
    8: [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
    9: [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
}
FONT = np.stack(
    [np.array([[ch == "#" for ch in row] for row in _FONT_ROWS[d]], dtype=np.float64) for d in range(10)]
)  # (10, 7, 5)


@functools.lru_cache(maxsize=4)
def _centred_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5 - size / 2
    return ys, xs


def _box_blur3(a: np.ndarray) -> np.ndarray:
    """3x3 mean filter with zero padding, as two separable passes."""
    rows = a.copy()
    rows[1:] += a[:-1]
    rows[:-1] += a[1:]
    out = rows.copy()
    out[:, 1:] += rows[:, :-1]
    out[:, :-1] += rows[:, 1:]
    return out / 9.0


def render_glyph(label: int, rng: np.random.Generator, size: int = GLYPH_SIZE) -> np.ndarray:
    """One noisy ``size x size`` uint8 image of digit ``label``, all randomness drawn from ``rng``."""
    font = FONT[label]
    scale = rng.uniform(0.8, 1.1)
    cell = size * 0.8 / 7 * scale  # pixels per font cell: the glyph fills ~80% of the height
    angle = rng.uniform(-0.2, 0.2)
    shear = rng.uniform(-0.25, 0.25)
    shift = rng.uniform(-0.08, 0.08, size=2) * size
    ys, xs = _centred_grid(size)
    ys = ys - shift[0]
    xs = xs - shift[1]
    cos, sin = np.cos(angle), np.sin(angle)
    v = (sin * xs + cos * ys) / cell + 3.5  # font row coordinate, glyph centre at (3.5, 2.5)
    u = (cos * xs - sin * ys) / cell + shear * (v - 3.5) + 2.5
    ri, ci = np.floor(v).astype(int), np.floor(u).astype(int)
    inside = (ri >= 0) & (ri < 7) & (ci >= 0) & (ci < 5)
    ink = np.zeros((size, size))
    ink[inside] = font[ri[inside], ci[inside]]
    ink = _box_blur3(ink)  # anti-aliased strokes
    background = rng.uniform(0, 60)
    stroke = rng.uniform(150, 255)
    image = background + (stroke - background) * ink + rng.normal(0.0, 18.0, size=(size, size))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4096)
def glyph_example(split: str, index: int) -> tuple[np.ndarray, int]:
    """Image ``index`` of the default set's ``split``: (read-only uint8 (40, 40) image, label).

    Labels cycle through 0..9 with the index, so any 10 consecutive seeds cover every class once. Cached:
    rendering costs far more than an env step and training revisits the same images.
    """
    if split not in _SPLIT_TAGS:
        raise ValueError(f"split={split!r} must be one of {SPLITS}")
    label = index % NUM_CLASSES
    rng = np.random.default_rng([_SPLIT_TAGS[split], index])
    image = render_glyph(label, rng)
    image.flags.writeable = False
    return image, label


@dataclass(frozen=True)
class ArrayImages:
    """A labelled image set held in memory: ``images`` (N, H, W, C) uint8 and ``labels`` (N,) int64."""

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def example(self, index: int) -> tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])


@dataclass(frozen=True)
class GlyphImages:
    """One split of the procedural default set; images are rendered on demand from their index."""

    split: str
    size: int

    def __len__(self) -> int:
        return self.size

    def example(self, index: int) -> tuple[np.ndarray, int]:
        image, label = glyph_example(self.split, index)
        return image[:, :, None], label


def validate_arrays(images: np.ndarray, labels: np.ndarray, source: str) -> ArrayImages:
    """Check a user image set; return it with images as (N, H, W, C). ``source`` names it in errors."""
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: 'images' must have dtype uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[:, :, :, None]
    if images.ndim != 4:
        raise ValueError(f"{source}: 'images' must have shape (N, H, W) or (N, H, W, C), got {images.shape}")
    n, h, w, c = images.shape
    if c < 1:
        raise ValueError(f"{source}: 'images' must have at least one channel, got shape {images.shape}")
    if h < WINDOW or w < WINDOW:
        raise ValueError(f"{source}: images of {h}x{w} px are smaller than the {WINDOW}x{WINDOW} window")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{source}: 'labels' must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise ValueError(f"{source}: 'labels' must have shape ({n},) to match 'images', got {labels.shape}")
    if n < 2:
        raise ValueError(f"{source}: needs at least 2 images (one per split), got {n}")
    bad = labels[(labels < 0) | (labels >= NUM_CLASSES)]
    if bad.size:
        raise ValueError(f"{source}: labels must lie in [0, {NUM_CLASSES - 1}], found {int(bad[0])}")
    return ArrayImages(np.ascontiguousarray(images), labels.astype(np.int64))


def load_npz(path: str | os.PathLike) -> ArrayImages:
    """Load a user ``.npz`` holding ``images`` and ``labels``; every malformation is a ValueError naming it."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"dataset={str(path)!r} is not an existing .npz file")
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"dataset={str(path)!r} could not be read as an .npz file: {err}") from err
    missing = [key for key in ("images", "labels") if key not in arrays]
    if missing:
        raise ValueError(f"dataset={str(path)!r} lacks the key(s) {missing}; it holds {sorted(arrays)}")
    return validate_arrays(arrays["images"], arrays["labels"], f"dataset={str(path)!r}")


def split_arrays(data: ArrayImages, split: str, test_fraction: float) -> ArrayImages:
    """The train split is the first ``N - round(N * test_fraction)`` images, the test split the rest."""
    n = len(data)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise ValueError(
            f"test_fraction={test_fraction!r} leaves an empty split of {n} images; "
            f"it must give between 1 and {n - 1} test images"
        )
    cut = n - n_test
    part = slice(0, cut) if split == "train" else slice(cut, n)
    return ArrayImages(data.images[part], data.labels[part])
