"""SB3 callbacks that record what a rayenvs run is judged on: per-component returns, evaluations, checkpoints.

SB3's ``Monitor`` logs only total returns and copies no info keys to TensorBoard, so the component split of
the objective (the whole point of the suite, see :mod:`rayenvs.contract`) would be lost. These callbacks read
``component_returns`` / ``component_present`` from ``self.locals["infos"]`` at episode ends.

Cadence. Evaluations and checkpoints fire at the start of a rollout, i.e. after the update on the previous
rollout, so a point at env step T is the policy trained on exactly T collected steps, and a checkpoint at T
holds everything recorded up to T. An evaluation due at cadence k*freq runs at the first rollout boundary at
or after it (recorded at the true step). Order within one rollout start: evaluation, extra callbacks,
checkpoint.

Returns. An episode's total return is ``info["raw_return"]`` when the env reports one (envs that clip or mask
rewards for training, e.g. Atari, keep the raw score there), else the sum of its component returns, which the
contract makes equal to the sum of rewards; component returns likewise prefer ``raw_component_returns``.
Logged per-component means (``rollout/component_return/<name>``, ``eval/component_return/<name>``) average over
the episodes in which the component was present (``component_present``), i.e. they estimate J_k conditioned on
the component being on offer; results.json keeps every raw episode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from baselines.training.results import Curve
from rayenvs.contract import COMPONENT_PRESENT, COMPONENT_RETURNS

RAW_RETURN = "raw_return"
RAW_COMPONENT_RETURNS = "raw_component_returns"


def episode_outcome(info: dict[str, Any], num_components: int) -> tuple[float, list[float], np.ndarray]:
    """(total return, component returns, presence mask) of an episode from its last step's info."""
    if COMPONENT_RETURNS not in info:
        raise ValueError(
            f"an episode ended without {COMPONENT_RETURNS!r} in its info: the env does not follow the rayenvs "
            f"component contract (rayenvs.contract); info keys were {sorted(info)}"
        )
    comps = np.asarray(info.get(RAW_COMPONENT_RETURNS, info[COMPONENT_RETURNS]), dtype=np.float64)
    if comps.shape != (num_components,):
        raise ValueError(f"component_returns has shape {comps.shape}, expected ({num_components},)")
    total = float(info[RAW_RETURN]) if RAW_RETURN in info else float(np.sum(info[COMPONENT_RETURNS]))
    present = np.asarray(info.get(COMPONENT_PRESENT, np.ones(num_components, dtype=bool)), dtype=bool)
    return total, comps.tolist(), present


def record_component_means(
    logger: Any, prefix: str, names: Sequence[str], comps: np.ndarray, present: np.ndarray
) -> None:
    """Log the mean return of each component over the episodes where it was present."""
    counts = present.sum(axis=0)
    sums = np.where(present, comps, 0.0).sum(axis=0)
    for k, name in enumerate(names):
        if counts[k] > 0:
            logger.record(f"{prefix}/component_return/{name}", float(sums[k] / counts[k]))


class CurveRecorder:
    """Growing lists behind a :class:`Curve`, with a JSON-able state for checkpoints."""

    def __init__(self, deterministic: bool, episodes_per_point: int) -> None:
        self.deterministic = deterministic
        self.episodes_per_point = episodes_per_point
        self.steps: list[int] = []
        self.returns: list[list[float]] = []
        self.component_returns: list[list[list[float]]] = []
        self.component_present: list[list[list[bool]]] = []

    def add(
        self, step: int, returns: list[float], component_returns: list[list[float]], present: list[list[bool]]
    ) -> None:
        self.steps.append(int(step))
        self.returns.append([float(r) for r in returns])
        self.component_returns.append([[float(c) for c in row] for row in component_returns])
        self.component_present.append([[bool(p) for p in row] for row in present])

    def curve(self) -> Curve:
        return Curve(
            steps=list(self.steps),
            returns=[list(r) for r in self.returns],
            component_returns=[[list(c) for c in rows] for rows in self.component_returns],
            component_present=[[list(p) for p in rows] for rows in self.component_present],
            deterministic=self.deterministic,
            episodes_per_point=self.episodes_per_point,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "returns": self.returns, "component_returns": self.component_returns,
                "component_present": self.component_present}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = [int(s) for s in state["steps"]]
        self.returns = [list(r) for r in state["returns"]]
        self.component_returns = [[list(c) for c in rows] for rows in state["component_returns"]]
        self.component_present = [[list(p) for p in rows] for rows in state["component_present"]]


