"""Interference vs generalisation across training-set sizes and capacities (Bengio et al. 2020, Figs. 1, 2, 6, 8).

Part of ``rayenvs reproduce td-interference`` (:mod:`baselines.experiments.td_interference` runs it). Section 4
of the paper trains agents and classifiers on the same images while shrinking the training set and varying the
capacity, and finds that the final function interference rho_bar (eq. 8) correlates *positively* with the
generalisation gap in classification (r > 0.9 over all runs) but negatively or not at all for value-based
methods, whose gap is driven by the training-set size (r < -0.91, App. Fig. 8). Section 5.2 links large rho_bar
to a large sign variance of the TD error (r = 0.71, Fig. 6), and such parameterisations perform worse.

Here, on Glimpse's behaviour-policy trajectories (the ``td-interference`` data) for each training-set size
(``num_images``), capacity (two hidden layers of ``h`` units) and seed, three learners share one dataset:

- ``td0``: TD(0) policy evaluation of V; gap = value error (MSE to the observed returns) on held-out images
  minus on the training images;
- ``regression``: Monte-Carlo regression on the observed returns (TD(lambda = 1)); the same gap;
- ``classification``: a classifier of the image's class from the same observations; gap = test minus train
  cross-entropy; rho_bar of its max softmax probability (the paper's convention for several outputs);
- ``classification_es``: the same, early-stopped at the epoch of lowest cross-entropy on a validation set of
  train-split images outside the training set (the paper's supervised claim holds "when early stopping").

Fig. 6's analogue trains TD(0) over learning rates (one much smaller) x capacities at one training-set size and
relates rho_bar, the sign variance of the TD(0) error (windows of 5 steps) and the final value error.
The figures are drawn by :mod:`baselines.experiments.td_generalisation_figures`, the claim rows and report
text written by :mod:`baselines.experiments.td_generalisation_report`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from rayenvs.validation import check_int

METHODS = ("td0", "regression", "classification", "classification_es")
CLASSIFIERS = ("classification", "classification_es")
LABELS = {"td0": "TD(0) policy evaluation", "regression": "Monte-Carlo regression (λ = 1)",
          "classification": "classification (image class)",
          "classification_es": "classification, early-stopped"}  # fmt: skip
CI_LEVEL = 0.9
MAX_TRAIN_IMAGES = 10_000  # Glimpse's default train split
FIGURES = {"fig1": "fig1_fig8_interference_gap_by_size.png", "fig2": "fig2_gap_vs_interference.png",
           "fig6": "fig6_sign_variance.png"}  # fmt: skip


@dataclass(frozen=True)
class GeneralisationSettings:
    """The grid; the behaviour policy, gamma and probe sizes come from ``td-interference``'s ``TDSettings``."""

    sizes: tuple[int, ...] = (10, 30, 100, 300)
    hidden_units: tuple[int, ...] = (16, 64, 256)
    seeds: int = 3
    train_episodes: int = 400
    test_episodes: int = 200
    val_episodes: int = 100
    probe_states: int = 256
    epochs: int = 30
    lr: float = 1e-3
    fig6_lrs: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    fig6_size: int = 100
    bootstrap: int = 2000

    def __post_init__(self) -> None:
        for name in ("sizes", "hidden_units"):
            v = getattr(self, name)
            if len(v) < 2 or list(v) != sorted(set(v)) or any(not isinstance(x, int) or x < 1 for x in v):
                raise ValueError(f"{name}={v!r} must be >= 2 increasing positive integers")
        if self.sizes[-1] >= MAX_TRAIN_IMAGES:
            raise ValueError(f"sizes={self.sizes!r} must lie in [1, {MAX_TRAIN_IMAGES - 1}] (Glimpse's train split "
                             f"holds {MAX_TRAIN_IMAGES}; the early-stopped classifier validates on the rest)")  # fmt: skip
        check_int("seeds", self.seeds, lo=1)
        if len(self.hidden_units) * self.seeds < 3:
            raise ValueError(f"hidden_units x seeds = {len(self.hidden_units) * self.seeds} runs per size; a "
                             "correlation needs >= 3")  # fmt: skip
        for name in ("train_episodes", "test_episodes", "val_episodes", "epochs"):
            check_int(name, getattr(self, name))
        check_int("probe_states", self.probe_states, lo=2)
        check_int("fig6_size", self.fig6_size, hi=MAX_TRAIN_IMAGES - 1)
        check_int("bootstrap", self.bootstrap, lo=100)
        if len(self.fig6_lrs) < 2 or any(not (math.isfinite(x) and x > 0) for x in (self.lr, *self.fig6_lrs)):
            raise ValueError(f"lr={self.lr!r} and fig6_lrs={self.fig6_lrs!r} (>= 2 values) must be > 0")


