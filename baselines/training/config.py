"""Hyperparameter configs: the shipped per-family YAML files, user files and ``--set`` overrides.

A run's hyperparameters are resolved in layers, each overriding the previous one key by key (nested dicts such
as ``policy_kwargs`` are merged recursively):

1. ``baselines/training/configs/<family>.yaml``: its ``default`` block, then the block named by the exact env id,
   then the ``rayenvs`` block (what only ``rayenvs train`` reads). The files are valid rl-zoo3 ``-conf`` files:
   every id has a block merging ``default`` with YAML's ``<<: *default``, numbers are YAML 1.1 floats;
2. the user's ``--config FILE.yaml``, either in the same rl-zoo3 layout (``default`` and env-id blocks) or a
   flat mapping of keys;
3. ``--set key=value`` items, values parsed as YAML, dotted keys for nested values
   (``policy_kwargs.net_arch=[64,64]``);
4. the explicit ``timesteps`` / ``n_envs`` arguments of the CLI.

Keys are rl-zoo3's PPO keys (whatever the model class's constructor accepts, plus ``policy_kwargs`` given as a
dict or as rl-zoo3's ``"dict(net_arch=[64, 64], activation_fn=nn.ReLU)"`` string, parsed without ``eval``) and
the run keys of :data:`RUN_KEYS`. Unknown keys are refused before anything runs, so a typo cannot silently
fall back to a default.

Floats such as ``3e-4`` are read as numbers (PyYAML's YAML 1.1 resolver would read them as strings).
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from rayenvs.validation import check_int, is_int

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
DEFAULT_BLOCK = "default"
#: Block read only by rayenvs, after the env's block: RayPPO options (``settings``, its policies) and run keys
#: that would break plain SB3 PPO, so rl-zoo3 (which reads only the env id's block) never sees them.
RAYENVS_BLOCK = "rayenvs"

#: Keys that configure the run rather than the model: what :func:`baselines.training.loop.run_training` consumes.
RUN_KEYS: dict[str, str] = {
    "n_envs": "number of parallel training envs",
    "n_timesteps": "training budget in env steps (the CLI's --timesteps overrides it)",
    "env_kwargs": "keyword arguments of gym.make / gym.make_vec for training",
    "eval_env_kwargs": "keyword arguments of the evaluation env (default: env_kwargs)",
    "train_episodes_per_rollout": "training episodes kept per rollout in results.json's train curve",
}

#: Keys that must hold positive integers (rl-zoo3 files often write them as 1e6).
INT_KEYS = ("n_envs", "n_timesteps", "n_steps", "batch_size", "n_epochs", "train_episodes_per_rollout")


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads YAML 1.2 floats (``1e-4``, ``3e5``) as floats."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_yaml(text: str, where: str = "value") -> Any:
    """Parse YAML text with YAML 1.2 floats; a syntax error becomes a ValueError naming ``where``."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:  # PyYAML's own text says "<unicode string>" and spreads over lines
        mark = exc.problem_mark or exc.context_mark
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = exc.problem or exc.context or "syntax error"
        context = ""
        if exc.context and exc.problem and exc.context_mark is not None:
            context = f" ({exc.context} at line {exc.context_mark.line + 1}, column {exc.context_mark.column + 1})"
        raise ValueError(f"{where} is not valid YAML: {at}{problem}{context}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{where} is not valid YAML: {exc}") from None


