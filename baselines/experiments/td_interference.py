"""``td-interference``: Bengio et al. (2020), interference of TD(lambda) vs regression updates, at small scale.

The paper's Atari policy-evaluation experiments (Section 5, Figs. 3, 4, 5, 11; Appendix D.2) on the suite's
Glimpse task: a fixed behaviour policy's trajectories on a small training set of images, a value network trained
on them by TD(lambda) for several lambdas (lambda = 0: TD(0), full bootstrapping; lambda = 1: Monte-Carlo
regression on the observed returns, no bootstrapping), and the measures of
:mod:`baselines.diagnostics.td_interference` taken over training and at its end:

- function interference rho_bar = grad V(u) . grad V(v) over pairs of states (eq. 8);
- stiffness (gradient cosine) at temporal offsets from an update sample (Fig. 5);
- loss difference at those offsets after one SGD step on the sample, each lambda's own loss (Figs. 3, 4, 11);
- value error against the observed returns on the training images and on held-out test images.

The figures are drawn by :mod:`baselines.experiments.td_interference_figures`, the claim rows and report text
written by :mod:`baselines.experiments.td_interference_report`. The same run then does the paper's
generalisation experiments (Figs. 1, 2, 8: interference vs the generalisation gap over training-set sizes x
capacities for TD(0), regression and a classifier; Fig. 6: sign variance over learning rates), in
:mod:`baselines.experiments.td_generalisation`, Fig. 7's second-order terms
(:mod:`baselines.experiments.td_interference_terms`) and the appendix's Figs. 9, 13 and 14
(:mod:`baselines.experiments.td_interference_appendix`).

The behaviour policy knows half of the classes: it moves the window at random with probability ``p_move``, else
answers, correctly for classes below ``known_classes`` and uniformly at random otherwise. So the value of a
state depends on which digit is behind the window and how much of it is revealed, and generalising to
unseen images needs a representation of the digits, which is what TD and regression may learn differently.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.report import REPORT_FILE, SUMMARY_FILE, output_dir
from rayenvs.atomic import atomic_write_json, atomic_write_text
from rayenvs.validation import check_int, check_seed

NAME = "td-interference"
FULL_LAMBDAS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)
QUICK_LAMBDAS = (0.0, 0.5, 1.0)
FULL_SEEDS = 16
QUICK_SEEDS = 3
NEAR = (1, 2, 3, 4, 5)  # |offsets| averaged into the "near the update sample" numbers (both sides, x != 0)
POOL = 4  # Glimpse's 40x40 observation is average-pooled to 10x10 (3 channels): a 300-input MLP
CI_LEVEL = 0.9  # the paper's bootstrapped 90% confidence intervals
FIGURES = {
    "training": "fig_interference_over_training.png",
    "offsets": "fig5_fig11_offsets.png",
    "lambda": "fig_lambda_summary.png",
    "terms": "fig7_second_order_terms.png",
}


@dataclass(frozen=True)
class TDSettings:
    """What ``td-interference`` runs (per seed: one dataset, one network per lambda from the same init)."""

    seeds: int = FULL_SEEDS
    lambdas: tuple[float, ...] = FULL_LAMBDAS
    gamma: float = 0.9
    num_images: int = 100
    train_episodes: int = 400
    test_episodes: int = 200
    measure_episodes: int = 40
    hidden: tuple[int, ...] = (64, 64)
    lr: float = 1e-3
    epochs: int = 30
    checkpoints: tuple[int, ...] = (0, 1, 2, 4, 8, 15, 30)
    probe_lr: float = 1e-2
    max_offset: int = 10
    anchors: int = 64
    checkpoint_anchors: int = 16
    term_epochs: tuple[int, ...] = (1, 2, 4)  # Fig. 7's second-order terms, "measured early in training"
    term_pairs: int = 32  # 32 x 32 sample pairs, as the paper
    p_move: float = 0.6
    known_classes: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        check_int("seeds", self.seeds, lo=2, hint=" (uncertainty needs several seeds)")
        if len(self.lambdas) < 2 or any(not 0.0 <= x <= 1.0 for x in self.lambdas):
            raise ValueError(f"lambdas={self.lambdas!r} must hold >= 2 values in [0, 1]")
        if 0.0 not in self.lambdas or 1.0 not in self.lambdas:
            raise ValueError(f"lambdas={self.lambdas!r} must include 0 (TD(0)) and 1 (Monte-Carlo regression)")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma={self.gamma!r} must lie in (0, 1]")
        for name in ("num_images", "train_episodes", "test_episodes", "epochs", "anchors", "checkpoint_anchors"):
            check_int(name, getattr(self, name))
        check_int("measure_episodes", self.measure_episodes, lo=2, hi=self.train_episodes)
        check_int("max_offset", self.max_offset, lo=max(NEAR))
        check_int("known_classes", self.known_classes, lo=0, hi=10)
        check_seed(self.seed)
        if sorted(set(self.checkpoints)) != list(self.checkpoints) or not self.checkpoints or \
                self.checkpoints[0] < 0 or self.checkpoints[-1] != self.epochs:  # fmt: skip
            raise ValueError(f"checkpoints={self.checkpoints!r} must increase from >= 0 to epochs={self.epochs}")
        if sorted(set(self.term_epochs)) != list(self.term_epochs) or not self.term_epochs or \
                self.term_epochs[0] < 1 or self.term_epochs[-1] > self.epochs:  # fmt: skip
            raise ValueError(f"term_epochs={self.term_epochs!r} must increase within [1, epochs={self.epochs}]")
        check_int("term_pairs", self.term_pairs)
        for name in ("lr", "probe_lr"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name}={getattr(self, name)!r} must be > 0")
        if not 0.0 <= self.p_move < 1.0:
            raise ValueError(f"p_move={self.p_move!r} must lie in [0, 1)")


QUICK = {"lambdas": QUICK_LAMBDAS, "num_images": 60, "train_episodes": 150, "test_episodes": 100,
         "measure_episodes": 20, "epochs": 15, "checkpoints": (0, 1, 4, 15), "anchors": 24,
         "checkpoint_anchors": 8, "term_epochs": (1, 2), "term_pairs": 16}  # fmt: skip


# -- data ----------------------------------------------------------------------------------------------


def pool_observation(obs: np.ndarray, factor: int = POOL) -> np.ndarray:
    """A Glimpse observation (H, W, C) uint8 as a float32 vector of its ``factor`` x ``factor`` means in [0, 1]."""
    h, w, c = obs.shape
    if h % factor or w % factor:
        raise ValueError(f"observation {obs.shape} is not divisible by the pooling factor {factor}")
    x = np.asarray(obs, dtype=np.float32) / 255.0
    return x.reshape(h // factor, factor, w // factor, factor, c).mean(axis=(1, 3)).reshape(-1)


def collect_glimpse(settings: TDSettings, split: str, episodes: int, seed: int) -> Any:
    """``episodes`` whole episodes of the behaviour policy on Glimpse (``split``), as a ``TrajectoryData``."""
    return collect_glimpse_labelled(settings, split, episodes, seed)[0]


def collect_glimpse_labelled(
    settings: TDSettings, split: str, episodes: int, seed: int, unseen_train_images: bool = False
) -> tuple[Any, np.ndarray, np.ndarray]:
    """:func:`collect_glimpse`, each transition's image class (the supervised reference's labels) and the
    number of steps taken before it in its episode (with the class, what the behaviour policy's value depends on).

    ``unseen_train_images``: episodes on the train split's images after its first ``settings.num_images`` (a
    validation set disjoint from the training images and from the test split; ``split`` must be "train").
    """
    from baselines.diagnostics.td_interference import TrajectoryData
    from rayenvs.envs.glimpse import NUM_CLASSES, GlimpseEnv

    if unseen_train_images and split != "train":
        raise ValueError(f"unseen_train_images needs split='train', got {split!r}")
    env = GlimpseEnv(split=split, num_images=settings.num_images if split == "train" and not unseen_train_images
                     else None)  # fmt: skip
    first = settings.num_images if unseen_train_images else 0
    if first >= env.num_images:
        raise ValueError(f"num_images={first} leaves no unseen train images (the split has {env.num_images})")
    rng = np.random.default_rng(seed)
    obs_l, rew, nxt_l, term, ep, labels, steps = [], [], [], [], [], [], []
    for e in range(episodes):
        image = first + int(rng.integers(env.num_images - first)) if unseen_train_images else int(rng.integers(2**31))
        obs, _ = env.reset(seed=image)
        while True:
            labels.append(env.label)
            steps.append(env.steps)
            if rng.random() < settings.p_move:
                action = NUM_CLASSES + int(rng.integers(4))
            else:
                known = env.label < settings.known_classes
                action = env.label if known else int(rng.integers(NUM_CLASSES))
            next_obs, reward, terminated, truncated, _ = env.step(action)
            obs_l.append(pool_observation(obs))
            nxt_l.append(pool_observation(next_obs))
            rew.append(float(reward))
            term.append(bool(terminated))
            ep.append(e)
            obs = next_obs
            if terminated or truncated:
                break
    data = TrajectoryData(np.stack(obs_l), np.asarray(rew), np.stack(nxt_l), np.asarray(term), np.asarray(ep))
    return data, np.asarray(labels, dtype=np.int64), np.asarray(steps, dtype=np.int64)


def monte_carlo_returns(data: Any, gamma: float) -> np.ndarray:
    """The observed discounted return from each transition to its episode's end (lambda = 1 returns)."""
    from baselines.diagnostics.td_interference import lambda_returns

    zeros = np.zeros(len(data.rewards))
    return lambda_returns(data.rewards, zeros, zeros, data.terminated, data.episode_ids, gamma, 1.0)