QUICK = {"sizes": (10, 100), "hidden_units": (16, 64), "seeds": 2, "train_episodes": 150, "test_episodes": 100,
         "val_episodes": 50, "probe_states": 128, "epochs": 10, "fig6_size": 60}  # fmt: skip


# -- statistics ----------------------------------------------------------------------------------------


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r (paper eq. 9); NaN for fewer than 3 finite pairs or a constant variable."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep] - x[keep].mean(), y[keep] - y[keep].mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / den) if x.size >= 3 and den > 0 else math.nan


def pearson_ci(x: np.ndarray, y: np.ndarray, level: float = CI_LEVEL, draws: int = 2000,
               seed: int = 0) -> tuple[float, float, float]:  # fmt: skip
    """``(r, lo, hi)``: Pearson's r and its percentile-bootstrap ``level`` interval (pairs resampled)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x {x.shape} and y {y.shape} must be 1-d arrays of one length")
    r = pearson(x, y)
    if math.isnan(r):
        return (math.nan, math.nan, math.nan)
    idx = np.random.default_rng(seed).integers(len(x), size=(draws, len(x)))
    boot = np.array([pearson(x[i], y[i]) for i in idx])
    a = (1 - level) / 2
    return (r, float(np.nanquantile(boot, a)), float(np.nanquantile(boot, 1 - a)))


# -- learners and measures -----------------------------------------------------------------------------


def _mlp(inputs: int, hidden: int, outputs: int, seed: int) -> Any:
    from baselines.diagnostics.td_interference import value_mlp

    model = value_mlp(inputs, (hidden, hidden), seed)
    if outputs != 1:
        import torch

        torch.manual_seed(seed + 1)
        model[-1] = torch.nn.Linear(hidden, outputs)
    return model


def train_classifier(obs: np.ndarray, labels: np.ndarray, hidden: int, lr: float, epochs: int, seed: int,
                     minibatch_size: int = 64, val: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Any, int]:  # fmt: skip
    """The supervised reference: an MLP of ``train_td_lambda``'s shape (10 outputs), cross-entropy, Adam.

    Returns the model and its epoch: with ``val = (obs, labels)`` the parameters of the epoch (0 = the
    initialisation) of lowest validation cross-entropy (early stopping), else those after ``epochs``.
    """
    import copy

    import torch

    model = _mlp(obs.shape[1], hidden, 10, seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.as_tensor(obs, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    best = (cross_entropy(_predict(model, val[0]), val[1]), 0, copy.deepcopy(model.state_dict())) if val else None
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), minibatch_size):
            idx = perm[i : i + minibatch_size]
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        if best is not None and (loss := cross_entropy(_predict(model, val[0]), val[1])) < best[0]:
            best = (loss, epoch, copy.deepcopy(model.state_dict()))
    if best is None:
        return model, epochs
    model.load_state_dict(best[2])
    return model, best[1]


def interference(model: Any, obs: np.ndarray, classifier: bool, chunk: int = 64) -> float:
    """rho_bar (eq. 8) of f = V(s), or a classifier's max softmax probability, over pairs of ``obs``' rows.

    Accumulated in chunks of per-sample gradients (sum and sum of squares), so a wide network's N x P gradient
    matrix is never held whole: ``(|sum g|^2 - sum |g|^2) / (N (N - 1))``.
    """
    import torch
    from torch.func import functional_call

    from baselines.diagnostics.td_interference import interference_from_sums, per_sample_grads

    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p: dict[str, Any], b: dict[str, Any]) -> Any:
        out = functional_call(model, p, (b["obs"],))
        return torch.softmax(out, dim=-1).max(dim=-1).values if classifier else out.squeeze(-1)

    x = torch.as_tensor(obs, dtype=torch.float32)
    n = len(x)
    if n < 2:
        raise ValueError(f"interference needs >= 2 states, got {n}")
    total, squares = None, 0.0
    for i in range(0, n, chunk):
        g = per_sample_grads(f, params, {"obs": x[i : i + chunk]}).double()
        total = g.sum(0) if total is None else total + g.sum(0)
        squares += float((g * g).sum())
    return interference_from_sums(total, squares, n)


def _predict(model: Any, obs: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model(torch.as_tensor(obs, dtype=torch.float32)).numpy().astype(np.float64)


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of integer ``labels`` under ``logits`` (N, C), in nats."""
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def behaviour_value(labels: np.ndarray, steps: np.ndarray, *, gamma: float, p_move: float, known_classes: int,
                    max_steps: int = 20) -> np.ndarray:  # fmt: skip
    """V^pi of the ``td-interference`` behaviour policy before step ``steps`` of an image of class ``labels``.

    Each of the ``R = max_steps - steps`` remaining actions answers correctly (reward 1, the end) with
    probability q = (1 - p_move) (1 if the class is known, else 1/10), independently of the observation, so
    V = sum_{k < R} (gamma (1 - q))^k q. The gap against it leaves out the observed returns' noise, which an
    MSE to those returns carries (and a network can memorise on its training transitions).
    """
    labels, steps = np.asarray(labels), np.asarray(steps)
    if steps.min(initial=0) < 0 or steps.max(initial=0) >= max_steps:
        raise ValueError(f"steps must lie in [0, {max_steps - 1}]")
    q = (1.0 - p_move) * np.where(labels < known_classes, 1.0, 0.1)
    a = gamma * (1.0 - q)
    return q * (1.0 - a ** (max_steps - steps)) / (1.0 - a)


