"""Fig. 7 of Bengio et al. (2020) inside ``td-interference``: how interference itself moves, term by term.

After an update on sample B, interference at A changes at the rate ``rho' = -(r1 + r2 + r3)``
(:mod:`baselines.diagnostics.td_second_order`). The paper measures the three terms early in training on
MsPacman, over 32 x 32 sample pairs, for regression (to a fixed target) and for TD with a frozen target (DQN)
and a self-bootstrapping one (QL), and reads their signs: regression's r1 and r2 are positive much more often
than not (updates keep aligning the gradients), TD's have a far larger share of negative samples, r2 above all
(it carries ``delta_A delta_B``), and TD's r3 is small and negative on average.

Here the three cases come from the ``td-interference`` runs, early in training: a fresh network regressing on
the values of the fully trained lambda = 1 network (Reg, as the paper regresses on Q_theta*), and the lambda = 0
network read with a fixed target
``r + gamma V(s')`` (frozen: its targets are recomputed once per epoch, as DQN's frozen network) and with a
target that moves with the step (self, the paper's QL case).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

CASES = {
    "regression": "Reg (to the trained λ = 1 network's values)",
    "td_frozen": "TD(0), frozen target (DQN)",
    "td_self": "TD(0), self target (QL)",
}
TERMS = ("r1", "r2", "r3")
STATS = ("mean", "positive_mean", "negative_mean", "negative_share", "mean_abs")


def measure_terms(model: Any, data: Any, targets: np.ndarray | None, *, lam: float, gamma: float, pairs: int,
                  seed: int) -> dict[str, dict[str, dict[str, float]]]:  # fmt: skip
    """Fig. 7's statistics of each term over ``pairs`` x ``pairs`` random transition pairs of ``data``.

    ``lam = 1`` gives the regression case (errors against the fixed ``targets``); ``lam = 0`` the two TD(0)
    cases (``targets`` unused).
    """
    import torch
    from torch.func import functional_call

    from baselines.diagnostics.td_second_order import pair_gradients, pair_grid

    if lam not in (0.0, 1.0):
        raise ValueError(f"lam={lam!r}: the terms are measured for TD(0) (0) and regression (1) only")
    n = len(data.obs)
    if not 1 <= pairs <= n // 2:
        raise ValueError(f"pairs={pairs!r} must lie in [1, {n // 2}] (two disjoint samples of the {n} transitions)")
    idx = np.random.default_rng(seed).choice(n, size=2 * pairs, replace=False)
    ia, ib = pair_grid(pairs, pairs)
    a, b = idx[:pairs][ia], idx[pairs:][ib]
    params = {k: v.detach() for k, v in model.named_parameters()}

    def f(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, p, (x,)).squeeze(-1)

    obs = torch.as_tensor(data.obs, dtype=torch.float32)
    nxt = torch.as_tensor(data.next_obs, dtype=torch.float32)
    with torch.no_grad():
        v, v_next = f(params, obs), f(params, nxt)
    # the share of positive errors: with independent signs a pair's delta_A delta_B < 0 w.p. 2 p (1 - p)
    if lam == 1.0:
        delta = v - torch.as_tensor(np.asarray(targets), dtype=torch.float32)
        out = {"regression": pair_gradients(f, params, obs[a], obs[b]).terms(delta[a], delta[b]).summary()}
    else:
        discount = gamma * (1.0 - torch.as_tensor(np.asarray(data.terminated, dtype=np.float32)))
        delta = v - (torch.as_tensor(data.rewards, dtype=torch.float32) + discount * v_next)
        q = pair_gradients(f, params, obs[a], obs[b], next_a=nxt[a], next_b=nxt[b])
        out = {
            "td_frozen": q.terms(delta[a], delta[b]).summary(),
            "td_self": q.terms(delta[a], delta[b], discount[a], discount[b]).summary(),
        }
    p = float((delta[idx] > 0).float().mean())
    for case in out.values():
        case["delta"] = {"positive_share": p, "independent_negative_pairs": 2 * p * (1 - p)}
    return out


def regression_terms(settings: Any, data: Any, trained: Any, seed: int, terms: dict[str, dict[str, Any]]) -> None:
    """The Reg case: a fresh network (the same initial weights as the others) regressing on the values of the
    fully trained lambda = 1 network, the paper's regression to Q_theta*, measured at ``settings.term_epochs``
    into ``terms[epoch]["regression"]``.

    A smooth target matters: regressing on single Monte-Carlo returns gives errors of random sign from the
    returns' own noise (measured on the quick run: r2 negative in 48% of pairs), which is not what the paper
    measured.
    """
    import torch

    from baselines.diagnostics.td_interference import train_td_lambda

    with torch.no_grad():
        v_star = trained(torch.as_tensor(data.obs, dtype=torch.float32)).squeeze(1).numpy()

    def on_epoch(epoch: int, model: Any) -> None:
        if epoch in settings.term_epochs:
            terms[str(epoch)].update(measure_terms(model, data, v_star, lam=1.0, gamma=settings.gamma,
                                                   pairs=settings.term_pairs, seed=seed))  # fmt: skip

    train_td_lambda(data, lam=1.0, gamma=settings.gamma, hidden=settings.hidden, lr=settings.lr,
                    epochs=max(settings.term_epochs), seed=seed, on_epoch=on_epoch, targets=v_star)  # fmt: skip


def per_seed_stat(runs: list[dict[str, Any]], case: str, term: str, stat: str) -> np.ndarray:
    """(seeds, epochs) array of one statistic of one term over the measured epochs."""
    return np.array([[ep[case][term][stat] for ep in r["terms"].values()] for r in runs], dtype=np.float64)


def aggregate_terms(runs: list[dict[str, Any]], mean_ci: Any, seed: int = 0) -> dict[str, Any]:
    """Per case and term: each statistic averaged over the early epochs, then its mean and CI over seeds."""
    out: dict[str, Any] = {}
    for case in CASES:
        out[case] = {
            term: {stat: list(mean_ci(per_seed_stat(runs, case, term, stat).mean(axis=1), seed=seed))
                   for stat in STATS}
            for term in TERMS
        }  # fmt: skip
    for case in CASES:
        out[case]["delta"] = {k: list(mean_ci(per_seed_stat(runs, case, "delta", k).mean(axis=1), seed=seed))
                              for k in ("positive_share", "independent_negative_pairs")}  # fmt: skip
    share = {c: per_seed_stat(runs, c, "r2", "negative_share").mean(axis=1) for c in CASES}
    out["r2_negative_share_td_minus_reg"] = {
        c: list(mean_ci(share[c] - share["regression"], seed=seed)) for c in ("td_frozen", "td_self")
    }
    td = {t: per_seed_stat(runs, "td_self", t, "mean_abs").mean(axis=1) for t in TERMS}
    out["td_self_r3_over_others"] = list(mean_ci(td["r3"] / np.maximum(td["r1"], td["r2"]), seed=seed))
    return out


def terms_claims(agg: dict[str, Any], fmt_ci: Any, epochs: tuple[int, ...], ci: str) -> list[dict[str, Any]]:
    """The report's Fig. 7 rows (claim / ours / band / in band)."""
    reg, fro, slf = agg["regression"], agg["td_frozen"], agg["td_self"]
    diff = agg["r2_negative_share_td_minus_reg"]
    when = f"epochs {', '.join(map(str, epochs))}, pooled"
    rows = [
        {"claim": "Regression: r1 and r2 are positive much more often than negative (Fig. 7, early in training)",
         "ours": f"share of negative pairs ({when}): r1 {fmt_ci(reg['r1']['negative_share'], '.2f')} (δ_B² g_AB² "
                 f"is a square under a fixed target), r2 {fmt_ci(reg['r2']['negative_share'], '.2f')} ({ci}); "
                 f"δ > 0 in {reg['delta']['positive_share'][0]:.0%} of samples, so independent signs alone would "
                 f"give {reg['delta']['independent_negative_pairs'][0]:.0%} negative δ_A δ_B",
         "band": "r2's negative share ≤ 1/3",
         "in_band": reg["r2"]["negative_share"][0] <= 1 / 3},
        {"claim": "TD: the proportion of negative samples is much larger than in regression, especially for r2 "
                  "(it carries δ_A δ_B)",
         "ours": f"r2's negative share: frozen {fmt_ci(fro['r2']['negative_share'], '.2f')}, self "
                 f"{fmt_ci(slf['r2']['negative_share'], '.2f')} (δ > 0 in {slf['delta']['positive_share'][0]:.0%} of "
                 f"samples); paired minus regression: frozen "
                 f"{fmt_ci(diff['td_frozen'], '.2f')}, self {fmt_ci(diff['td_self'], '.2f')}; r1's negative share "
                 f"(self) {fmt_ci(slf['r1']['negative_share'], '.2f')}",
         "band": f"both paired differences' {ci} > 0",
         "in_band": diff["td_frozen"][1] > 0 and diff["td_self"][1] > 0},
        {"claim": "TD: r3 has a smaller magnitude than the other terms and is negative on average",
         "ours": f"QL case: mean |r3| / max(mean |r1|, mean |r2|) {fmt_ci(agg['td_self_r3_over_others'])}; mean r3 "
                 f"{fmt_ci(slf['r3']['mean'])} (frozen: {fmt_ci(fro['r3']['mean'])})",
         "band": f"ratio's {ci} < 1 and mean r3's {ci} < 0",
         "in_band": agg["td_self_r3_over_others"][2] < 1 and slf["r3"]["mean"][2] < 0},
    ]  # fmt: skip
    for r in rows:
        r["in_band"] = bool(r["in_band"])
    return rows


