"""Policy weights in, safetensors out: the only weight formats the board accepts, none of which unpickles code.

Accepted inputs: ``*.safetensors``; a torch ``state_dict`` file (``*.pt``/``*.pth``) read with
``torch.load(weights_only=True)``, whose restricted unpickler refuses any object that is not a tensor or a
plain container; an SB3 ``*.zip``, of which only the ``policy.pth`` member (a state_dict) is read, the same
way, and the ``data`` member (cloudpickled objects) is never touched. Everything is stored as safetensors.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

WEIGHT_FILES = ("policy.safetensors", "policy.pt", "policy.pth", "model.zip", "policy.zip")
SB3_POLICY_MEMBER = "policy.pth"
# Largest weights file (and largest decompressed SB3 policy member) accepted: a zip bomb stops here.
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024


def state_dict_to_safetensors(state_dict: dict) -> bytes:
    """Serialise a flat ``{name: tensor}`` dict; anything else is refused."""
    import torch
    from safetensors.torch import save

    if not isinstance(state_dict, dict) or not state_dict:
        raise ValueError(f"weights must be a non-empty dict of tensors, got {type(state_dict).__name__}")
    bad = [k for k, v in state_dict.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"weights must map names to tensors; offending entries: {bad[:5]}")
    return save({k: v.detach().cpu().clone().contiguous() for k, v in state_dict.items()})


def load_safetensors(blob: bytes) -> dict:
    """Parse a safetensors blob into ``{name: tensor}`` (a clear ValueError if it is not one)."""
    from safetensors.torch import load

    try:
        tensors = load(blob)
    except Exception as exc:  # noqa: BLE001 - safetensors raises several error types for corrupt input
        raise ValueError(f"weights are not a valid safetensors file: {exc}") from exc
    if not tensors:
        raise ValueError("weights file holds no tensors")
    return tensors


def _torch_state_dict(raw: bytes, what: str) -> bytes:
    import pickle

    import torch

    try:
        obj = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"{what} is not a plain torch state_dict (loaded with weights_only=True): {exc}"
        ) from exc
    return state_dict_to_safetensors(obj)


def _read_member_capped(zf: zipfile.ZipFile, name: str, what: str) -> bytes:
    """Read one archive member, refusing it as soon as it decompresses past :data:`MAX_WEIGHTS_BYTES`
    (the declared size in the zip header is checked first, but a forged header cannot get past the stream cap)."""
    declared = zf.getinfo(name).file_size
    if declared > MAX_WEIGHTS_BYTES:
        raise ValueError(f"{what}:{name} decompresses to {declared} bytes; the limit is {MAX_WEIGHTS_BYTES}")
    out = bytearray()
    with zf.open(name) as fh:
        while chunk := fh.read(1 << 20):
            out.extend(chunk)
            if len(out) > MAX_WEIGHTS_BYTES:
                raise ValueError(f"{what}:{name} decompresses past the {MAX_WEIGHTS_BYTES}-byte limit")
    return bytes(out)


def weights_from_file(path: str | Path) -> bytes:
    """Read one weights file of an accepted format and return it as safetensors bytes."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ValueError(f"{p} is {size} bytes; weights files are limited to {MAX_WEIGHTS_BYTES} bytes")
    raw = p.read_bytes()
    if p.suffix == ".safetensors":
        load_safetensors(raw)
        return raw
    if p.suffix in (".pt", ".pth"):
        return _torch_state_dict(raw, str(p))
    if p.suffix == ".zip":
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as zf:
                if SB3_POLICY_MEMBER not in zf.namelist():
                    raise ValueError(f"{p} has no {SB3_POLICY_MEMBER} member; it is not an SB3 model archive")
                member = _read_member_capped(zf, SB3_POLICY_MEMBER, str(p))
        except zipfile.BadZipFile as exc:
            raise ValueError(f"{p} is not a zip archive: {exc}") from exc
        return _torch_state_dict(member, f"{p}:{SB3_POLICY_MEMBER}")
    raise ValueError(
        f"unsupported weights file {p.name!r}; accepted: .safetensors, .pt/.pth state_dict, SB3 .zip"
    )


def find_weights(run_dir: str | Path) -> Path | None:
    """The first weights file of :data:`WEIGHT_FILES` present in a run directory, if any."""
    for name in WEIGHT_FILES:
        candidate = Path(run_dir) / name
        if candidate.is_file():
            return candidate
    return None
