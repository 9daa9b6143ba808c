"""One training run of PPO (a named variant) on a rayenvs env, from resolved config to a finished run directory.

:func:`run_training` is what ``rayenvs train``, the sweeps and ``rayenvs quickstart`` call. A run directory
(``<out>/<env>/<variant>/seed_<s>/``, see :func:`run_dir_for`) ends with

``config.yaml``          the resolved hyperparameters (also inside results.json)
``results.json``         :class:`baselines.training.results.RunResult`: eval and train curves, metrics, versions, ...
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

import re
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.training.checkpoints import (
    CHECKPOINT_DIR,
    PROGRESS_FILE,
    _history_state,
    _json_ep_info,
    collect_metrics,
    load_checkpoint_state,
    logger_pending,
    make_logger,
    restore_checkpoint,
    restore_logger_pending,
    save_checkpoint,
)
from baselines.training.progress import TrainProgress
from baselines.training.vec_env import component_names_of, make_train_env, make_vector_env
from rayenvs.atomic import atomic_write, atomic_write_text
from rayenvs.validation import check_int, check_seed

EVAL_SEED = 1_000_000
CONFIG_FILE = "config.yaml"
CURVES_FILE = "curves.png"
POLICY_FILE = "policy.safetensors"
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



# --------------------------------------------------------------------------------------------------------
# Logging that survives a resume




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


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    """``key: old -> new`` for every (dotted) hyperparameter that differs, nested mappings walked."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out.extend(_changed_keys(a, b, f"{prefix}{key}."))
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out


def wrapper_signature(wrapper: Callable[[Any], Any]) -> str:
    """``module.name(key=value, ...)`` of an env wrapper factory (a class, function or ``functools.partial``);
    array arguments (a shared step clock) are left out: they are state, not settings."""
    import functools

    import numpy as np

    args: list[str] = []
    while isinstance(wrapper, functools.partial):
        args = [repr(a) for a in wrapper.args] + [
            f"{k}={v!r}" for k, v in sorted(wrapper.keywords.items()) if not isinstance(v, np.ndarray)
        ] + args
        wrapper = wrapper.func
    name = f"{getattr(wrapper, '__module__', '?')}.{getattr(wrapper, '__qualname__', type(wrapper).__name__)}"
    return f"{name}({', '.join(args)})"


def _check_same_run(
    rdir: Path, saved: Mapping[str, Any], env_id: str, variant: str, seed: int, config: Mapping[str, Any]
) -> None:
    """Refuse to resume a run directory whose run differs from this one.

    The budget may grow (the run is extended) but never shrink: a checkpoint past the new budget, or a finished
    run longer than it, would otherwise be marked complete under a budget it was not trained for.
    """
    mismatch = [
        key
        for key, want in (("env_id", env_id), ("variant", variant), ("seed", seed))
        if saved.get(key) != want
    ]
    saved_cfg = dict(saved.get("config", {}))
    changes = _changed_keys(
        {k: v for k, v in saved_cfg.items() if k != "n_timesteps"},
        {k: v for k, v in config.items() if k != "n_timesteps"},
    )
    if changes:
        mismatch.append("config")
    if mismatch:
        detail = f" ({'; '.join(changes)})" if changes else ""
        raise ValueError(
            f"cannot resume {rdir}: its run differs in {mismatch} from this one{detail}; "
            "rerun without those changes or choose another --out"
        )
    old_budget, new_budget = saved_cfg.get("n_timesteps"), config.get("n_timesteps")
    if old_budget is not None and new_budget is not None and int(new_budget) < int(old_budget):
        raise ValueError(
            f"cannot resume {rdir}: the budget changed from n_timesteps={int(old_budget)} to {int(new_budget)}; "
            "a resume may extend a run but not shorten it: pass --timesteps >= "
            f"{int(old_budget)} or choose another --out"
        )


def check_device(device: str) -> None:
    """Refuse a device torch cannot parse or this machine lacks, before anything is built."""
    from baselines.common.devices import resolve_device

    resolve_device(device)


