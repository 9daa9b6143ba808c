"""Figs. 9, 13 and 14 of Bengio et al. (2020) inside ``td-interference``: capacity, singular values, gain over time.

The paper's appendix figures, measured on the runs ``td-interference`` already does:

- Fig. 9 (App., cited in §5.2): "higher-capacity neural networks have a smaller interference in TD experiments
  while the reverse is observed in classification". From the generalisation grid
  (:mod:`baselines.experiments.td_generalisation`): within each (training-set size, seed) dataset, the rank
  correlation of the hidden width with the final rho_bar, per learner. The paper averages rho_bar over training;
  here it is the final value (App. D.2: it stays about constant after a few epochs).
- Fig. 13 (App. D.1): "larger lambda values yield larger singular values and a wider distribution": the singular
  values of the last hidden layer's weight matrix after training, per lambda.
- Fig. 14 (App. D.2): the loss difference by temporal offset over training, as a heat map. The paper shows it
  (for Q-learning on MsPacman) beside its finding that interference stays constant after a few epochs; the
  claim row here asks whether the offset profile settles: its correlation between a quarter of training and the
  end.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

FIGURE = "fig9_fig13_fig14_appendix.png"
FIG9_METHODS = ("td0", "regression", "classification")


def last_hidden_singular_values(model: Any) -> list[float]:
    """Singular values (descending) of the weight matrix of ``model``'s last hidden ``Linear`` layer.

    The paper's "last hidden layer's matrix" (Figs. 12-13): the layer feeding the output head, not the head.
    """
    import torch

    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if len(linears) < 2:
        raise ValueError(f"model has {len(linears)} Linear layer(s); a hidden layer needs >= 2")
    with torch.no_grad():
        return torch.linalg.svdvals(linears[-2].weight.double()).tolist()


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation of a few points (2 widths in a quick run carry a sign); NaN where it has none."""
    from baselines.experiments.report import spearman

    r = spearman(x, y, min_pairs=2)
    return math.nan if r is None else r


def _rho(run: dict[str, Any]) -> float:
    return math.nan if run["rho"] is None else float(run["rho"])  # summary.json stores a non-finite rho as null


def capacity_trends(grid: list[dict[str, Any]], mean_ci: Callable, seed: int = 0) -> dict[str, Any]:
    """Fig. 9: per learner, the mean over datasets of Spearman(hidden width, final rho_bar), with its CI."""
    out: dict[str, Any] = {}
    for method in FIG9_METHODS:
        runs = [r for r in grid if r["method"] == method]
        per_cell = []
        for cell in sorted({(r["size"], r["seed"]) for r in runs}):
            sub = sorted((r for r in runs if (r["size"], r["seed"]) == cell), key=lambda r: r["hidden"])
            rho = _spearman(np.array([r["hidden"] for r in sub], dtype=np.float64), np.array([_rho(r) for r in sub]))
            if math.isfinite(rho):
                per_cell.append(rho)
        cells = np.array(per_cell)
        out[method] = {
            "spearman": list(mean_ci(cells, seed=seed)) if cells.size >= 2 else [math.nan] * 3,
            "datasets": int(cells.size),
            "decreasing_datasets": int((cells < 0).sum()),
            "mean_rho_by_width": {str(h): float(np.nanmean([_rho(r) for r in runs if r["hidden"] == h]))
                                  for h in sorted({r["hidden"] for r in runs})},
        }  # fmt: skip
    return out


