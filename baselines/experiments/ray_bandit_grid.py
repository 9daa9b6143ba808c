"""The sampled-learner sweeps of ``ray-bandit`` beyond Figs. 3-4: Fig. 7 (the K x n grid), Fig. 9 (step sizes and
optimizers) and the calibration of the unstated start recipe against Figs. 3 and 5 (Schaul et al. 2019, App. A).

Every job is a batch of on-policy REINFORCE learners (:func:`baselines.bandit.learners.train_bandit`) at the
paper's Appendix A settings (``J(theta0) = K/10``, one sample per context, stop at ``J >= K - 0.1`` or 1e5
samples); jobs that coincide with ``ray_bandit``'s main runs (K = n, SGD at lr 0.1, the default recipe) are
reused, not rerun. Statistics:

- Fig. 7 uses, for every cell, the smoothed slowest-progress statistic (the exact one needs n = 2) and the
  median samples to the stop, the quantity "easier" is about;
- Fig. 9's step sizes use the exact statistic (normalised by the step size, so lr-free in the small-step
  limit); its optimizers use the smoothed one for both SGD and Adam (Adam's progress is not ``lr |grad J|^2``);
- the recipes use the exact statistic (learners, Fig. 3) and the deterministic flow (Fig. 5, from
  ``ray_bandit_figures``), and the default recipe is compared with the one closest to the paper's pair
  (~20%, ~50%) by the larger of the two |log ratios| (within two standard errors of the learners' fraction).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from baselines.experiments.report import new_figure, save_figure

PAPER_FIG3 = 0.20  # Fig. 3: ~20% of on-policy K = 2 runs at eps <= 1e-5
PAPER_FIG5 = 0.50  # Fig. 5: half of the runs from J(theta0) = 0.2 hit a 10x-slower plateau
EPS = 1e-5
EPS_GRID = np.logspace(-8, -1, 71)
WARM = "autumn"  # K < n: warm colours, as in the paper's Fig. 7
COOL = "winter"


def grid_cells(contexts: Sequence[int], arms: Sequence[int]) -> list[tuple[int, int]]:
    """Fig. 7's cells ``(K, n)`` with ``n >= K`` (a context's rewarded arm must exist), sorted by K then n."""
    return sorted({(k, n) for k in contexts for n in arms if n >= k})


def recipe_distance(fig3: float, fig5: float) -> float:
    """The larger relative miss ``|log(ours / paper)|`` of the Fig. 3 and Fig. 5 fractions (inf at 0)."""
    if fig3 <= 0 or fig5 <= 0:
        return math.inf
    return max(abs(math.log(fig3 / PAPER_FIG3)), abs(math.log(fig5 / PAPER_FIG5)))


def log_ratio_se(p: float, seeds: int) -> float:
    """Standard error of ``log(p_hat)`` for a binomial fraction of ``seeds`` runs (delta method; inf at 0)."""
    return math.sqrt((1 - p) / (p * seeds)) if p > 0 else math.inf


def _cell_stats(result: Any, reports: list[Any]) -> dict[str, Any]:
    from baselines.diagnostics.plateaus import plateau_likelihood

    samples = result.samples_to_stop.astype(np.float64)
    return {
        "median_samples": float(np.median(samples)),
        "solved_frac": float(np.mean(result.solved)),
        "p_slowest_smoothed_le_eps": float(plateau_likelihood(reports, [EPS], "slowest")[0]),
        "likelihood": plateau_likelihood(reports, EPS_GRID, "slowest").tolist(),
    }


def _exact_stats(result: Any, slow: np.ndarray) -> dict[str, Any]:
    samples = result.samples_to_stop.astype(np.float64)
    return {
        "seeds": int(result.num_seeds),
        "median_samples": float(np.median(samples)),
        "solved_frac": float(np.mean(result.solved)),
        "p_slowest_le_eps": float((slow <= EPS).mean()),
        "likelihood": [float((slow <= e).mean()) for e in EPS_GRID],
    }


def run_sweeps(
    train: Callable[..., tuple[Any, list[Any]]],
    main: dict[tuple[str, int], Any],
    main_reports: dict[tuple[str, int], list[Any]],
    arms: Sequence[int],
    contexts: Sequence[int],
    step_sizes: Sequence[float],
    adam_lrs: Sequence[float],
    recipe: str,
    lr: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """Train what Figs. 7, 9 and the recipe table need; ``train(K, n, **overrides)`` returns (result, reports).

    ``main`` / ``main_reports`` are ``ray_bandit``'s on-policy runs (keys ``("on-policy", K)``, n = K), reused.
    """
    from baselines.bandit.learners import INIT_RECIPES
    from baselines.experiments.ray_bandit import exact_slowest_progress

    fig7 = {}
    for k, n in grid_cells(contexts, arms):
        progress(f"Fig. 7 K={k} n={n}")
        if n == k and ("on-policy", k) in main:
            res, reps = main[("on-policy", k)], main_reports[("on-policy", k)]
        else:
            res, reps = train(k, n)
        fig7[f"{k},{n}"] = {"K": k, "n": n, **_cell_stats(res, reps)}
    base, base_reps = main[("on-policy", 2)], main_reports[("on-policy", 2)]
    steps = {}
    for step in sorted(set(step_sizes) | {lr}):
        progress(f"Fig. 9 lr={step:g}")
        res = base if step == lr else train(2, 2, lr=step)[0]
        steps[f"{step:g}"] = {"lr": step, **_exact_stats(res, exact_slowest_progress(res, "on-policy"))}
    optimizers = {f"SGD lr {lr:g}": {"optimizer": "sgd", "lr": lr, **_cell_stats(base, base_reps)}}
    for step in adam_lrs:
        progress(f"Fig. 9 adam lr={step:g}")
        res, reps = train(2, 2, optimizer="adam", lr=step)
        optimizers[f"Adam lr {step:g}"] = {"optimizer": "adam", "lr": step, **_cell_stats(res, reps)}
    recipes = {}
    for name in INIT_RECIPES:
        progress(f"start recipe {name}")
        res = base if name == recipe else train(2, 2, init_recipe=name)[0]
        recipes[name] = _exact_stats(res, exact_slowest_progress(res, "on-policy"))
    return {"fig7": fig7, "fig9": {"step_sizes": steps, "optimizers": optimizers}, "recipes": recipes}


def add_flow_recipes(sweeps: dict[str, Any], flow_by_recipe: dict[str, dict[str, float]], default: str) -> None:
    """Join the learners' Fig. 3 fractions with the flow's Fig. 3 / Fig. 5 ones and rank the recipes."""
    table = {}
    for name, s in sweeps["recipes"].items():
        flow = flow_by_recipe[name]
        table[name] = {
            "fig3_learners": s["p_slowest_le_eps"],
            "fig3_flow": flow["fig3"],
            "fig5_flow": flow["fig5"],
            "distance": recipe_distance(s["p_slowest_le_eps"], flow["fig5"]),
        }
    sweeps["recipe_table"] = table
    sweeps["recipe_default"] = default
    # exact ties (the flow's Fig. 5 fraction moves in steps of 1 / angles) go to the default
    sweeps["recipe_closest"] = min(table, key=lambda r: (table[r]["distance"], r != default))
    # the default is "as close as the closest" within two standard errors of its learners' Fig. 3 log fraction
    p = sweeps["recipes"][default]
    sweeps["recipe_tolerance"] = 2 * log_ratio_se(p["p_slowest_le_eps"], p["seeds"])


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else math.inf


def claims(sweeps: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(paper claim, ours, in band?)`` rows of Figs. 7 and 9 and of the start recipe."""
    fig7 = sweeps["fig7"]
    by_k: dict[int, list[dict]] = {}
    for cell in fig7.values():
        by_k.setdefault(cell["K"], []).append(cell)
    rows = []
    pairs = [(min(c, key=lambda c: c["n"]), max(c, key=lambda c: c["n"])) for c in by_k.values() if len(c) > 1]
    if pairs:
        easier = all(hi["median_samples"] < lo["median_samples"] and hi["p_slowest_smoothed_le_eps"]
                     <= lo["p_slowest_smoothed_le_eps"] for lo, hi in pairs)  # fmt: skip
        ours = "; ".join(
            f"K={lo['K']}: n={lo['n']} → {hi['n']}: median samples {lo['median_samples']:.0f} → "
            f"{hi['median_samples']:.0f} ({_ratio(lo['median_samples'], hi['median_samples']):.1f}x fewer), "
            f"P(slowest ≤ 1e-5) {lo['p_slowest_smoothed_le_eps']:.0%} → {hi['p_slowest_smoothed_le_eps']:.0%}"
            for lo, hi in pairs
        )
        rows.append(("Fig. 7: K < n (more arms than contexts) makes learning easier (positive transfer through "
                     "the spurious arms' biases)", ours, easier))  # fmt: skip
    diag = sorted((c for c in fig7.values() if c["K"] == c["n"]), key=lambda c: c["K"])
    if len(diag) > 1:
        med = [c["median_samples"] for c in diag]
        rows.append(("Fig. 7 / App. A: scaling K and n jointly makes it harder (only scaling n makes it easier)",
                     "K = n = " + ", ".join(str(c["K"]) for c in diag) + ": median samples "
                     + " → ".join(f"{m:.0f}" for m in med), all(np.diff(med) > 0)))  # fmt: skip
    steps = sweeps["fig9"]["step_sizes"]
    p = [s["p_slowest_le_eps"] for s in steps.values()]
    rows.append(("Fig. 9 (left, curves only): the likelihood of a bad plateau depends on the step size; on-policy "
                 "runs hit flat plateaus at every step size",
                 "P(slowest ≤ 1e-5, exact) " + ", ".join(f"lr {k}: {s['p_slowest_le_eps']:.0%}" for k, s in steps.items()),
                 min(p) > 0.05 and max(p) - min(p) > 0.05))  # fmt: skip
    opts = sweeps["fig9"]["optimizers"]
    sgd = next(v for v in opts.values() if v["optimizer"] == "sgd")
    adams = [v for v in opts.values() if v["optimizer"] == "adam"]
    if adams:
        best = min(adams, key=lambda v: v["p_slowest_smoothed_le_eps"])
        rows.append(("Fig. 9 (right, curves only) / Sec. 5: the optimizer changes it; practical innovations may "
                     "alleviate ray interference",
                     "P(slowest ≤ 1e-5, smoothed) " + ", ".join(f"{k}: {v['p_slowest_smoothed_le_eps']:.0%}"
                                                                for k, v in opts.items()),
                     best["p_slowest_smoothed_le_eps"] < sgd["p_slowest_smoothed_le_eps"]))  # fmt: skip
    table, default, closest = sweeps["recipe_table"], sweeps["recipe_default"], sweeps["recipe_closest"]
    tol = sweeps["recipe_tolerance"]
    rows.append(("The start recipe is unstated; ours should be the closest to Fig. 3's ~20% and Fig. 5's ~50% "
                 "(distance: larger |log ratio|; within 2 standard errors of the closest)",
                 f"default {default}: Fig. 3 {table[default]['fig3_learners']:.0%}, Fig. 5 "
                 f"{table[default]['fig5_flow']:.0%}, distance {table[default]['distance']:.2f}; closest: {closest} "
                 f"({table[closest]['distance']:.2f}); 2 SE = {tol:.2f}",
                 table[default]["distance"] <= table[closest]["distance"] + tol))  # fmt: skip
    return rows