@dataclass(frozen=True)
class TrainingConfig:
    """One PPO run, as :func:`run_training` takes it: the single source of truth, checked on creation.

    ``overrides`` are ``--set`` strings or a mapping of (dotted) keys to values; ``timesteps`` overrides the
    config's ``n_timesteps``. ``eval_freq`` / ``checkpoint_freq`` default to 1/20 and 1/10 of the budget.
    ``run_dir`` overrides the ``out_dir/<env>/<variant>/seed_<s>`` layout. ``progress`` shows
    :class:`baselines.training.progress.TrainProgress` on stderr (a bar on a terminal, status lines otherwise),
    headed ``progress_label`` (default ``"<env> <variant> seed <s>"``). ``env_wrappers`` wrap every single env of
    the training and the evaluation env, in order (they force ``SyncVectorEnv``): a study's change of the task,
    e.g. :class:`wrappers.permuted.PermutedActions`. Their signatures (:func:`wrapper_signature`) join the run's
    config, so resuming or reusing a run under other wrappers is refused like any other config change.
    """

    env_id: str
    variant: str = "baseline"
    seed: int = 0
    timesteps: int | None = None
    out_dir: str | Path | None = None
    config_path: str | Path | None = None
    overrides: Mapping[str, Any] | Iterable[str] | None = None
    device: str = "auto"
    eval_freq: int | None = None
    eval_episodes: int = 10
    checkpoint_freq: int | None = None
    resume: bool = False
    progress: bool = True
    progress_label: str | None = None
    run_dir: str | Path | None = None
    n_envs: int | None = None
    eval_deterministic: bool = True
    env_wrappers: tuple[Callable[[Any], Any], ...] = ()

    def __post_init__(self) -> None:
        check_seed(self.seed)
        check_int("eval_episodes", self.eval_episodes)
        check_int("eval_freq", self.eval_freq, allow_none=True)
        check_int("checkpoint_freq", self.checkpoint_freq, allow_none=True)