def td0_errors(model: Any, data: Any, gamma: float) -> np.ndarray:
    """delta_t = r_t + gamma (1 - term_t) V(s_t+1) - V(s_t) under the current network."""
    v, nv = _predict(model, data.obs)[:, 0], _predict(model, data.next_obs)[:, 0]
    return data.rewards + gamma * (1.0 - data.terminated) * nv - v


# -- runs ----------------------------------------------------------------------------------------------


def _datasets(td: Any, gen: GeneralisationSettings, size: int, seed: int) -> dict[str, Any]:
    from baselines.experiments.td_interference import collect_glimpse_labelled, monte_carlo_returns

    sized = replace(td, num_images=size)
    train, y_train, t_train = collect_glimpse_labelled(sized, "train", gen.train_episodes, seed=2 * seed)
    test, y_test, t_test = collect_glimpse_labelled(sized, "test", gen.test_episodes, seed=2 * seed + 1)
    val, y_val, _ = collect_glimpse_labelled(sized, "train", gen.val_episodes, seed=10**6 + seed,
                                             unseen_train_images=True)  # fmt: skip
    probe = np.random.default_rng(seed).choice(len(train.obs), size=min(gen.probe_states, len(train.obs)),
                                               replace=False)  # fmt: skip
    policy = {"gamma": td.gamma, "p_move": td.p_move, "known_classes": td.known_classes}
    return {"train": train, "test": test, "y_train": y_train, "y_test": y_test, "probe": np.sort(probe),
            "val": (val.obs, y_val),
            "g_train": monte_carlo_returns(train, td.gamma), "g_test": monte_carlo_returns(test, td.gamma),
            "v_train": behaviour_value(y_train, t_train, **policy), "v_test": behaviour_value(y_test, t_test, **policy)}  # fmt: skip