def first_episodes(data: Any, count: int) -> Any:
    """The transitions of the first ``count`` episodes (whole trajectories, so lambda-returns stay exact)."""
    from baselines.diagnostics.td_interference import TrajectoryData

    keep = np.flatnonzero(data.episode_ids < count)
    return TrajectoryData(*(np.asarray(getattr(data, k))[keep] for k in
                            ("obs", "rewards", "next_obs", "terminated", "episode_ids")))  # fmt: skip


# -- statistics ----------------------------------------------------------------------------------------


def near_mean(by_offset: dict[int, float]) -> float:
    """Mean of a by-offset measure over offsets ``+-1..+-5`` (the update sample itself excluded)."""
    return float(np.nanmean([by_offset[s * x] for x in NEAR for s in (-1, 1)]))


def mean_ci(values: np.ndarray, level: float = CI_LEVEL, draws: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lo, hi)``: the mean of ``values`` and its percentile-bootstrap ``level`` interval."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    means = np.random.default_rng(seed).choice(v, size=(draws, v.size)).mean(axis=1)
    a = (1 - level) / 2
    return (float(v.mean()), float(np.quantile(means, a)), float(np.quantile(means, 1 - a)))


def _fmt_ci(stat: tuple[float, float, float], spec: str = ".3g") -> str:
    return f"{stat[0]:{spec}} [{stat[1]:{spec}}, {stat[2]:{spec}}]"