def load_yaml_file(path: str | Path, kind: str = "config file") -> dict[str, Any]:
    """Read a YAML mapping from ``path`` (an empty file is an empty mapping); errors say ``kind 'path'``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {kind} {str(p)!r}: {exc.strerror or exc}") from exc
    data = parse_yaml(text, where=f"{kind} {str(p)!r}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{kind} {str(p)!r} must hold a mapping of keys, not {type(data).__name__}")
    return data


def family_config_path(family: str) -> Path:
    """The shipped YAML file of an env family."""
    path = CONFIG_DIR / f"{family}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
        raise ValueError(f"no shipped config for env family {family!r}; families with configs: {known}")
    return path


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge: ``update`` wins, nested mappings are merged rather than replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _is_zoo_layout(data: Mapping[str, Any]) -> bool:
    return DEFAULT_BLOCK in data or any("/" in str(k) or re.search(r"-v\d+$", str(k)) for k in data)


def select_blocks(data: Mapping[str, Any], env_id: str, where: str) -> dict[str, Any]:
    """The settings of ``env_id`` in an rl-zoo3-style mapping (``default``, the env's block, then ``rayenvs``),
    or ``data`` itself when it is a flat mapping of keys."""
    if not _is_zoo_layout(data):
        return dict(data)
    out: dict[str, Any] = {}
    for block_name in (DEFAULT_BLOCK, env_id, RAYENVS_BLOCK):
        block = data.get(block_name)
        if block is None:
            continue
        if not isinstance(block, Mapping):
            raise ValueError(f"{where}: block {block_name!r} must be a mapping, not {type(block).__name__}")
        out = merge(out, block)
    return out


_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def _literal(node: ast.AST, source: str) -> Any:
    """Evaluate the literal subset rl-zoo3 uses in policy_kwargs strings; names become dotted strings."""
    if isinstance(node, ast.Constant):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
    ):
        return -node.operand.value
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(e, source) for e in node.elts]
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise ValueError(f"policy_kwargs {source!r}: '**' unpacking is not supported")
        return {_literal(k, source): _literal(v, source) for k, v in zip(node.keys, node.values, strict=True)}
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "dict"
        and not node.args
    ):
        return {kw.arg: _literal(kw.value, source) for kw in node.keywords if kw.arg is not None}
    if isinstance(node, ast.Name | ast.Attribute):
        return ast.unparse(node)
    raise ValueError(
        f"policy_kwargs {source!r}: unsupported expression {ast.unparse(node)!r} "
        "(allowed: literals, lists, dicts, dict(...) calls and names such as nn.ReLU)"
    )


def parse_policy_kwargs(value: Any) -> dict[str, Any]:
    """policy_kwargs as a dict: rl-zoo3 strings like ``"dict(net_arch=[64, 64], activation_fn=nn.Tanh)"`` are
    parsed safely (no ``eval``); class names are kept as strings for the model builder to resolve."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, str):
        try:
            tree = ast.parse(value.strip(), mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"policy_kwargs {value!r} is not a valid expression: {exc.msg}") from exc
        parsed = _literal(tree.body, value)
        if not isinstance(parsed, dict):
            raise ValueError(f"policy_kwargs {value!r} must describe a dict, e.g. dict(net_arch=[64, 64])")
        return parsed
    raise ValueError(f"policy_kwargs must be a mapping or a dict(...) string, not {type(value).__name__}")


def parse_override(item: str) -> tuple[list[str], Any]:
    """Split one ``--set key=value`` item into its key path and YAML-parsed value."""
    if "=" not in item:
        raise ValueError(f"--set {item!r} must look like key=value (e.g. learning_rate=3e-4)")
    key, raw = item.split("=", 1)
    path = key.strip().split(".")
    if not key.strip() or any(not part or not _NAME_RE.match(part) for part in path):
        raise ValueError(
            f"--set {item!r}: {key!r} is not a valid key (dotted names like policy_kwargs.net_arch)"
        )
    return path, parse_yaml(raw, where=f"--set {item!r}")


def _override_items(overrides: Mapping[str, Any] | Iterable[str]) -> list[tuple[str, list[str], Any]]:
    """(label, key path, value) of ``--set`` strings or of a mapping {dotted key: already-parsed value}."""
    if isinstance(overrides, Mapping):
        out = []
        for key, value in overrides.items():
            path = str(key).split(".")
            if any(not part or not _NAME_RE.match(part) for part in path):
                raise ValueError(
                    f"override key {key!r} is not a valid key (dotted names like policy_kwargs.net_arch)"
                )
            out.append((f"{key}={value!r}", path, value))
        return out
    if isinstance(overrides, str):
        raise ValueError(
            f"overrides must be a list of key=value strings or a mapping, not the string {overrides!r}"
        )
    return [(item, *parse_override(item)) for item in overrides]


def apply_overrides(
    config: Mapping[str, Any], overrides: Mapping[str, Any] | Iterable[str]
) -> dict[str, Any]:
    """Apply ``--set`` items (or a mapping of dotted keys to values) in order; dotted keys create or update
    nested mappings."""
    out = copy.deepcopy(dict(config))
    for item, path, value in _override_items(overrides):
        if path[0] == "policy_kwargs" and len(path) > 1:
            out["policy_kwargs"] = parse_policy_kwargs(out.get("policy_kwargs"))
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                raise ValueError(f"--set {item!r}: {part!r} holds {child!r}, not a mapping")
            node = child
        node[path[-1]] = value
    return out


def model_keys() -> frozenset[str]:
    """Hyperparameter keys :func:`baselines.ppo.variants.build_model` accepts (PPO's and RayPPO's own)."""
    from baselines.ppo.variants import PPO_KEYS, RAY_KEYS

    return frozenset(PPO_KEYS | RAY_KEYS)


def validate(config: Mapping[str, Any]) -> dict[str, Any]:
    """Check keys and basic types; return the config with integral floats of :data:`INT_KEYS` made ints and
    policy_kwargs parsed to a dict."""
    out = dict(config)
    allowed = model_keys() | set(RUN_KEYS)
    unknown = sorted(set(out) - allowed)
    if unknown:
        import difflib

        close = {k: difflib.get_close_matches(k, sorted(allowed), n=1, cutoff=0.6) for k in unknown}
        hint = "".join(f"did you mean {c[0]!r} for {k!r}? " for k, c in close.items() if c)
        raise ValueError(f"unknown hyperparameter key(s) {unknown}; {hint}allowed keys: {sorted(allowed)}")
    for key in INT_KEYS:
        if key not in out:
            continue
        value = out[key]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not is_int(value) or value < 1:
            raise ValueError(f"{key}={out[key]!r} must be an integer >= 1")
        out[key] = value
    if "policy" not in out:
        raise ValueError("the config has no 'policy' key (e.g. MlpPolicy or CnnPolicy)")
    if "policy_kwargs" in out:
        out["policy_kwargs"] = parse_policy_kwargs(out["policy_kwargs"])
    for key in ("env_kwargs", "eval_env_kwargs"):
        if key in out and out[key] is not None and not isinstance(out[key], Mapping):
            raise ValueError(f"{key}={out[key]!r} must be a mapping of keyword arguments")
    return out


def resolve_config(
    env_id: str,
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    timesteps: int | None = None,
    n_envs: int | None = None,
) -> dict[str, Any]:
    """The fully resolved, validated config of a run on ``env_id`` (see the module docstring for the layers)."""
    from rayenvs.registration import env_info

    def layer(path: str | Path) -> dict[str, Any]:
        # policy_kwargs strings become dicts per layer, so a user's dict merges with a shipped string
        block = select_blocks(load_yaml_file(path), env_id, where=str(path))
        if "policy_kwargs" in block:
            block["policy_kwargs"] = parse_policy_kwargs(block["policy_kwargs"])
        return block

    config = layer(family_config_path(env_info(env_id).family))
    if config_path is not None:
        config = merge(config, layer(config_path))
    config = apply_overrides(config, overrides or ())
    if timesteps is not None:
        check_int("timesteps", timesteps)
        config["n_timesteps"] = timesteps
    if n_envs is not None:
        check_int("n_envs", n_envs)
        config["n_envs"] = n_envs
    return validate(config)


def split_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(run settings, model hyperparameters) of a resolved config."""
    run = {k: v for k, v in config.items() if k in RUN_KEYS}
    hyper = {k: copy.deepcopy(v) for k, v in config.items() if k not in RUN_KEYS}
    return run, hyper


def dump_config(config: Mapping[str, Any]) -> str:
    """YAML text of a resolved config, as saved in a run directory's config.yaml."""
    return yaml.safe_dump(dict(config), sort_keys=True, default_flow_style=False)
