"""One training run of PPO (a named variant) on a rayenvs env, from resolved config to a finished run directory.

:func:`run_training` is what ``rayenvs train``, the sweeps and ``rayenvs quickstart`` call. A run directory
(``<out>/<env>/<variant>/seed_<s>/``, see :func:`run_dir_for`) ends with

``config.yaml``          the resolved hyperparameters (also inside results.json)
``results.json``         :class:`baselines.results.RunResult`: eval and train curves, metrics, versions, ...
``curves.png``           total and per-component learning curves
``policy.safetensors``   the final ``model.policy.state_dict()`` (no pickle), for the leaderboard's verification
``progress.csv``, ``events.out.tfevents.*``   SB3's CSV and TensorBoard logs
``checkpoints/``         the latest ``model_<step>.zip`` and ``checkpoint.json`` (curves and logger state)

Training envs. Ids with a native numpy vector env (bandit, multiroom) are built with ``gym.make_vec`` and
handed to SB3 through :class:`GymnasiumVecEnvAdapter`; the others run as ``SyncVectorEnv`` with SAME_STEP
autoreset through the same adapter, so every family goes through one code path. Evaluation uses a separate
vector env with one sub-env per evaluation episode, reset with the fixed seeds ``EVAL_SEED + i``.

Resume. A checkpoint is taken after an update, at a rollout start, and holds the model, the curves, the
extra callbacks' metric histories, the SB3 logger's not-yet-dumped values and the episode-info buffer. On
``resume`` the CSV log is cut back to the checkpoint step and TensorBoard purges events after it, so the
logs and results.json of an interrupted-then-resumed run have every point exactly once. Environment episodes
in progress at the interruption are lost (their partial returns were never logged); the env and the global
RNGs are reseeded from (seed, checkpoint step), so a resumed run is a valid run but not a bit-replay.
SB3's own ``time/iterations``, ``time/fps`` and ``time/time_elapsed`` count from the resuming process.
``--resume`` with a larger budget extends a finished run from its final checkpoint.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.logger import CSVOutputFormat, Logger, TensorBoardOutputFormat
from stable_baselines3.common.vec_env import VecEnv, VecMonitor

from rayenvs.atomic import atomic_write, atomic_write_text

EVAL_SEED = 1_000_000
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_STATE = "checkpoint.json"
CONFIG_FILE = "config.yaml"
CURVES_FILE = "curves.png"
POLICY_FILE = "policy.safetensors"
PROGRESS_FILE = "progress.csv"
CHECKPOINT_FORMAT = 1
#: Evaluations and checkpoints per run when their cadence is not given.
DEFAULT_EVALS_PER_RUN = 20
DEFAULT_CHECKPOINTS_PER_RUN = 10


def sanitise(text: str) -> str:
    """A path component for an env id or variant (the ``rayenvs/`` namespace is dropped)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text.replace("rayenvs/", ""))


def run_dir_for(out_dir: str | Path, env_id: str, variant: str, seed: int) -> Path:
    """``out_dir/<env-id>/<variant>/seed_<seed>``: one directory per seed of a configuration."""
    return Path(out_dir) / sanitise(env_id) / sanitise(variant) / f"seed_{seed}"


# --------------------------------------------------------------------------------------------------------
# Gymnasium vector env -> SB3 VecEnv


