"""The claim rows and report text of :mod:`baselines.experiments.td_generalisation` (Bengio et al. 2020, Figs. 1, 2, 6, 8)."""

from __future__ import annotations

import math
from typing import Any

from baselines.experiments.td_generalisation import CI_LEVEL, FIGURES, LABELS, METHODS, GeneralisationSettings


def _r(stat: list[float | None]) -> str:
    """``r [lo, hi]``; "n/a" where r is undefined (< 3 runs with rho_bar > 0, or a constant variable)."""
    if any(v is None or not math.isfinite(v) for v in stat):
        return "n/a"
    return f"{stat[0]:+.2f} [{stat[1]:+.2f}, {stat[2]:+.2f}]"


def claims(gen: GeneralisationSettings, agg: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's rows for Figs. 1, 2, 8 and 6: the paper's claim, ours, the band and the verdict."""
    bm, f6 = agg["by_method"], agg["fig6"]
    big = str(gen.sizes[-1])
    ci = f"{CI_LEVEL:.0%} CI"

    def by_size(m: str) -> str:
        return "; ".join(f"{n} images {_r(bm[m]['r_by_size'][str(n)])}" for n in gen.sizes)

    rows = [
        {"claim": "Fig. 1: per training-set size, r(log ρ̄, generalisation gap) is positive for classification "
                  "(early-stopped, §1)",
         "ours": f"r [{ci}] across {len(gen.hidden_units)} capacities x {gen.seeds} seeds, early-stopped "
                 f"classifier: {by_size('classification_es')}. Trained {gen.epochs} epochs: {by_size('classification')}",
         "band": f"early-stopped r > 0 at the largest size ({big} images)",
         "in_band": bm["classification_es"]["r_by_size"][big][0] > 0},
        {"claim": "Fig. 1: given enough data, TD methods have a strong negative r(log ρ̄, gap)",
         "ours": f"TD(0): {by_size('td0')}. Regression (λ = 1): {by_size('regression')}",
         "band": f"TD(0)'s r < -0.3 at the largest size ({big} images)",
         "in_band": bm["td0"]["r_by_size"][big][0] < -0.3},
        {"claim": "Fig. 2: over all sizes and capacities, classification's gap rises with ρ̄ (r > 0.9)",
         "ours": f"r(log ρ̄, gap) over all {len(gen.sizes) * len(gen.hidden_units) * gen.seeds} runs: early-stopped "
                 f"classifier {_r(bm['classification_es']['r_all'])}, trained {gen.epochs} epochs "
                 f"{_r(bm['classification']['r_all'])} ({ci})",
         "band": "early-stopped r > 0.9",
         "in_band": bm["classification_es"]["r_all"][0] > 0.9},
        {"claim": "Fig. 2: for value-based (and regression) methods the correlation is negative, too weak for a "
                  "clear trend",
         "ours": f"r(log ρ̄, gap) over all runs: TD(0) {_r(bm['td0']['r_all'])}, regression "
                 f"{_r(bm['regression']['r_all'])} ({ci})",
         "band": "r < 0.3 for both (negative or weak)",
         "in_band": bm["td0"]["r_all"][0] < 0.3 and bm["regression"]["r_all"][0] < 0.3},
        {"claim": "App. Fig. 8: the gap is driven by the training-set size first (r < -0.91)",
         "ours": "r(log10 training images, gap): " + ", ".join(f"{m} {_r(bm[m]['r_size_gap'])}" for m in METHODS)
                 + "; value gap against the behaviour policy's exact V^π instead of the noisy returns: "
                 + ", ".join(f"{m} {_r(bm[m]['r_size_gap_true_value'])}" for m in ("td0", "regression")),
         "band": "r < -0.91 for every method (value gaps: against the returns)",
         "in_band": all(bm[m]["r_size_gap"][0] < -0.91 for m in METHODS)},
        {"claim": "Fig. 6 / §5.2: large ρ̄ goes with a large sign variance of the TD error (r = 0.71)",
         "ours": f"TD(0) over lr {list(gen.fig6_lrs)} x capacities {list(gen.hidden_units)} x {gen.seeds} seeds "
                 f"({gen.fig6_size} images): r(log ρ̄, sign variance) {_r(f6['r_rho_sign_variance'])} ({ci})",
         "band": "r ≥ 0.5",
         "in_band": f6["r_rho_sign_variance"][0] >= 0.5},
        {"claim": "Fig. 6: parameterisations with large ρ̄ and large sign variance perform worse",
         "ours": f"held-out value error: runs with both above their medians ({f6['high_high_runs']}) "
                 f"{f6['error_high_high']:.4f}, the rest {f6['error_rest']:.4f}; r(sign variance, error) "
                 f"{_r(f6['r_sign_variance_error'])}",
         "band": "high-high runs' mean error > the rest's and r > 0",
         "in_band": f6["error_high_high"] > f6["error_rest"] and f6["r_sign_variance_error"][0] > 0},
    ]  # fmt: skip
    for r in rows:
        r["in_band"] = bool(r["in_band"])
    return rows


def report_lines(section: dict[str, Any]) -> list[str]:
    """The report's generalisation paragraph (the claim rows go in the main table)."""
    g = section["settings"]
    bm = section["aggregate"]["by_method"]
    lines = [
        "## Generalisation gap vs interference (Figs. 1, 2, 8) and sign variance (Fig. 6)",
        "",
        f"Grid: training sets of {g['sizes']} images x two hidden layers of {g['hidden_units']} units x "
        f"{g['seeds']} seeds; per cell one dataset of {g['train_episodes']} behaviour-policy episodes (so every "
        f"size gets about the same number of updates) and {g['test_episodes']} on held-out images, on which TD(0), "
        f"Monte-Carlo regression and a classifier of the image's class are each trained {g['epochs']} epochs (Adam, "
        f"lr {g['lr']}), and a second classifier is early-stopped at its best epoch on {g['val_episodes']} episodes "
        "of train-split images outside the training set (stopped at epoch "
        f"{bm['classification_es']['mean_epochs']:.1f} on average). ρ̄ at the end of training over {g['probe_states']} training states (value: V; classifier: "
        "max softmax probability); gap = held-out minus training loss (value: MSE to the observed returns; "
        "classifier: cross-entropy); for the value learners also against the behaviour policy's exact value V^π "
        "(it depends only on the class and the step: `behaviour_value`), which drops the returns' noise. "
        "Correlations use log10 ρ̄; CIs are percentile bootstraps over runs. Fig. 6: "
        f"TD(0) for lr {g['fig6_lrs']} x the capacities x {g['seeds']} seeds on {g['fig6_size']} images, the sign "
        "variance over windows of 5 steps of the training data's TD(0) errors. "
        f"Figures: `{FIGURES['fig1']}`, `{FIGURES['fig2']}`, `{FIGURES['fig6']}`. "
        f"{section['wall_time_s']:.1f} s of the wall time.",
        "",
        "| method | " + " | ".join(f"gap, {n} images" for n in g["sizes"]) + " | r(log ρ̄, gap), all runs |",
        "|---|" + "---:|" * (len(g["sizes"]) + 1),
    ]  # fmt: skip
    for m in METHODS:
        b = bm[m]
        lines.append(f"| {LABELS[m]} | " + " | ".join(f"{b['mean_gap_by_size'][str(n)]:.4f}" for n in g["sizes"])
                     + f" | {_r(b['r_all'])} |")  # fmt: skip
    for m in ("td0", "regression"):
        b = bm[m]
        lines.append(f"| {LABELS[m]}, gap against the exact V^π | "
                     + " | ".join(f"{b['mean_gap_true_value_by_size'][str(n)]:.4f}" for n in g["sizes"])
                     + f" | {_r(b['r_all_true_value'])} |")  # fmt: skip
    neg = {m: bm[m]["negative_rho_runs"] for m in METHODS if bm[m]["negative_rho_runs"]}
    fit = {m: bm[m]["r_rho_train_loss"] for m in METHODS}
    lines += ["", "r(log ρ̄, training loss) over all runs: "
              + ", ".join(f"{LABELS[m]} " + (f"{r:+.2f}" if r is not None and math.isfinite(r) else "n/a")
                          for m, r in fit.items()) + "."
              + (" Low ρ̄ marks a closely fitted training set for the fully trained classifier too: one that fits its "
                 "training glimpses saturates its softmax, whose max-probability gradients then shrink, so there a "
                 "low ρ̄ goes with memorisation (a large gap), as in TD." if (fit["classification"] or 0) > 0.3 else "")]  # fmt: skip
    lines += ["", "What differs from the paper: its Section 4 ran DDQN control, REINFORCE and classifiers on SVHN / "
              "CIFAR10 with CNNs, training sets of 20-50k images and capacities of width and depth; here the value "
              "learners evaluate a fixed behaviour policy (the paper's value-based runs learn to act), the classifier "
              "sees the glimpses the policy visited, not whole images, and the networks are small MLPs on the "
              "pooled observation. Training sizes stop below the episode count (each image is then seen at least "
              "once)." + (f" Runs with ρ̄ ≤ 0 (no log; left out of the correlations): {neg}." if neg else ""), ""]  # fmt: skip
    return lines