def report_lines(sweeps: dict[str, Any]) -> list[str]:
    """The report's sections on Fig. 7, Fig. 9 and the start recipes."""
    lines = [
        "## K x n grid (Fig. 7; the paper: K < n is easier, scaling K and n jointly is harder)",
        "",
        "| K | n | solved | median samples to stop | P(slowest ≤ 1e-5, smoothed) |",
        "|---:|---:|---:|---:|---:|",
        *[f"| {c['K']} | {c['n']} | {c['solved_frac']:.1%} | {c['median_samples']:.0f} "
          f"| {c['p_slowest_smoothed_le_eps']:.1%} |" for c in sweeps["fig7"].values()],
        "",
        "## Step sizes and optimizers (Fig. 9; K = n = 2 on-policy)",
        "",
        "SGD rows use the exact statistic (expected progress / lr, step-size free); the optimizer rows use the "
        "smoothed slope of the sampled curve / lr for both (Adam's expected step is not lr |grad J|^2), which "
        "reads higher than the exact one for SGD.",
        "",
        "| setting | solved | median samples to stop | P(slowest ≤ 1e-5) | statistic |",
        "|---|---:|---:|---:|---|",
        *[f"| SGD lr {k} | {s['solved_frac']:.1%} | {s['median_samples']:.0f} | {s['p_slowest_le_eps']:.1%} "
          "| exact |" for k, s in sweeps["fig9"]["step_sizes"].items()],
        *[f"| {k} | {s['solved_frac']:.1%} | {s['median_samples']:.0f} | {s['p_slowest_smoothed_le_eps']:.1%} "
          "| smoothed |" for k, s in sweeps["fig9"]["optimizers"].items()],
        "",
        "## Start recipes (the paper gives none; `baselines.bandit.learners.INIT_RECIPES`)",
        "",
        "`angle`: direction uniform in angle on J1 + J2 = J(θ0) (the paper's \"uniform distribution across "
        "angular directions\", App. B.3-B.4); `simplex`: J uniform on that segment (every split of the initial "
        "performance equally likely); `logit-sphere`: logits of the balanced start plus a random unit vector (a "
        "random parameter direction, App. B.3's \"traditional initialization\"; J(θ0) = 0.2 only on average). "
        "Fig. 3: learners, exact statistic, ε ≤ 1e-5 (paper ~20%); Fig. 5: deterministic flow from J(θ0) = 0.2, "
        "ε ≤ ε_10x (paper ~50%); distance: the larger |log(ours / paper)|.  `angle` is the default because it "
        "is the distribution the paper's text assumes (App. B.3-B.4); the claim table checks that it is within "
        "two standard errors of the closest.",
        "",
        "| recipe | Fig. 3 (learners) | Fig. 3 (flow) | Fig. 5 (flow) | distance |",
        "|---|---:|---:|---:|---:|",
        *[f"| {name}{' (default)' if name == sweeps['recipe_default'] else ''} | {r['fig3_learners']:.1%} "
          f"| {r['fig3_flow']:.1%} | {r['fig5_flow']:.1%} | {r['distance']:.2f} |"
          for name, r in sweeps["recipe_table"].items()],
        "",
    ]  # fmt: skip
    return lines