class ComponentReturnsCallback(BaseCallback):
    """Per-component returns of training episodes: logged per rollout and kept for results.json's train curve.

    At each rollout end it logs ``rollout/component_return/<name>`` (mean over the rollout's episodes where the
    component was present) and appends the rollout's last ``episodes_per_rollout`` episodes to the train curve,
    one point per episode at the env step where it ended (``episodes_per_point=1``). The cap bounds the size
    of results.json for one-step envs (a bandit rollout holds thousands of episodes); every episode still
    counts in the logged means.
    """

    def __init__(
        self, component_names: Sequence[str], episodes_per_rollout: int = 100, verbose: int = 0
    ) -> None:
        super().__init__(verbose)
        if episodes_per_rollout < 1:
            raise ValueError(f"episodes_per_rollout={episodes_per_rollout!r} must be >= 1")
        self.component_names = tuple(component_names)
        self.episodes_per_rollout = int(episodes_per_rollout)
        self.recorder = CurveRecorder(deterministic=False, episodes_per_point=1)
        self._reset_rollout()

    def _reset_rollout(self) -> None:
        self._kept: deque[tuple[int, float, list[float], list[bool]]] = deque(maxlen=self.episodes_per_rollout)
        self._comps: list[np.ndarray] = []
        self._present: list[np.ndarray] = []

    def _on_rollout_start(self) -> None:
        self._reset_rollout()

    def _on_step(self) -> bool:
        idx = np.flatnonzero(self.locals["dones"])
        if idx.size == 0:
            return True
        infos = self.locals["infos"]
        batch = [infos[i] for i in idx]
        k = len(self.component_names)
        if any(COMPONENT_RETURNS not in b or RAW_RETURN in b or RAW_COMPONENT_RETURNS in b for b in batch):
            # contract violations raise here; raw returns need the per-episode path
            outcomes = [episode_outcome(b, k) for b in batch]
            totals = [o[0] for o in outcomes]
            comps = np.asarray([o[1] for o in outcomes], dtype=np.float64)
            present = np.asarray([o[2] for o in outcomes], dtype=bool)
        else:
            # one-step envs end thousands of episodes per rollout: batch the common case
            comps = np.asarray([b[COMPONENT_RETURNS] for b in batch], dtype=np.float64)
            if comps.shape != (len(batch), k):
                raise ValueError(f"component_returns have shape {comps.shape[1:]}, expected ({k},)")
            totals = comps.sum(axis=1).tolist()
            ones = np.ones(k, dtype=bool)
            present = np.asarray([b.get(COMPONENT_PRESENT, ones) for b in batch], dtype=bool)
        rows = comps.tolist()
        present_rows = present.tolist()
        for j in range(len(batch)):
            self._kept.append((self.num_timesteps, totals[j], rows[j], present_rows[j]))
        self._comps.append(comps)
        self._present.append(present)
        return True

    def _on_rollout_end(self) -> None:
        if not self._comps:
            return
        record_component_means(
            self.logger,
            "rollout",
            self.component_names,
            np.concatenate(self._comps),
            np.concatenate(self._present),
        )
        for step, total, comps, present in self._kept:
            self.recorder.add(step, [total], [comps], [present])

    def curve(self) -> Curve | None:
        """The train curve so far (None before the first episode ends)."""
        return self.recorder.curve() if self.recorder.steps else None


@dataclass
class EvalEpisodes:
    """Outcome of one evaluation: one entry per episode."""

    returns: list[float]
    component_returns: list[list[float]]
    present: list[list[bool]]


def evaluate_components(
    model: Any, env: Any, seed: int, num_components: int, deterministic: bool = True
) -> EvalEpisodes:
    """Run one episode in each sub-env of a Gymnasium vector env (SAME_STEP autoreset) with ``model.predict``.

    ``env.reset(seed=seed)`` seeds sub-env i with ``seed + i``, so the episodes are those of single envs reset
    with seeds ``seed, seed + 1, ...``: fixed evaluation episodes, batched through the policy.
    """
    from gymnasium.vector import AutoresetMode

    mode = env.metadata.get("autoreset_mode")
    if mode not in (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP.value):
        raise ValueError(
            f"evaluation needs a vector env with SAME_STEP autoreset, got autoreset_mode={mode!r}"
        )
    n = env.num_envs
    obs, _ = env.reset(seed=seed)
    finished = np.zeros(n, dtype=bool)
    out: list[tuple[float, list[float], np.ndarray] | None] = [None] * n
    while not finished.all():
        actions, _ = model.predict(obs, deterministic=deterministic)
        obs, _, terminated, truncated, infos = env.step(actions)
        ended = (np.asarray(terminated) | np.asarray(truncated)) & ~finished
        if ended.any():
            final = infos["final_info"]
            for i in np.flatnonzero(ended):
                info_i = {
                    key: value[i]
                    for key, value in final.items()
                    if not key.startswith("_")
                    and not isinstance(value, dict)
                    and final.get(f"_{key}", np.ones(n, dtype=bool))[i]
                }
                out[i] = episode_outcome(info_i, num_components)
            finished |= ended
    done = [o for o in out if o is not None]
    return EvalEpisodes(
        returns=[o[0] for o in done],
        component_returns=[o[1] for o in done],
        present=[o[2].tolist() for o in done],
    )


