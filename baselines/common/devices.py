"""One place that turns a user's ``device`` string into a torch device, or refuses it early and clearly.

Why: PPO runs, the bandit learners, reproductions and benchmarks all take ``device`` (``auto``, ``cpu``,
``cuda``, ``cuda:N``, ``mps``); a bad one should fail before anything is built, with the same message everywhere.
"""

from __future__ import annotations

import torch

SUPPORTED = ("cpu", "cuda", "mps")


def parse_device(device: str | torch.device) -> torch.device | None:
    """The torch device ``device`` names, or None when torch cannot parse it; nothing is checked to exist
    (a sweep's device may name a GPU of the Ray cluster, not of this machine)."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        return None


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; anything else must parse and exist on this machine."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = parse_device(device)
    if dev is None:
        raise ValueError(f"device={device!r} is not a torch device (use auto, cpu, cuda, cuda:N or mps)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available here; use cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device={device!r} but MPS is not available here")
    elif dev.type not in SUPPORTED:
        raise ValueError(f"device={device!r} is not supported (use auto, cpu, cuda, cuda:N or mps)")
    return dev