def _likelihood_axis(ax: Any) -> None:
    ax.axvline(EPS, color="0.5", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("ε (slowest progress per update / lr)")
    ax.set_ylabel("P(slowest progress ≤ ε)")


def plot(sweeps: dict[str, Any], out: Path) -> list[Path]:
    """``fig7_grid.png``, ``fig9_optim.png`` and ``fig3_init_recipes.png``."""
    import matplotlib

    rows = {claim: ours for claim, ours, _ in claims(sweeps)}
    files = []
    # Fig. 7: likelihood curves (warm: K < n) and a median-samples heat map
    fig7 = sweeps["fig7"]
    fig = new_figure(12.0, 4.8)
    ax, hm = fig.subplots(1, 2)
    warm, cool = matplotlib.colormaps[WARM], matplotlib.colormaps[COOL]
    lesser = [c for c in fig7.values() if c["K"] < c["n"]]
    equal = [c for c in fig7.values() if c["K"] == c["n"]]
    for group, cmap in ((lesser, warm), (equal, cool)):
        for i, c in enumerate(group):
            colour = cmap(0.85 * i / max(len(group) - 1, 1))
            ax.plot(EPS_GRID, c["likelihood"], color=colour, lw=1.8, label=f"K={c['K']}, n={c['n']}")
    _likelihood_axis(ax)
    ax.set_title("P(slowest ≤ ε), smoothed statistic (warm: K < n, cool: K = n)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    ks = sorted({c["K"] for c in fig7.values()})
    ns = sorted({c["n"] for c in fig7.values()})
    grid = np.full((len(ks), len(ns)), np.nan)
    for c in fig7.values():
        grid[ks.index(c["K"]), ns.index(c["n"])] = math.log10(max(c["median_samples"], 1.0))
    im = hm.imshow(grid, cmap="viridis", origin="lower", aspect="auto")
    mid = np.nanmean([np.nanmin(grid), np.nanmax(grid)])
    for c in fig7.values():
        light = grid[ks.index(c["K"]), ns.index(c["n"])] > mid  # dark text on viridis' light end
        hm.text(ns.index(c["n"]), ks.index(c["K"]), f"{c['median_samples']:.0f}\n{c['p_slowest_smoothed_le_eps']:.0%}",
                ha="center", va="center", fontsize=9, color="k" if light else "w")  # fmt: skip
    for i, k in enumerate(ks):
        for j, n in enumerate(ns):
            if n < k:
                hm.text(j, i, "n < K\n(no rewarded arm)", ha="center", va="center", fontsize=7, color="0.4")
    hm.set_xticks(range(len(ns)), [str(n) for n in ns])
    hm.set_yticks(range(len(ks)), [str(k) for k in ks])
    hm.set_xlabel("n (arms)")
    hm.set_ylabel("K (contexts)")
    hm.set_title("median samples to stop (log colour) and P(slowest ≤ 1e-5)", fontsize=9)
    fig.colorbar(im, ax=hm, label="log10 median samples")
    easier = next((v for k, v in rows.items() if k.startswith("Fig. 7: K < n")), "")
    fig.suptitle("Fig. 7: paper: K < n (more arms than contexts) is easier; ours: " + easier.split(";")[0], fontsize=9)
    files.append(save_figure(fig, out / "fig7_grid.png"))
    # Fig. 9: step sizes (exact statistic) and optimizers (smoothed)
    fig = new_figure(12.0, 4.6)
    left, right = fig.subplots(1, 2)
    steps = sweeps["fig9"]["step_sizes"]
    cmap = matplotlib.colormaps["viridis"]
    for i, (k, s) in enumerate(steps.items()):
        left.plot(EPS_GRID, s["likelihood"], color=cmap(0.9 * i / max(len(steps) - 1, 1)), lw=1.8,
                  label=f"SGD lr {k}: {s['p_slowest_le_eps']:.0%}")  # fmt: skip
    _likelihood_axis(left)
    left.set_title("step sizes (exact statistic); legend: P(slowest ≤ 1e-5)", fontsize=9)
    left.legend(fontsize=8)
    for i, (k, s) in enumerate(sweeps["fig9"]["optimizers"].items()):
        right.plot(EPS_GRID, s["likelihood"], color=f"C{i}", lw=1.8, label=f"{k}: {s['p_slowest_smoothed_le_eps']:.0%}")
    _likelihood_axis(right)
    right.set_title("optimizers (smoothed statistic); legend: P(slowest ≤ 1e-5)", fontsize=9)
    right.legend(fontsize=8)
    p_steps = [f"{s['p_slowest_le_eps']:.0%}" for s in steps.values()]
    p_opts = [f"{k} {v['p_slowest_smoothed_le_eps']:.0%}" for k, v in sweeps["fig9"]["optimizers"].items()]
    fig.suptitle("Fig. 9: paper (curves only): step sizes and optimizers change the likelihood of a bad plateau\n"
                 f"ours (K = n = 2, on-policy, P(slowest ≤ 1e-5)): lr {', '.join(steps)} → {' → '.join(p_steps)}; "
                 + ", ".join(p_opts), fontsize=9)  # fmt: skip
    files.append(save_figure(fig, out / "fig9_optim.png"))
    # Fig. 3 per start recipe
    fig = new_figure(6.5, 4.2)
    ax = fig.add_subplot()
    table = sweeps["recipe_table"]
    for i, (name, s) in enumerate(sweeps["recipes"].items()):
        tag = " (default)" if name == sweeps["recipe_default"] else ""
        ax.plot(EPS_GRID, s["likelihood"], color=f"C{i}", lw=1.8,
                label=f"{name}{tag}: Fig. 3 {s['p_slowest_le_eps']:.0%}, Fig. 5 (flow) {table[name]['fig5_flow']:.0%}")  # fmt: skip
    _likelihood_axis(ax)
    ax.set_title("Fig. 3 per start recipe (on-policy K = 2, exact statistic)\npaper: ~20% at ε ≤ 1e-5 and Fig. 5 "
                 f"~50%; closest recipe: {sweeps['recipe_closest']}", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    files.append(save_figure(fig, out / "fig3_init_recipes.png"))
    return files