def _per_env(value: Any) -> list[Any]:
    """One entry per env: Python scalars for 1-D numeric arrays, rows of a private copy for N-D ones (the
    env may overwrite its own buffers next step), the objects themselves for object arrays."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return list(value)
        return value.tolist() if value.ndim == 1 else list(value.copy())
    return list(value)


def split_infos(infos: Mapping[str, Any], num_envs: int) -> list[dict[str, Any]]:
    """Gymnasium's batched infos (arrays plus ``_key`` masks, nested dicts) as SB3's list of per-env dicts."""
    out: list[dict[str, Any]] = [{} for _ in range(num_envs)]
    for key, value in infos.items():
        if key.startswith("_"):
            continue
        mask = infos.get(f"_{key}")
        idx = np.flatnonzero(mask).tolist() if mask is not None else range(num_envs)
        items = split_infos(value, num_envs) if isinstance(value, Mapping) else _per_env(value)
        for i in idx:
            out[i][key] = items[i]
    return out


def _copy_obs(obs: Any) -> Any:
    if isinstance(obs, Mapping):
        return {k: np.array(v, copy=True) for k, v in obs.items()}
    return np.array(obs, copy=True)


class GymnasiumVecEnvAdapter(VecEnv):
    """Present a ``gymnasium.vector.VectorEnv`` with SAME_STEP autoreset as an SB3 ``VecEnv``.

    SB3 wants a list of per-env info dicts where an ending env's dict is its *terminal* step's info plus
    ``terminal_observation`` and ``TimeLimit.truncated`` (used to bootstrap truncated episodes). Gymnasium's
    SAME_STEP mode returns the next episode's first observation and puts the terminal step's obs and info in
    ``final_obs`` / ``final_info``; this adapter moves them where SB3 looks and keeps the reset info in
    ``reset_infos``. Observations are copied because native vector envs may reuse their buffers, which SB3's
    ``_last_obs`` would otherwise alias. ``env_method`` / ``get_attr`` act on the vector env as a whole.
    """

    def __init__(self, venv: Any) -> None:
        from gymnasium.vector import AutoresetMode

        mode = venv.metadata.get("autoreset_mode")
        if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP.value):
            raise ValueError(f"GymnasiumVecEnvAdapter needs SAME_STEP autoreset, got autoreset_mode={mode!r}")
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    def reset(self) -> Any:
        seed = self._seeds[0]
        options = self._options[0] or None
        obs, infos = self.venv.reset(seed=seed, options=options)
        self.reset_infos = split_infos(infos, self.num_envs)
        self._reset_seeds()
        self._reset_options()
        return _copy_obs(obs)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
        terminated = np.asarray(terminated, dtype=bool)
        truncated = np.asarray(truncated, dtype=bool)
        dones = terminated | truncated
        current = {
            k: v
            for k, v in infos.items()
            if k not in ("final_obs", "_final_obs", "final_info", "_final_info")
        }
        per_env = split_infos(current, self.num_envs)
        if dones.any():
            finals = split_infos(infos.get("final_info", {}), self.num_envs)
            final_obs = infos.get("final_obs")
            for i in np.flatnonzero(dones):
                self.reset_infos[i] = per_env[i]
                info = finals[i]
                info["terminal_observation"] = _copy_obs(final_obs[i]) if final_obs is not None else None
                per_env[i] = info
        for i in range(self.num_envs):
            per_env[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
        return _copy_obs(obs), np.asarray(rewards, dtype=np.float32), dones, per_env

    def close(self) -> None:
        self.venv.close()

    def _count(self, indices: Any) -> int:
        return len(list(self._get_indices(indices)))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.venv, attr_name)] * self._count(indices)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * self._count(indices)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * self._count(indices)

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


def make_vector_env(env_id: str, num_envs: int, env_kwargs: Mapping[str, Any] | None = None) -> Any:
    """A Gymnasium vector env with SAME_STEP autoreset: the id's native one when it has a vector entry point,
    else ``SyncVectorEnv`` over single envs."""
    import gymnasium as gym
    from gymnasium.vector import AutoresetMode

    from rayenvs.registration import env_info

    kwargs = dict(env_kwargs or {})
    if env_info(env_id).vector_entry_point is not None:
        return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    return gym.make_vec(
        env_id,
        num_envs=num_envs,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        **kwargs,
    )


def make_train_env(env_id: str, num_envs: int, env_kwargs: Mapping[str, Any] | None = None) -> VecEnv:
    """The SB3 training env: vector env -> adapter -> VecMonitor (episode stats for ``rollout/ep_rew_mean``)."""
    return VecMonitor(GymnasiumVecEnvAdapter(make_vector_env(env_id, num_envs, env_kwargs)))


def component_names_of(
    venv: Any, env_id: str, env_kwargs: Mapping[str, Any] | None = None
) -> tuple[str, ...]:
    """The component names of an env, read from the vector env or, failing that, from one single env."""
    names = getattr(venv, "component_names", None)
    if names is None and hasattr(venv, "envs"):
        names = getattr(venv.envs[0].unwrapped, "component_names", None)
    if names is None:
        import gymnasium as gym

        env = gym.make(env_id, **dict(env_kwargs or {}))
        names = getattr(env.unwrapped, "component_names", None)
        env.close()
    if not names:
        raise ValueError(
            f"{env_id} has no component_names: it does not follow the rayenvs component contract"
        )
    return tuple(str(n) for n in names)


# --------------------------------------------------------------------------------------------------------
# Logging that survives a resume


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


# --------------------------------------------------------------------------------------------------------
# Outputs


def save_policy_weights(model: Any, path: Path, metadata: Mapping[str, str] | None = None) -> Path:
    """``model.policy.state_dict()`` as safetensors (tensors cloned, so parameters shared between actor and
    critic are stored under each of their names and ``load_state_dict(strict=True)`` works)."""
    from safetensors.torch import save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.policy.state_dict().items()}
    data = save(tensors, metadata={str(k): str(v) for k, v in (metadata or {}).items()})
    return atomic_write(path, lambda f: f.write(data), binary=True)


STALE_OUTPUTS = (CONFIG_FILE, PROGRESS_FILE, CURVES_FILE, POLICY_FILE, "results.json")


def _clear_stale_outputs(run_dir: Path) -> None:
    """Remove the outputs of an attempt that never reached a checkpoint (only files this module writes)."""
    for name in STALE_OUTPUTS:
        (run_dir / name).unlink(missing_ok=True)
    for events in run_dir.glob("events.out.tfevents.*"):
        events.unlink()
    shutil.rmtree(run_dir / CHECKPOINT_DIR, ignore_errors=True)


def holds_run(run_dir: Path) -> bool:
    """Whether a directory already holds (part of) a training run."""
    return any((run_dir / n).exists() for n in ("results.json", CHECKPOINT_DIR, PROGRESS_FILE, CONFIG_FILE))


def _check_same_run(
    rdir: Path, saved: Mapping[str, Any], env_id: str, variant: str, seed: int, config: Mapping[str, Any]
) -> None:
    """Refuse to resume a run directory whose run differs from this one (the budget may grow)."""
    mismatch = [
        key
        for key, want in (("env_id", env_id), ("variant", variant), ("seed", seed))
        if saved.get(key) != want
    ]
    old_cfg = {k: v for k, v in saved.get("config", {}).items() if k != "n_timesteps"}
    if old_cfg != {k: v for k, v in config.items() if k != "n_timesteps"}:
        mismatch.append("config")
    if mismatch:
        raise ValueError(f"cannot resume {rdir}: its run differs in {mismatch} from this one")


def _check_positive(name: str, value: int | None, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be an integer >= 1" + (" or None" if allow_none else ""))


def check_device(device: str) -> None:
    """Refuse a device torch cannot parse or this machine lacks, before anything is built."""
    from baselines.devices import resolve_device

    resolve_device(device)


def run_training(
    env_id: str,
    variant: str = "baseline",
    seed: int = 0,
    timesteps: int | None = None,
    out_dir: str | Path | None = None,
    config_path: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    device: str = "auto",
    eval_freq: int | None = None,
    eval_episodes: int = 10,
    checkpoint_freq: int | None = None,
    resume: bool = False,
    extra_callbacks: Sequence[Any] = (),
    progress: bool = True,
    run_dir: str | Path | None = None,
    n_envs: int | None = None,
    eval_deterministic: bool = True,
) -> Path:
    """Train one seed of ``variant`` on ``env_id`` and return its finished run directory.

    Every argument is validated, the envs and the model are built, and only then is anything written, so a
    bad argument leaves no trace. ``overrides`` are ``--set`` strings or a mapping of (dotted) keys to values;
    ``timesteps`` overrides the config's ``n_timesteps``. ``eval_freq`` / ``checkpoint_freq`` default to
    1/20 and 1/10 of the budget. ``run_dir`` overrides the ``out_dir/<env>/<variant>/seed_<s>`` layout.
    With ``resume``, a run that finished with at least this budget is returned as is, one with a checkpoint
    continues from it, and one with neither starts over; without it an existing run directory is an error.
    Callbacks in ``extra_callbacks`` run after the evaluation; those with a ``history`` attribute
    (``{key: [(env step, value)]}``) are checkpointed and merged into results.json's ``metrics``.
    """
    from stable_baselines3.common.callbacks import CallbackList

    import rayenvs  # noqa: F401 - registers the ids
    from baselines.callbacks import (
        CheckpointCallback,
        ComponentEvalCallback,
        ComponentReturnsCallback,
        evaluate_components,
    )
    from baselines.config import dump_config, resolve_config, split_config
    from baselines.plots import plot_curves
    from baselines.results import RunResult, hardware_info, library_versions
    from baselines.variants import build_model, canonical_variant
    from rayenvs.paths import runs_dir
    from rayenvs.registration import env_info

    env_info(env_id)
    variant = canonical_variant(variant)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed={seed!r} must be an integer >= 0")
    _check_positive("eval_episodes", eval_episodes, allow_none=False)
    _check_positive("eval_freq", eval_freq)
    _check_positive("checkpoint_freq", checkpoint_freq)
    check_device(device)
    config = resolve_config(env_id, config_path, overrides, timesteps=timesteps, n_envs=n_envs)
    run_settings, hyperparams = split_config(config)
    total = int(config.get("n_timesteps", 0))
    _check_positive("timesteps (n_timesteps)", total, allow_none=False)
    num_envs = int(run_settings.get("n_envs", 1))
    env_kwargs = dict(run_settings.get("env_kwargs") or {})
    eval_kwargs = dict(run_settings.get("eval_env_kwargs") or env_kwargs)
    eval_freq = eval_freq or max(1, total // DEFAULT_EVALS_PER_RUN)
    checkpoint_freq = checkpoint_freq or max(1, total // DEFAULT_CHECKPOINTS_PER_RUN)

    rdir = Path(run_dir) if run_dir is not None else run_dir_for(out_dir or runs_dir(), env_id, variant, seed)
    state: dict[str, Any] | None = None
    if holds_run(rdir):
        if not resume:
            raise ValueError(
                f"run directory {rdir} already holds a run; resume it or choose another output directory"
            )
        try:
            done = RunResult.load(rdir)
        except ValueError:
            done = None
        if done is not None and done.complete and done.total_timesteps >= total:
            _check_same_run(rdir, done.model_dump(), env_id, variant, seed, config)
            return rdir
        state = load_checkpoint_state(rdir)
        if state is not None:
            _check_same_run(rdir, state, env_id, variant, seed, config)

    train_env = make_train_env(env_id, num_envs, env_kwargs)
    eval_env = None
    try:
        eval_env = make_vector_env(env_id, eval_episodes, eval_kwargs)
        names = component_names_of(eval_env, env_id, eval_kwargs)
        model = build_model(variant, train_env, hyperparams, seed=seed, device=device, verbose=0)
    except BaseException:
        train_env.close()
        if eval_env is not None:
            eval_env.close()
        raise

    # ---- everything is valid: from here on the run directory is written ----
    if state is None and holds_run(rdir):
        _clear_stale_outputs(rdir)
    rdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(rdir / CONFIG_FILE, dump_config(config))

    per_rollout = int(run_settings.get("train_episodes_per_rollout", 100))
    train_cb = ComponentReturnsCallback(names, episodes_per_rollout=per_rollout)
    eval_cb = ComponentEvalCallback(
        lambda: evaluate_components(model, eval_env, EVAL_SEED, len(names), deterministic=eval_deterministic),
        names,
        eval_freq=eval_freq,
        episodes=eval_episodes,
        deterministic=eval_deterministic,
    )
    extras = list(extra_callbacks)
    # the capacity loss's random target collects its rollout on one env like the training one (MuJoCo's frozen
    # observation statistics cost a random rollout per env)
    for cb in extras:
        if hasattr(cb, "set_capacity_env_fn"):
            cb.set_capacity_env_fn(lambda: make_train_env(env_id, 1, env_kwargs))
    wall_before = 0.0
    t_start = time.perf_counter()

    def snapshot() -> dict[str, Any]:
        return {
            "env_id": env_id,
            "variant": variant,
            "seed": seed,
            "config": config,
            "train": train_cb.recorder.state_dict(),
            "eval": eval_cb.recorder.state_dict(),
            "extra_histories": [
                _history_state(cb.history) if isinstance(getattr(cb, "history", None), Mapping) else None
                for cb in extras
            ],
            "logger_pending": logger_pending(model.logger),
            "ep_info_buffer": _json_ep_info(model.ep_info_buffer),
            "wall_time_s": wall_before + time.perf_counter() - t_start,
        }

    resume_step = None
    if state is not None:
        resume_step = int(state["num_timesteps"])
        restore_checkpoint(rdir, state, model, seed, device, extras)
        train_cb.recorder.load_state_dict(state["train"])
        eval_cb.recorder.load_state_dict(state["eval"])
        wall_before = float(state.get("wall_time_s", 0.0))

    logger = make_logger(rdir, resume_step)
    if state is not None:
        restore_logger_pending(logger, state.get("logger_pending", {}))
    model.set_logger(logger)
    ckpt_cb = CheckpointCallback(lambda: save_checkpoint(rdir, model, snapshot()), checkpoint_freq)

    def result(complete: bool) -> RunResult:
        return RunResult(
            env_id=env_id,
            algo="ppo",
            variant=variant,
            seed=seed,
            config=config,
            component_names=list(names),
            total_timesteps=int(model.num_timesteps),
            eval=eval_cb.curve(),
            train=train_cb.curve(),
            metrics=collect_metrics(extras),
            versions=library_versions(),
            hardware=hardware_info(str(model.device)),
            wall_time_s=wall_before + time.perf_counter() - t_start,
            complete=complete,
        )

    try:
        model.learn(
            total_timesteps=max(0, total - int(model.num_timesteps)),
            callback=CallbackList([train_cb, eval_cb, *extras, ckpt_cb]),
            reset_num_timesteps=False,
            progress_bar=progress,
        )
    except BaseException:
        if eval_cb.recorder.steps:
            try:
                result(complete=False).save(rdir)
            except Exception:  # noqa: BLE001 - the original error matters more than a partial record
                pass
        raise
    finally:
        logger.close()
        train_env.close()
        eval_env.close()

    res = result(complete=True)
    save_checkpoint(rdir, model, snapshot())
    meta = {"env_id": env_id, "variant": variant, "seed": seed, "policy": type(model.policy).__name__}
    save_policy_weights(model, rdir / POLICY_FILE, meta)
    plot_curves(res, rdir / CURVES_FILE)
    res.save(rdir)
    return rdir
