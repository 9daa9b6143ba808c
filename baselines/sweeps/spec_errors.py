"""A sweep file's validation errors as one line per problem: ``FILE:LINE: key.path: what is wrong; what is allowed``.

Why: pydantic's own report is a block per error with its type tag and a documentation URL, and it names neither
the file nor the line; a user editing a sweep file wants the line to fix, the value found and what would be
accepted (the range of a bounded number, the choices of a literal, the keys of a section with the nearest one
for a typo). Line numbers come from composing the YAML text again (the parsed data no longer has them).
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import annotated_types
import yaml
from pydantic import BaseModel, ValidationError


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _field(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[type[BaseModel] | None, Any]:
    """(the model holding the last key of ``loc``, that key's FieldInfo or None), following nested models; an
    index into a list stops there (the list field's own constraints are what is reported)."""
    holder: type[BaseModel] | None = None
    current: type[BaseModel] | None = model
    info = None
    for part in loc:
        if isinstance(part, int):
            return holder, info
        if current is None:
            return None, None
        holder, info = current, current.model_fields.get(part)
        if info is None:
            return holder, None
        ann = info.annotation
        current = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return holder, info


def _bounds(info: Any) -> str:
    """``>= 0 and <= 20`` from a field's annotated-types constraints ('' when unbounded)."""
    parts = []
    for meta in getattr(info, "metadata", ()):
        for cls, attr, op in ((annotated_types.Gt, "gt", ">"), (annotated_types.Ge, "ge", ">="),
                              (annotated_types.Lt, "lt", "<"), (annotated_types.Le, "le", "<=")):
            if isinstance(meta, cls):
                parts.append(f"{op} {getattr(meta, attr)}")
    return " and ".join(parts)


def _kind(info: Any) -> str:
    args = set(typing.get_args(info.annotation)) | {info.annotation}
    return "an integer" if int in args else "a number" if float in args else "a value"


def _yaml_lines(text: str) -> Any:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def _line(root: Any, loc: Sequence[int | str], key_line: bool = False) -> int | None:
    """1-based line of the value at ``loc`` (of its key when ``key_line``), or of the nearest enclosing node."""
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if k.value == str(part)]
            if not match:
                return line
            key, node = match[0]
            line = key.start_mark.line + 1 if key_line and part == loc[-1] else node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    """One error of ``model.model_validate`` as ``key.path: problem; allowed``, without pydantic's tags."""
    loc, kind, value, msg = tuple(err["loc"]), err["type"], err.get("input"), str(err["msg"])
    path = _path(loc)
    parent, info = _field(model, loc)
    if kind == "extra_forbidden" and parent is not None:
        allowed = sorted(parent.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{path}: unknown key; {hint}allowed keys: {', '.join(allowed)}"
    if kind == "missing":
        return f"{path}: required key is missing"
    if kind == "literal_error" and info is not None:
        choices = list(typing.get_args(info.annotation))
        close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return f"{path}: {value!r} is not allowed; {hint}allowed: {', '.join(repr(c) for c in choices)}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal") and info is not None:
        return f"{path}: {value!r} is out of range; allowed: {_kind(info)} {_bounds(info)}"
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return f"{path}: {value!r} is empty; needs at least {least} item{'s' if least != 1 else ''}"
    if kind == "value_error":  # our validators' messages name the value and what is allowed
        text = msg.removeprefix("Value error, ")
        return f"{path}: {text}" if path else text
    if msg.startswith("Input should"):
        return f"{path}: {value!r} should{msg[len('Input should'):]}"
    return f"{path}: {value!r}: {msg}" if path else msg


def key_line(path: str | Path, loc: Sequence[int | str]) -> int | None:
    """1-based line of the key path ``loc`` in the YAML file ``path`` (None if unreadable or absent)."""
    try:
        root = _yaml_lines(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return None
    return _line(root, loc, key_line=True) if root is not None else None


def describe_validation_error(exc: ValidationError, model: type[BaseModel], path: str | Path,
                              text: str | None = None) -> str:
    """Every error of ``exc`` on its own line, ``FILE:LINE: key.path: ...``; ``text`` is the file's YAML."""
    p = Path(path)
    if text is None:
        try:
            text = p.read_text(encoding="utf-8")
        except OSError:
            text = ""
    root = _yaml_lines(text)
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        line = None
        if root is not None and err["type"] != "missing":
            line = _line(root, loc, key_line=err["type"] == "extra_forbidden")
        lines.append(f"{p}:{line}: {describe(err, model)}" if line else f"{p}: {describe(err, model)}")
    if len(lines) == 1:
        return f"sweep file {lines[0]}"
    return f"sweep file {p} has {len(lines)} problems:\n" + "\n".join(f"  {ln}" for ln in lines)