# -- runs ----------------------------------------------------------------------------------------------


def _value_error(model: Any, data: Any, returns: np.ndarray) -> float:
    import torch

    with torch.no_grad():
        v = model(torch.as_tensor(data.obs)).squeeze(1).numpy()
    return float(np.mean((v - returns) ** 2))


def run_seed(settings: TDSettings, seed_index: int, progress: Any = None) -> dict[str, Any]:
    """Every lambda on one seed's data: measures over training and at the end (a JSON-ready dict per lambda)."""
    from baselines.diagnostics.td_interference import td_lambda_measures, train_td_lambda
    from baselines.experiments.td_interference_appendix import last_hidden_singular_values
    from baselines.experiments.td_interference_terms import measure_terms, regression_terms

    seed = settings.seed + seed_index
    train = collect_glimpse(settings, "train", settings.train_episodes, seed=2 * seed)
    test = collect_glimpse(settings, "test", settings.test_episodes, seed=2 * seed + 1)
    probe = first_episodes(train, settings.measure_episodes)
    g_train, g_test = monte_carlo_returns(train, settings.gamma), monte_carlo_returns(test, settings.gamma)
    out: dict[str, Any] = {"train_transitions": len(train.obs), "probe_transitions": len(probe.obs)}
    terms: dict[str, dict[str, Any]] = {str(e): {} for e in settings.term_epochs}  # Fig. 7, per epoch and case
    for lam in settings.lambdas:
        curve: dict[str, list[Any]] = {k: [] for k in ("epoch", "rho", "stiffness", "loss_difference",
                                                        "loss_difference_by_offset", "train_error", "test_error")}  # fmt: skip

        def on_epoch(epoch: int, model: Any, lam: float = lam, curve: dict = curve) -> None:
            if lam == 0.0 and epoch in settings.term_epochs:
                terms[str(epoch)].update(measure_terms(model, train, g_train, lam=lam, gamma=settings.gamma,
                                                       pairs=settings.term_pairs, seed=seed))  # fmt: skip
            if epoch not in settings.checkpoints:
                return
            m = td_lambda_measures(model, probe, gamma=settings.gamma, lr=settings.probe_lr, lam=lam,
                                   num_anchors=settings.checkpoint_anchors, max_offset=max(NEAR), seed=seed)  # fmt: skip
            curve["epoch"].append(epoch)
            curve["rho"].append(m.function_interference)
            curve["stiffness"].append(near_mean(m.stiffness))
            curve["loss_difference"].append(near_mean(m.loss_difference))
            curve["loss_difference_by_offset"].append({str(k): v for k, v in m.loss_difference.items()})  # Fig. 14
            curve["train_error"].append(_value_error(model, train, g_train))
            curve["test_error"].append(_value_error(model, test, g_test))

        model = train_td_lambda(train, lam=lam, gamma=settings.gamma, hidden=settings.hidden, lr=settings.lr,
                                epochs=settings.epochs, seed=seed, on_epoch=on_epoch)  # fmt: skip
        if lam == 1.0:
            regression_terms(settings, train, model, seed, terms)
        final = td_lambda_measures(model, probe, gamma=settings.gamma, lr=settings.probe_lr, lam=lam,
                                   num_anchors=settings.anchors, max_offset=settings.max_offset, seed=seed)  # fmt: skip
        out[str(lam)] = {
            **final.to_dict(),
            "stiffness_near": near_mean(final.stiffness),
            "loss_difference_near": near_mean(final.loss_difference),
            "train_error": curve["train_error"][-1],
            "test_error": curve["test_error"][-1],
            "singular_values": last_hidden_singular_values(model),  # Fig. 13
            "over_training": curve,
        }
        if progress is not None:
            progress.update(1)
    out["terms"] = terms
    return out