def plot_terms(runs: list[dict[str, Any]], out: Path) -> Path:
    """Fig. 7 analogue: per term, the mean (dashed) and the means of the positive and negative pairs (solid)."""
    from baselines.experiments.report import new_figure, save_figure

    fig = new_figure(15.0, 4.4)
    axes = fig.subplots(1, 3)
    colours = {"regression": "tab:green", "td_frozen": "tab:blue", "td_self": "tab:red"}
    epochs = np.array([int(e) for e in runs[0]["terms"]])
    smallest = []
    for ax, term in zip(axes, TERMS, strict=True):
        for case, label in CASES.items():
            c = colours[case]
            mean = per_seed_stat(runs, case, term, "mean").mean(axis=0)
            pos = per_seed_stat(runs, case, term, "positive_mean").mean(axis=0)
            neg = per_seed_stat(runs, case, term, "negative_mean").mean(axis=0)
            share = per_seed_stat(runs, case, term, "negative_share").mean(axis=0)
            pos = np.where(share < 1, pos, np.nan)  # no positive (negative) pair: no line at 0
            neg = np.where(share > 0, neg, np.nan)
            ax.plot(epochs, pos, color=c, marker="o", ms=3, label=f"{label}: {share.mean():.0%} negative")
            ax.plot(epochs, neg, color=c, marker="o", ms=3)
            ax.plot(epochs, mean, color=c, ls="--", alpha=0.6)
            smallest += [abs(x) for x in (*pos, *neg) if np.isfinite(x) and x != 0]
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xlabel("training epoch (early in training)")
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    linthresh = max(min(smallest), 1e-12) if smallest else 1e-6
    for ax in axes:
        ax.set_yscale("symlog", linthresh=linthresh)
    axes[0].set_title("r1 = δ_B² g_AB (g_AB − γ g_A'B)\n(paper: mostly positive for regression)", fontsize=9)
    axes[1].set_title("r2 = δ_A δ_B g_AB (g_BB − γ g_B'B)\n(paper: many more negative pairs under TD)", fontsize=9)
    axes[2].set_title("r3 = δ_A δ_B² ∇f_B·(H̄_A ∇f_B + H̄_B ∇f_A)\n(paper: small and negative on average for TD)",
                      fontsize=9)  # fmt: skip
    axes[0].set_ylabel("term (symlog)\nsolid: mean of the + / − pairs; dashed: mean")
    fig.suptitle("Fig. 7 analogue on Glimpse: ρ' = −(r1 + r2 + r3), how interference changes after an update "
                 "(mean over seeds)", fontsize=10)  # fmt: skip
    from baselines.experiments.td_interference import FIGURES

    return save_figure(fig, out / FIGURES["terms"])


__all__ = ["CASES", "regression_terms", "aggregate_terms", "measure_terms", "plot_terms", "terms_claims"]