def _value_run(d: dict[str, Any], td: Any, lam: float, hidden: int, lr: float, epochs: int, seed: int) -> tuple:
    from baselines.diagnostics.td_interference import train_td_lambda

    model = train_td_lambda(d["train"], lam=lam, gamma=td.gamma, hidden=(hidden, hidden), lr=lr, epochs=epochs,
                            seed=seed)  # fmt: skip
    v_train, v_test = _predict(model, d["train"].obs)[:, 0], _predict(model, d["test"].obs)[:, 0]
    train_loss, test_loss = float(np.mean((v_train - d["g_train"]) ** 2)), float(np.mean((v_test - d["g_test"]) ** 2))
    true_gap = float(np.mean((v_test - d["v_test"]) ** 2) - np.mean((v_train - d["v_train"]) ** 2))
    return model, train_loss, test_loss, true_gap


def run_grid_cell(td: Any, gen: GeneralisationSettings, size: int, seed_index: int,
                  progress: Any = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every capacity x method on one (training-set size, seed) dataset: final rho_bar, losses and gap."""
    seed = td.seed + 1000 + seed_index  # datasets apart from the td-interference seeds'
    d = _datasets(td, gen, size, seed)
    probe = d["train"].obs[d["probe"]]
    out = []
    for hidden in gen.hidden_units:
        for method in METHODS:
            epoch = gen.epochs
            if method in CLASSIFIERS:
                model, epoch = train_classifier(d["train"].obs, d["y_train"], hidden, gen.lr, gen.epochs, seed,
                                                val=d["val"] if method == "classification_es" else None)  # fmt: skip
                train_loss = cross_entropy(_predict(model, d["train"].obs), d["y_train"])
                test_loss = cross_entropy(_predict(model, d["test"].obs), d["y_test"])
                true_gap = math.nan
            else:
                lam = 0.0 if method == "td0" else 1.0
                model, train_loss, test_loss, true_gap = _value_run(d, td, lam, hidden, gen.lr, gen.epochs, seed)
            out.append({"method": method, "size": size, "hidden": hidden, "seed": seed_index,
                        "transitions": len(d["train"].obs),
                        "epochs": epoch, "rho": interference(model, probe, classifier=method in CLASSIFIERS),
                        "train_loss": train_loss, "test_loss": test_loss, "gap": test_loss - train_loss,
                        "gap_true_value": true_gap})  # fmt: skip
            if progress is not None:
                progress.update(1)
    return out


def run_fig6_cell(td: Any, gen: GeneralisationSettings, seed_index: int, progress: Any = None) -> list[dict]:
    """TD(0) over learning rates x capacities on one dataset: rho_bar, TD(0) sign variance, value errors."""
    from baselines.diagnostics.td_interference import sign_variance

    seed = td.seed + 2000 + seed_index
    d = _datasets(td, gen, gen.fig6_size, seed)
    out = []
    for lr in gen.fig6_lrs:
        for hidden in gen.hidden_units:
            model, train_loss, test_loss, _ = _value_run(d, td, 0.0, hidden, lr, gen.epochs, seed)
            delta = td0_errors(model, d["train"], td.gamma)
            out.append({"lr": lr, "hidden": hidden, "seed": seed_index,
                        "rho": interference(model, d["train"].obs[d["probe"]], classifier=False),
                        "sign_variance": sign_variance(delta, d["train"].episode_ids),
                        "train_error": train_loss, "test_error": test_loss})  # fmt: skip
            if progress is not None:
                progress.update(1)
    return out


# -- analysis -------------------------------------------------------------------------------------------


def _col(runs: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([r[key] for r in runs], dtype=np.float64)


def log_rho(runs: list[dict[str, Any]]) -> np.ndarray:
    rho = _col(runs, "rho")
    return np.log10(np.where(rho > 0, rho, np.nan))  # rho_bar < 0 (rare, anti-aligned gradients) has no log


def analyse(gen: GeneralisationSettings, grid: list[dict[str, Any]], fig6: list[dict[str, Any]]) -> dict[str, Any]:
    """Fig. 1: r(log rho_bar, gap) per method and size; Fig. 2: over all runs; Fig. 8: r(log size, gap); Fig. 6."""
    ci = {"draws": gen.bootstrap, "seed": 0}
    by_method: dict[str, Any] = {}
    for m in METHODS:
        runs = [r for r in grid if r["method"] == m]
        per_size = {}
        for n in gen.sizes:
            sub = [r for r in runs if r["size"] == n]
            per_size[str(n)] = list(pearson_ci(log_rho(sub), _col(sub, "gap"), **ci))
        by_method[m] = {
            "r_by_size": per_size,
            "r_all": list(pearson_ci(log_rho(runs), _col(runs, "gap"), **ci)),
            "r_size_gap": list(pearson_ci(np.log10(_col(runs, "size")), _col(runs, "gap"), **ci)),
            "r_rho_train_loss": pearson(log_rho(runs), _col(runs, "train_loss")),
            "negative_rho_runs": int(np.sum(_col(runs, "rho") <= 0)),
            "mean_epochs": float(np.mean(_col(runs, "epochs"))),
            "mean_gap_by_size": {str(n): float(np.mean([r["gap"] for r in runs if r["size"] == n])) for n in gen.sizes},
        }  # fmt: skip
        if m not in CLASSIFIERS:  # the gap against the behaviour policy's exact value, without the returns' noise
            true_gap = _col(runs, "gap_true_value")
            by_method[m]["r_size_gap_true_value"] = list(pearson_ci(np.log10(_col(runs, "size")), true_gap, **ci))
            by_method[m]["r_all_true_value"] = list(pearson_ci(log_rho(runs), true_gap, **ci))
            by_method[m]["mean_gap_true_value_by_size"] = {
                str(n): float(np.mean([r["gap_true_value"] for r in runs if r["size"] == n])) for n in gen.sizes}
    lr6, sv, err = _col(fig6, "lr"), _col(fig6, "sign_variance"), _col(fig6, "test_error")
    lrho = log_rho(fig6)
    high = (lrho > np.nanmedian(lrho)) & (sv > np.median(sv))
    return {
        "by_method": by_method,
        "fig6": {
            "r_rho_sign_variance": list(pearson_ci(lrho, sv, **ci)),
            "r_sign_variance_error": list(pearson_ci(sv, err, **ci)),
            "high_high_runs": int(high.sum()),
            "error_high_high": float(err[high].mean()) if high.any() else math.nan,
            "error_rest": float(err[~high].mean()) if (~high).any() else math.nan,
            "by_lr": {f"{lr:g}": {"sign_variance": float(sv[lr6 == lr].mean()), "test_error": float(err[lr6 == lr].mean()),
                                  "log10_rho": float(np.nanmean(lrho[lr6 == lr]))} for lr in gen.fig6_lrs},
        },  # fmt: skip
    }


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float as ``None`` (summary.json is strict JSON)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def run_generalisation(td: Any, gen: GeneralisationSettings, out: Path, progress: bool = True) -> dict[str, Any]:
    """The grid and the Fig. 6 sweep, their figures; a JSON-ready section with ``claims`` and ``files``."""
    import time

    from tqdm.auto import tqdm

    from baselines.experiments import td_generalisation_figures as figures
    from baselines.experiments.td_generalisation_report import claims

    t0 = time.perf_counter()
    total = gen.seeds * (len(gen.sizes) * len(gen.hidden_units) * len(METHODS) + len(gen.fig6_lrs) * len(gen.hidden_units))
    bar = tqdm(total=total, desc="td-interference generalisation", unit="run", disable=not progress)
    grid = [r for n in gen.sizes for s in range(gen.seeds) for r in run_grid_cell(td, gen, n, s, bar)]
    fig6 = [r for s in range(gen.seeds) for r in run_fig6_cell(td, gen, s, bar)]
    bar.close()
    agg = analyse(gen, grid, fig6)
    files = [figures.plot_fig1(gen, grid, agg, out / FIGURES["fig1"]), figures.plot_fig2(gen, grid, agg, out / FIGURES["fig2"]),
             figures.plot_fig6(gen, fig6, agg, out / FIGURES["fig6"])]  # fmt: skip
    return json_safe({"settings": asdict(gen), "aggregate": agg, "claims": claims(gen, agg), "grid": grid, "fig6_runs": fig6,
            "wall_time_s": time.perf_counter() - t0, "files": [str(p) for p in files]})  # fmt: skip