# -- summary ---------------------------------------------------------------------------------------------


def per_seed(runs: list[dict[str, Any]], lam: float, key: str) -> np.ndarray:
    return np.array([r[str(lam)][key] for r in runs], dtype=np.float64)


def aggregate(settings: TDSettings, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-lambda means with bootstrap CIs over seeds, and the paired TD(0)-vs-regression comparisons."""
    keys = ("function_interference", "stiffness_near", "loss_difference_near", "sign_variance", "train_error",
            "test_error")  # fmt: skip
    by_lambda = {}
    for lam in settings.lambdas:
        stats = {k: mean_ci(per_seed(runs, lam, k), seed=settings.seed) for k in keys}
        stats["generalization_gap"] = mean_ci(per_seed(runs, lam, "test_error") - per_seed(runs, lam, "train_error"),
                                              seed=settings.seed)  # fmt: skip
        by_lambda[str(lam)] = {k: list(v) for k, v in stats.items()}
    rho_ratio = per_seed(runs, 0.0, "function_interference") / per_seed(runs, 1.0, "function_interference")
    ld_td, ld_mc = per_seed(runs, 0.0, "loss_difference_near"), per_seed(runs, 1.0, "loss_difference_near")
    lams = np.array(settings.lambdas)

    def trend(key: str) -> float:
        """Spearman rank correlation of lambda with the seed-mean of ``key`` (1: rises with lambda throughout)."""
        from scipy.stats import spearmanr

        return float(spearmanr(lams, [by_lambda[str(x)][key][0] for x in lams]).statistic)

    # ρ̄ late in training relative to a quarter of the way (App. D.2: "remains constant after a few epochs")
    ck = np.array(settings.checkpoints)
    quarter = int(np.argmin(np.abs(ck - settings.epochs / 4)))
    late = {str(lam): np.array([r[str(lam)]["over_training"]["rho"][-1] / r[str(lam)]["over_training"]["rho"][quarter]
                                for r in runs]) for lam in settings.lambdas}  # fmt: skip
    return {
        "by_lambda": by_lambda,
        "td0_vs_mc": {
            "rho_ratio": list(mean_ci(rho_ratio, seed=settings.seed)),
            "rho_ratio_per_seed": rho_ratio.tolist(),
            "loss_difference_ratio_per_seed": (ld_mc / np.abs(ld_td)).tolist(),
            "loss_difference_mc_positive_seeds": int((ld_mc > 0).sum()),
            "stiffness_diff": list(mean_ci(per_seed(runs, 1.0, "stiffness_near")
                                           - per_seed(runs, 0.0, "stiffness_near"), seed=settings.seed)),
            "loss_difference_diff": list(mean_ci(ld_mc - ld_td, seed=settings.seed)),
            "test_error_diff": list(mean_ci(per_seed(runs, 0.0, "test_error") - per_seed(runs, 1.0, "test_error"),
                                            seed=settings.seed)),
        },  # fmt: skip
        "spearman_lambda": {k: trend(k) for k in ("function_interference", "stiffness_near", "loss_difference_near")},
        "rho_late_over_quarter": {k: list(mean_ci(v, seed=settings.seed)) for k, v in late.items()},
        "quarter_epoch": int(ck[quarter]),
        "seeds_total": len(runs),
    }


def reproduce_td_interference(
    out_dir: str | Path | None = None,
    quick: bool = False,
    seeds: int | None = None,
    device: str = "cpu",
    progress: bool = True,
    generalisation: bool | dict[str, Any] = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Run the reproduction; write eight figures, ``report.md`` and ``summary.json``; return the summary.

    ``overrides`` replace fields of :class:`TDSettings` (tests shrink the work with them); ``quick`` starts
    from the :data:`QUICK` settings. ``generalisation``: run the Figs. 1, 2, 6, 8 grid of
    :mod:`baselines.experiments.td_generalisation` (``True``: its full or quick settings; a dict: fields of its
    ``GeneralisationSettings`` replaced; ``False``: skip it). The networks are small MLPs on a CPU: ``device`` is
    checked and ignored.
    """
    from tqdm.auto import tqdm

    from baselines.training.loop import check_device

    check_device(device)
    base = {**(QUICK if quick else {}), "seeds": QUICK_SEEDS if quick else FULL_SEEDS}
    if seeds is not None:
        base["seeds"] = seeds
    unknown = set(overrides) - set(TDSettings.__dataclass_fields__)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; allowed: {sorted(TDSettings.__dataclass_fields__)}")
    settings = TDSettings(**{**base, **overrides})
    gen_settings = None
    if generalisation is not False:
        from baselines.experiments import td_generalisation as tg

        extra = generalisation if isinstance(generalisation, dict) else {}
        unknown = set(extra) - set(tg.GeneralisationSettings.__dataclass_fields__)
        if unknown or not isinstance(generalisation, bool | dict):
            raise ValueError(f"generalisation={generalisation!r}: must be a bool or a dict of the fields "
                             f"{sorted(tg.GeneralisationSettings.__dataclass_fields__)}")  # fmt: skip
        gen_settings = tg.GeneralisationSettings(**{**(tg.QUICK if quick else {}), **extra})
    out = output_dir(out_dir, NAME)
    t0 = time.perf_counter()
    bar = tqdm(total=settings.seeds * len(settings.lambdas), desc=NAME, unit="run", disable=not progress)
    runs = [run_seed(settings, i, bar) for i in range(settings.seeds)]
    bar.close()
    gen = None if gen_settings is None else tg.run_generalisation(settings, gen_settings, out, progress)
    agg = aggregate(settings, runs)
    from baselines.experiments import td_interference_appendix as appendix
    from baselines.experiments import td_interference_report as report
    from baselines.experiments import td_interference_terms as fig7

    agg["terms"] = fig7.aggregate_terms(runs, mean_ci, seed=settings.seed)
    agg["appendix"] = appendix.aggregate_appendix(settings, runs, agg, gen, mean_ci)
    summary: dict[str, Any] = {
        "experiment": NAME,
        "quick": quick,
        "settings": asdict(settings),
        "mean_train_transitions": float(np.mean([r["train_transitions"] for r in runs])),
        "aggregate": agg,
        "claims": report.claims(settings, agg)
        + fig7.terms_claims(agg["terms"], _fmt_ci, settings.term_epochs, f"{CI_LEVEL:.0%} CI")
        + appendix.appendix_claims(agg["appendix"], _fmt_ci, settings.epochs, f"{CI_LEVEL:.0%} CI"),
        "runs": runs,
        "generalisation": gen,
    }
    from baselines.experiments import td_interference_figures as figures

    files = [figures.plot_over_training(settings, runs, out), figures.plot_offsets(settings, runs, out),
             figures.plot_lambda_summary(settings, runs, agg, out), fig7.plot_terms(runs, out),
             appendix.plot_appendix(settings, runs, agg["appendix"], gen, out)]  # fmt: skip
    files += [Path(p) for p in (gen["files"] if gen else [])]
    summary["wall_time_s"] = time.perf_counter() - t0
    files.append(atomic_write_text(out / REPORT_FILE, report.report_text(summary)))
    files.append(atomic_write_json(out / SUMMARY_FILE, summary))
    summary["files"] = [str(p) for p in files]
    return summary