def singular_value_trends(lambdas: tuple[float, ...], runs: list[dict[str, Any]], mean_ci: Callable,
                          seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """Fig. 13: per lambda the seed-mean spectrum; Spearman(lambda, mean sigma) and (lambda, std of sigma)."""
    lams = np.array(lambdas, dtype=np.float64)
    spectra = {lam: np.array([r[str(lam)]["singular_values"] for r in runs]) for lam in lambdas}
    mean_sv = np.array([spectra[lam].mean() for lam in lambdas])
    spread = np.array([spectra[lam].std(axis=1).mean() for lam in lambdas])
    top_diff = spectra[1.0][:, 0] - spectra[0.0][:, 0]
    return {
        "mean_spectrum": {str(lam): spectra[lam].mean(axis=0).tolist() for lam in lambdas},
        "mean_sigma": {str(lam): float(v) for lam, v in zip(lambdas, mean_sv, strict=True)},
        "std_sigma": {str(lam): float(v) for lam, v in zip(lambdas, spread, strict=True)},
        "spearman_mean": _spearman(lams, mean_sv),
        "spearman_spread": _spearman(lams, spread),
        "top_sigma_diff": list(mean_ci(top_diff, seed=seed)),  # lambda = 1 minus lambda = 0, paired by seed
    }


def gain_map(runs: list[dict[str, Any]], lam: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fig. 14: (epochs, offsets without 0, seed-mean loss difference [offset, epoch]) of one lambda."""
    curves = [r[str(lam)]["over_training"] for r in runs]
    offsets = np.array(sorted(int(k) for k in curves[0]["loss_difference_by_offset"][0] if int(k) != 0))
    maps = np.array([[[c["loss_difference_by_offset"][j][str(x)] for j in range(len(c["epoch"]))] for x in offsets]
                     for c in curves])  # fmt: skip
    return np.array(curves[0]["epoch"]), offsets, maps.mean(axis=0)


def gain_stability(runs: list[dict[str, Any]], lam: float, quarter_index: int, mean_ci: Callable,
                   seed: int = 0) -> list[float]:  # fmt: skip
    """Per seed, Pearson r across offsets between the loss-difference profile at ``quarter_index`` and the end."""
    rs = []
    for r in runs:
        c = r[str(lam)]["over_training"]["loss_difference_by_offset"]
        keys = [k for k in c[0] if int(k) != 0]
        a, b = np.array([c[quarter_index][k] for k in keys]), np.array([c[-1][k] for k in keys])
        if a.std() > 0 and b.std() > 0:
            rs.append(float(np.corrcoef(a, b)[0, 1]))
    return list(mean_ci(np.array(rs), seed=seed)) if len(rs) >= 2 else [math.nan] * 3


def aggregate_appendix(settings: Any, runs: list[dict[str, Any]], agg: dict[str, Any], gen: dict[str, Any] | None,
                       mean_ci: Callable) -> dict[str, Any]:  # fmt: skip
    """The three figures' statistics (Fig. 9 only when the generalisation grid ran)."""
    quarter = list(settings.checkpoints).index(agg["quarter_epoch"])
    return {
        "fig9": capacity_trends(gen["grid"], mean_ci, settings.seed) if gen else None,
        "fig13": singular_value_trends(settings.lambdas, runs, mean_ci, settings.seed),
        "fig14": {str(lam): gain_stability(runs, lam, quarter, mean_ci, settings.seed) for lam in (0.0, 1.0)},
        "quarter_epoch": agg["quarter_epoch"],
    }


def appendix_claims(app: dict[str, Any], fmt_ci: Callable, epochs: int, ci: str) -> list[dict[str, Any]]:
    """Report rows: the paper's claim, ours, the band and the verdict."""
    rows = []
    f9 = app["fig9"]
    if f9 is not None:
        td, cl = f9["td0"], f9["classification"]
        rows.append({
            "claim": "Higher capacity gives *smaller* interference under TD, the reverse for classifiers (§5.2, "
                     "App. Fig. 9; no number)",
            "ours": "Spearman(hidden width, final ρ̄) within each dataset, mean: TD(0) "
                    f"{fmt_ci(td['spearman'], '.2f')} ({td['decreasing_datasets']}/{td['datasets']} datasets "
                    f"decreasing), regression {fmt_ci(f9['regression']['spearman'], '.2f')}, classifier "
                    f"{fmt_ci(cl['spearman'], '.2f')} ({ci})",
            "band": f"TD(0)'s {ci} < 0 and the classifier's > 0",
            "in_band": td["spearman"][2] < 0 and cl["spearman"][1] > 0,
        })  # fmt: skip
    f13 = app["fig13"]
    rows.append({
        "claim": "Larger λ gives larger singular values of the last hidden layer and a wider spread (App. Fig. 13)",
        "ours": f"Spearman(λ, mean σ) {f13['spearman_mean']:.2f}, Spearman(λ, std of σ) {f13['spearman_spread']:.2f}; "
                "mean σ " + ", ".join(f"λ={k} {v:.3g}" for k, v in f13["mean_sigma"].items())
                + f"; largest σ, λ = 1 − λ = 0 paired: {fmt_ci(f13['top_sigma_diff'])}",
        "band": "both Spearman ≥ 0.8",
        "in_band": f13["spearman_mean"] >= 0.8 and f13["spearman_spread"] >= 0.8,
    })  # fmt: skip
    f14 = app["fig14"]
    rows.append({
        "claim": "The TD gain's pattern over temporal offsets settles after a few epochs (App. D.2, Fig. 14; "
                 "shown, no number)",
        "ours": f"Pearson r across offsets ±1..5 between the loss-difference profile at epoch {app['quarter_epoch']} "
                f"and at epoch {epochs}, per seed: TD(0) {fmt_ci(f14['0.0'], '.2f')}, regression "
                f"{fmt_ci(f14['1.0'], '.2f')} ({ci})",
        "band": "TD(0)'s mean r ≥ 0.5",
        "in_band": f14["0.0"][0] >= 0.5,
    })  # fmt: skip
    for r in rows:
        r["in_band"] = bool(r["in_band"])
    return rows


def plot_appendix(settings: Any, runs: list[dict[str, Any]], app: dict[str, Any], gen: dict[str, Any] | None,
                  out: Path) -> Path:  # fmt: skip
    """Fig. 9 (rho_bar vs width per learner), Fig. 13 (spectra per lambda), Fig. 14 (gain maps, TD(0), lambda=1)."""
    from matplotlib import colormaps

    from baselines.experiments.report import new_figure, save_figure

    fig = new_figure(14.0, 9.0)
    (a9, a13), (a14td, a14mc) = fig.subplots(2, 2)
    if app["fig9"] is not None:
        for method, colour in zip(FIG9_METHODS, ("tab:blue", "tab:green", "tab:red"), strict=True):
            by_w = app["fig9"][method]["mean_rho_by_width"]
            a9.plot([int(k) for k in by_w], list(by_w.values()), marker="o", color=colour,
                    label=f"{method}: Spearman {app['fig9'][method]['spearman'][0]:.2f}")  # fmt: skip
        a9.set_xscale("log", base=2)
        a9.set_yscale("log")
        a9.legend(fontsize=7)
    else:
        a9.text(0.5, 0.5, "generalisation grid not run", ha="center", va="center", transform=a9.transAxes)
    a9.set_title("Fig. 9 analogue: final ρ̄ vs hidden width (mean over sizes, seeds)\n"
                 "(paper: falls with capacity under TD, rises for classifiers)", fontsize=9)  # fmt: skip
    a9.set_xlabel("hidden units per layer")
    a9.set_ylabel("ρ̄ (log)")
    cmap = colormaps["viridis"]
    for i, (lam, spectrum) in enumerate(app["fig13"]["mean_spectrum"].items()):
        a13.plot(np.arange(1, len(spectrum) + 1), spectrum, color=cmap(0.9 * i / max(len(settings.lambdas) - 1, 1)),
                 label=f"λ = {lam}")  # fmt: skip
    a13.set_yscale("log")
    a13.set_xlabel("singular value index")
    a13.set_ylabel("σ of the last hidden layer's weights (log)")
    a13.set_title(f"Fig. 13 analogue: spectrum after {settings.epochs} epochs (mean over seeds)\n"
                  "(paper: larger λ, larger and wider-spread singular values)", fontsize=9)  # fmt: skip
    a13.legend(fontsize=7)
    for ax, lam, name in ((a14td, 0.0, "TD(0)"), (a14mc, 1.0, "regression (λ = 1)")):
        epochs, offsets, m = gain_map(runs, lam)
        lim = float(np.nanmax(np.abs(m))) or 1.0
        im = ax.imshow(m, aspect="auto", origin="lower", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=(-0.5, len(epochs) - 0.5, -0.5, len(offsets) - 0.5))  # fmt: skip
        ax.set_xticks(range(len(epochs)), [str(e) for e in epochs])
        ax.set_yticks(range(len(offsets)), [str(x) for x in offsets])
        ax.set_xlabel("training epoch (checkpoints)")
        ax.set_ylabel("temporal offset x (0 excluded)")
        ax.set_title(f"Fig. 14 analogue, {name}: loss difference at s_t+x after an update on s_t\n"
                     "(red: the update helped; mean over seeds)", fontsize=9)  # fmt: skip
        fig.colorbar(im, ax=ax, shrink=0.85)
    fig.suptitle(f"Bengio et al. (2020) appendix figures on Glimpse ({len(runs)} seeds)", fontsize=10)
    return save_figure(fig, out / FIGURE)


__all__ = ["aggregate_appendix", "appendix_claims", "last_hidden_singular_values", "plot_appendix"]
