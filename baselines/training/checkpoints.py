"""Resumable runs: CSV/TensorBoard logs cut back to a checkpoint step, the logger's pending values, and
checkpoints holding the model, the curves and the callbacks' metric histories (see :mod:`baselines.training.loop`).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat

from rayenvs.atomic import atomic_write, atomic_write_text

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_STATE = "checkpoint.json"
CHECKPOINT_FORMAT = 1
PROGRESS_FILE = "progress.csv"


def _csv_step(header: list[str], line: str) -> float | None:
    import csv

    try:
        col = header.index("time/total_timesteps")
        row = next(csv.reader([line]))
        return float(row[col])
    except (ValueError, IndexError, StopIteration):
        return None


def truncate_progress_csv(path: Path, step: int) -> list[str]:
    """Drop the rows of SB3's progress.csv logged after env step ``step``; return the header's keys."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if not lines:
        return []
    header = lines[0].rstrip("\n").split(",")
    kept = [lines[0]]
    for line in lines[1:]:
        s = _csv_step(header, line)
        if s is None or s <= step:
            kept.append(line if line.endswith("\n") else line + "\n")
    atomic_write_text(path, "".join(kept))
    return header


class ResumableCSVOutputFormat(CSVOutputFormat):
    """SB3's CSV writer, but on resume it keeps the rows up to the checkpoint step and appends after them."""

    def __init__(self, filename: str | Path, resume_step: int | None = None) -> None:
        path = Path(filename)
        if resume_step is None or not path.exists():
            super().__init__(str(path))
            return
        keys = truncate_progress_csv(path, resume_step)
        self.file = open(path, "r+", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.file.seek(0, 2)
        self.keys = [k for k in keys if k]
        self.separator = ","
        self.quotechar = '"'


class ResumableTensorBoardOutputFormat(TensorBoardOutputFormat):
    """SB3's TensorBoard writer with ``purge_step``: TensorBoard hides the events an interrupted process wrote
    after the checkpoint it resumes from."""

    def __init__(self, folder: str | Path, purge_step: int | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(folder), purge_step=purge_step)
        self._is_closed = False


def make_logger(run_dir: Path, resume_step: int | None = None) -> Logger:
    """An SB3 logger writing progress.csv and TensorBoard events into ``run_dir``."""
    formats = [
        ResumableCSVOutputFormat(run_dir / PROGRESS_FILE, resume_step),
        ResumableTensorBoardOutputFormat(run_dir, None if resume_step is None else resume_step + 1),
    ]
    return Logger(folder=str(run_dir), output_formats=formats)


def _finite_or_none(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def logger_pending(logger: Logger) -> dict[str, Any]:
    """The values recorded but not yet dumped (numbers only; non-finite ones as None)."""
    values = {}
    for key, value in logger.name_to_value.items():
        if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            values[key] = _finite_or_none(value)
    excluded = {k: list(v) if v else None for k, v in logger.name_to_excluded.items() if k in values}
    return {"values": values, "excluded": excluded}


def restore_logger_pending(logger: Logger, pending: Mapping[str, Any]) -> None:
    for key, value in pending.get("values", {}).items():
        exclude = pending.get("excluded", {}).get(key)
        logger.record(
            key, float("nan") if value is None else value, exclude=tuple(exclude) if exclude else None
        )


# --------------------------------------------------------------------------------------------------------
# Checkpoints


def load_checkpoint_state(run_dir: str | Path) -> dict[str, Any] | None:
    """The latest checkpoint's state of a run directory, or None when it has none."""
    path = Path(run_dir) / CHECKPOINT_DIR / CHECKPOINT_STATE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"corrupt checkpoint state {path}: {exc}") from exc
    if state.get("format") != CHECKPOINT_FORMAT or not (path.parent / state.get("model_file", "")).is_file():
        raise ValueError(f"checkpoint {path} is unreadable (format {state.get('format')!r} or missing model)")
    return state


def save_checkpoint(run_dir: Path, model: Any, state: dict[str, Any]) -> Path:
    """Write ``model_<step>.zip`` then ``checkpoint.json`` pointing at it (both atomic), then drop older zips:
    a crash at any point leaves a consistent latest checkpoint."""
    ckdir = run_dir / CHECKPOINT_DIR
    name = f"model_{model.num_timesteps}.zip"
    atomic_write(ckdir / name, lambda f: model.save(f), binary=True)
    full = dict(state, format=CHECKPOINT_FORMAT, model_file=name, num_timesteps=int(model.num_timesteps))
    full["n_updates"] = int(getattr(model, "_n_updates", 0))
    # compact JSON: the C encoder is ~10x faster than the indenting one on long curves
    atomic_write_text(ckdir / CHECKPOINT_STATE, json.dumps(full, separators=(",", ":"), allow_nan=False))
    for old in ckdir.glob("model_*.zip"):
        if old.name != name:
            old.unlink()
    return ckdir / name


def restore_checkpoint(
    run_dir: Path, state: Mapping[str, Any], model: Any, seed: int, device: str, extras: Sequence[Any]
) -> None:
    """Put a freshly built model (and the extra callbacks' histories) back to a checkpoint's state.

    The env and the global RNGs are reseeded from (seed, step): replaying the run's initial seed would
    repeat its first episodes."""
    step = int(state["num_timesteps"])
    model.set_parameters(str(run_dir / CHECKPOINT_DIR / state["model_file"]), exact_match=True, device=device)
    model.num_timesteps = step
    model._n_updates = int(state.get("n_updates", 0))
    model.set_random_seed(int(np.random.SeedSequence([seed, step]).generate_state(1)[0] % (2**31)))
    window = getattr(model, "_stats_window_size", 100)
    model.ep_info_buffer = deque(state.get("ep_info_buffer", []), maxlen=window)
    model.ep_success_buffer = deque(maxlen=window)
    for cb, hist in zip(extras, state.get("extra_histories", []), strict=False):
        if hist is not None and isinstance(getattr(cb, "history", None), dict):
            for key, pts in hist.items():
                restored = [(int(s), float("nan") if v is None else float(v)) for s, v in pts]
                cb.history.setdefault(key, [])[:0] = restored


def _history_state(history: Mapping[str, Any]) -> dict[str, list[list[Any]]]:
    return {str(k): [[int(s), _finite_or_none(v)] for s, v in pts] for k, pts in history.items()}


def collect_metrics(callbacks: Iterable[Any]) -> dict[str, list[tuple[int, float]]]:
    """Merge the ``history`` of every callback that has one; non-finite values are dropped (JSON has no NaN)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for cb in callbacks:
        history = getattr(cb, "history", None)
        if not isinstance(history, Mapping):
            continue
        for key, pts in history.items():
            clean = [(int(s), float(v)) for s, v in pts if _finite_or_none(v) is not None]
            out.setdefault(str(key), []).extend(clean)
    for pts in out.values():
        pts.sort(key=lambda p: p[0])
    return out


def _json_ep_info(buffer: Iterable[Mapping[str, Any]] | None) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in ep.items() if _finite_or_none(v) is not None} for ep in (buffer or [])]