class ComponentEvalCallback(BaseCallback):
    """Evaluate at step 0, every ``eval_freq`` env steps (at rollout starts) and at the end of training.

    ``evaluate()`` returns an :class:`EvalEpisodes`; points go to results.json's eval curve and
    ``eval/mean_return`` and ``eval/component_return/<name>`` are logged and dumped at the evaluation's step
    (like SB3's EvalCallback, which also dumps at its own step).
    """

    def __init__(
        self,
        evaluate: Callable[[], EvalEpisodes],
        component_names: Sequence[str],
        eval_freq: int | None,
        episodes: int,
        deterministic: bool = True,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose)
        if eval_freq is not None and eval_freq < 1:
            raise ValueError(f"eval_freq={eval_freq!r} must be >= 1 (or None for start and end only)")
        self.evaluate = evaluate
        self.component_names = tuple(component_names)
        self.eval_freq = eval_freq
        self.recorder = CurveRecorder(deterministic=deterministic, episodes_per_point=episodes)

    def _due(self) -> bool:
        if self.eval_freq is None or not self.recorder.steps:
            return False
        last = self.recorder.steps[-1]
        return self.num_timesteps >= (last // self.eval_freq + 1) * self.eval_freq

    def run_evaluation(self) -> None:
        """Evaluate now and record the point at the current step."""
        res = self.evaluate()
        self.recorder.add(self.num_timesteps, res.returns, res.component_returns, res.present)
        self.logger.record("eval/mean_return", float(np.mean(res.returns)))
        record_component_means(
            self.logger,
            "eval",
            self.component_names,
            np.asarray(res.component_returns, dtype=np.float64),
            np.asarray(res.present, dtype=bool),
        )
        self.logger.record("time/total_timesteps", self.num_timesteps, exclude="tensorboard")
        self.logger.dump(self.num_timesteps)

    def _on_training_start(self) -> None:
        if not self.recorder.steps:
            self.run_evaluation()

    def _on_rollout_start(self) -> None:
        if self._due():
            self.run_evaluation()

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        if not self.recorder.steps or self.recorder.steps[-1] != self.num_timesteps:
            self.run_evaluation()

    def curve(self) -> Curve:
        return self.recorder.curve()


class CheckpointCallback(BaseCallback):
    """Call ``save()`` at the first rollout start at or after every multiple of ``checkpoint_freq`` env steps.

    It runs after the update on the previous rollout and after the other callbacks' rollout-start work, so
    the model, the curves and the metric histories it saves all stop at the same env step.
    """

    def __init__(self, save: Callable[[], None], checkpoint_freq: int | None, verbose: int = 0) -> None:
        super().__init__(verbose)
        if checkpoint_freq is not None and checkpoint_freq < 1:
            raise ValueError(f"checkpoint_freq={checkpoint_freq!r} must be >= 1 (or None for no checkpoints)")
        self.save = save
        self.checkpoint_freq = checkpoint_freq
        self._next: int | None = None

    def _on_training_start(self) -> None:
        if self.checkpoint_freq is not None:
            self._next = (self.num_timesteps // self.checkpoint_freq + 1) * self.checkpoint_freq

    def _on_rollout_start(self) -> None:
        if self._next is not None and self.num_timesteps >= self._next:
            self.save()
            self._next = (self.num_timesteps // self.checkpoint_freq + 1) * self.checkpoint_freq

    def _on_step(self) -> bool:
        return True


class StepClockCallback(BaseCallback):
    """Keep ``clock[0]`` equal to the model's env-step count, so wrappers that read a shared clock (e.g.
    :class:`wrappers.permuted.PermutedActions`) switch at global training steps, for the training and
    the evaluation env alike, and resume at the right phase (SB3 restores ``num_timesteps`` from a checkpoint).
    Callbacks that run before it in a step (``run_training``'s evaluation) still read the previous count, so an
    evaluation that falls exactly on a phase boundary measures the phase that just ended.
    """

    def __init__(self, clock: np.ndarray) -> None:
        super().__init__()
        if np.shape(clock) != (1,) or not np.issubdtype(np.asarray(clock).dtype, np.integer):
            raise ValueError(f"clock must be a one-element integer numpy array, got {clock!r}")
        self.clock = clock

    def _on_training_start(self) -> None:
        self.clock[0] = self.num_timesteps

    def _on_rollout_start(self) -> None:
        self.clock[0] = self.num_timesteps

    def _on_step(self) -> bool:
        self.clock[0] = self.num_timesteps
        return True