def run_training(
    *args: Any,
    config: TrainingConfig | None = None,
    extra_callbacks: Sequence[Any] = (),
    on_checkpoint: Callable[[Path], None] | None = None,
    **kwargs: Any,
) -> Path:
    """Train one seed of ``variant`` on ``env_id`` and return its finished run directory.

    Pass a :class:`TrainingConfig` as ``config``, or its fields as arguments (``run_training(env_id,
    variant=..., seed=...)``), which build one. Every argument is validated, the envs and the model are built,
    and only then is anything written, so a bad argument leaves no trace.
    With ``resume``, a run that finished with at least this budget is returned as is, one with a checkpoint
    continues from it, and one with neither starts over; without it an existing run directory is an error.
    Callbacks in ``extra_callbacks`` run after the evaluation; those with a ``history`` attribute
    (``{key: [(env step, value)]}``) are checkpointed and merged into results.json's ``metrics``.
    ``on_checkpoint(run_dir)`` is called right after each checkpoint, with the CSV and TensorBoard logs
    flushed, so the run directory is a consistent snapshot to copy (the Ray backend ships it to the driver).
    """
    if config is None:
        config = TrainingConfig(*args, **kwargs)
    elif args or kwargs:
        raise TypeError("run_training takes either config= or TrainingConfig's fields, not both")
    cfg = config
    from stable_baselines3.common.callbacks import CallbackList

    import rayenvs  # noqa: F401 - registers the ids
    from baselines.ppo.variants import build_model, canonical_variant
    from baselines.training.callbacks import (
        CheckpointCallback,
        ComponentEvalCallback,
        ComponentReturnsCallback,
        evaluate_components,
    )
    from baselines.training.config import dump_config, resolve_config, split_config
    from baselines.training.plots import plot_curves
    from baselines.training.results import RunResult, hardware_info, library_versions
    from rayenvs.paths import runs_dir
    from rayenvs.registration import env_info

    env_info(cfg.env_id)
    variant = canonical_variant(cfg.variant)
    check_device(cfg.device)
    resolved = resolve_config(cfg.env_id, cfg.config_path, cfg.overrides, timesteps=cfg.timesteps, n_envs=cfg.n_envs)
    run_settings, hyperparams = split_config(resolved)
    if cfg.env_wrappers:  # part of the run's identity, not a hyperparameter: added after the split
        resolved = {**resolved, "env_wrappers": [wrapper_signature(w) for w in cfg.env_wrappers]}
    total = int(resolved.get("n_timesteps", 0))
    check_int("timesteps (n_timesteps)", total)
    num_envs = int(run_settings.get("n_envs", 1))
    env_kwargs = dict(run_settings.get("env_kwargs") or {})
    eval_kwargs = dict(run_settings.get("eval_env_kwargs") or env_kwargs)
    eval_freq = cfg.eval_freq or max(1, total // DEFAULT_EVALS_PER_RUN)
    checkpoint_freq = cfg.checkpoint_freq or max(1, total // DEFAULT_CHECKPOINTS_PER_RUN)

    rdir = Path(cfg.run_dir) if cfg.run_dir is not None else run_dir_for(cfg.out_dir or runs_dir(), cfg.env_id, variant, cfg.seed)
    state: dict[str, Any] | None = None
    if holds_run(rdir):
        if not cfg.resume:
            raise ValueError(
                f"run directory {rdir} already holds a run; resume it or choose another output directory"
            )
        try:
            done = RunResult.load(rdir)
        except ValueError:
            done = None
        if done is not None and done.complete and done.total_timesteps >= total:
            _check_same_run(rdir, done.model_dump(), cfg.env_id, variant, cfg.seed, resolved)
            return rdir
        state = load_checkpoint_state(rdir)
        if state is not None:
            _check_same_run(rdir, state, cfg.env_id, variant, cfg.seed, resolved)

    train_env = make_train_env(cfg.env_id, num_envs, env_kwargs, cfg.env_wrappers)
    eval_env = None
    try:
        eval_env = make_vector_env(cfg.env_id, cfg.eval_episodes, eval_kwargs, cfg.env_wrappers)
        names = component_names_of(eval_env, cfg.env_id, eval_kwargs)
        model = build_model(variant, train_env, hyperparams, seed=cfg.seed, device=cfg.device, verbose=0)
    except BaseException:
        train_env.close()
        if eval_env is not None:
            eval_env.close()
        raise

    # ---- everything is valid: from here on the run directory is written ----
    if state is None and holds_run(rdir):
        _clear_stale_outputs(rdir)
    rdir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(rdir / CONFIG_FILE, dump_config(resolved))

    per_rollout = int(run_settings.get("train_episodes_per_rollout", 100))
    train_cb = ComponentReturnsCallback(names, episodes_per_rollout=per_rollout)
    eval_cb = ComponentEvalCallback(
        lambda: evaluate_components(model, eval_env, EVAL_SEED, len(names), deterministic=cfg.eval_deterministic),
        names,
        eval_freq=eval_freq,
        episodes=cfg.eval_episodes,
        deterministic=cfg.eval_deterministic,
    )
    extras = list(extra_callbacks)
    # the capacity loss's random target collects its rollout on one env like the training one (MuJoCo's frozen
    # observation statistics cost a random rollout per env)
    for cb in extras:
        if hasattr(cb, "set_capacity_env_fn"):
            cb.set_capacity_env_fn(lambda: make_train_env(cfg.env_id, 1, env_kwargs))
    wall_before = 0.0
    t_start = time.perf_counter()

    def snapshot() -> dict[str, Any]:
        return {
            "env_id": cfg.env_id,
            "variant": variant,
            "seed": cfg.seed,
            "config": resolved,
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
        restore_checkpoint(rdir, state, model, cfg.seed, cfg.device, extras)
        train_cb.recorder.load_state_dict(state["train"])
        eval_cb.recorder.load_state_dict(state["eval"])
        wall_before = float(state.get("wall_time_s", 0.0))

    logger = make_logger(rdir, resume_step)
    if state is not None:
        restore_logger_pending(logger, state.get("logger_pending", {}))
    model.set_logger(logger)

    def take_checkpoint() -> None:
        save_checkpoint(rdir, model, snapshot())
        if on_checkpoint is not None:
            for fmt in logger.output_formats:
                if hasattr(fmt, "writer"):  # TensorBoard buffers events; CSV flushes every dump
                    fmt.writer.flush()
            on_checkpoint(rdir)

    ckpt_cb = CheckpointCallback(take_checkpoint, checkpoint_freq)
    shown = [TrainProgress(total, cfg.progress_label or f"{cfg.env_id} {variant} seed {cfg.seed}")] if cfg.progress else []

    def result(complete: bool) -> RunResult:
        return RunResult(
            env_id=cfg.env_id,
            algo="ppo",
            variant=variant,
            seed=cfg.seed,
            config=resolved,
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
            callback=CallbackList([train_cb, eval_cb, *extras, ckpt_cb, *shown]),
            reset_num_timesteps=False,
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
    meta = {"env_id": cfg.env_id, "variant": variant, "seed": cfg.seed, "policy": type(model.policy).__name__}
    save_policy_weights(model, rdir / POLICY_FILE, meta)
    plot_curves(res, rdir / CURVES_FILE)
    res.save(rdir)
    return rdir
