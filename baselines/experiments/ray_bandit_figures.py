"""The closed-form figures of Schaul et al. (2019) for ``ray-bandit``: Figs. 2, 5, 6 and 8 from the exact 2x2 flow.

All four use the deterministic flow of :mod:`baselines.bandit.dynamics` (times in the paper's flow units ``t``;
a learner with step size ``lr`` needs ``t / (2 lr)`` updates, see ``LEARNER_FLOW_RATE``), so they cost seconds
and have no sampling noise:

- Fig. 2: the flow's structure: null clines, the inflection set ``J'' = 0``, the plateau part of
  ``J2 = 1 - J1``, the winner-take-all regions and the basin of attraction of plateaus at least as flat as ``eps``;
- Fig. 8: flatness ``eps`` of the traversed plateau against the time from near ``(0, 0)`` (``J = 0.2``, the
  paper's low initial performance, angles uniform; from ``J = 0.014`` the balanced run itself is slow and ``eps_10x`` ~ 1e-8) to near ``(1, 1)``,
  with the balanced (diagonal) trajectory as reference; gives ``eps_10x``, the flatness that makes learning
  10 times slower (the paper: ~1e-4);
- Fig. 5: likelihood that the slowest progress is ``<= eps`` for starts at several initial performances
  ``J(theta0)``, directions drawn by one of the learners' start recipes (:data:`RECIPES`); the paper:
  "half of the trajectories initialised at J(theta0) = 0.2 hit" a plateau flatter than ``eps_10x``;
- Fig. 6: the scalar coupling functions ``f(J_k)`` of eq. (5): ``u (1 - u)`` on-policy, ``1 - u`` supervised
  and ``(1 - m) u (1 - u) + m (1 - u) / 2`` for a behaviour mixing in ``m = 10%`` uniform actions; only the
  on-policy one has ``f(0) = 0``, the condition for saddles and plateaus.

"Slowest progress" is the minimum of the exact ``dJ/dt`` over the sampled times where the trajectory is more
than 10% of the way from its start and from the optimum (the paper's Appendix A statistic).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from baselines.bandit import dynamics as bd

T_MAX = 1e7  # flow time: beyond the flattest plateau the figures resolve (eps ~ 1e-7)
FIG8_J0 = 0.2
POINTS = 600
MARGIN = 0.1
FINISH = 1.8  # "near (1, 1)": J = J1 + J2 >= 1.8
FIG5_J0 = (0.1, 0.2, 0.4, 0.8, 1.2)
EPS_AXIS = np.logspace(-8, -1, 71)
MIX = 0.1
RECIPES = ("angle", "simplex", "logit-sphere")  # baselines.bandit.learners.INIT_RECIPES, 2 x 2
FIG3_EPS = 1e-5  # in the learners' units (E[dJ] per update / lr = 2 x flow dJ/dt)


def _slowest_and_finish(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per start: slowest exact dJ/dt away from start and optimum, and the flow time to reach J >= FINISH."""
    t, traj = bd.integrate(starts, t_max=T_MAX, num_points=POINTS)
    tot = traj.sum(axis=2)
    j0 = tot[:, :1]
    progress = (tot - j0) / (2.0 - j0)
    speed = bd.j_total_dot(traj[..., 0], traj[..., 1])
    away = (progress > MARGIN) & (progress < 1 - MARGIN)
    slowest = np.where(away, speed, np.inf).min(axis=1)
    reached = tot >= FINISH
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), -1)
    finish = np.where(first >= 0, t[np.maximum(first, 0)], np.inf)
    return slowest, finish


def orthant_starts(j0: float, num: int) -> np.ndarray:
    """Starts on ``J1 + J2 = j0`` at angles evenly spread over (0, pi/2): the learners' recipe, deterministic."""
    phi = (np.arange(num) + 0.5) / num * (math.pi / 2)
    u = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    J = j0 * u / u.sum(axis=1, keepdims=True)
    return np.clip(J, 1e-9, 0.99)


def recipe_starts(recipe: str, num: int, j0: float = 0.2) -> np.ndarray:
    """``num`` starts at initial performance ``j0`` by one of :data:`RECIPES`, at evenly spaced quantiles.

    The deterministic 2 x 2 counterparts of the learners' random recipes (``baselines.bandit.learners``):
    ``angle``: angle uniform on ``J1 + J2 = j0`` (:func:`orthant_starts`); ``simplex``: ``J1`` uniform on that
    segment; ``logit-sphere``: logits ``logit(j0 / 2) + (cos, sin)`` on the unit circle (``J1 + J2`` then
    varies around ``j0``).
    """
    t = (np.arange(num) + 0.5) / num
    if recipe == "angle":
        return orthant_starts(j0, num)
    if recipe == "simplex":
        return np.clip(np.stack([j0 * t, j0 * (1 - t)], axis=1), 1e-9, 0.99)  # capped like the learners
    if recipe == "logit-sphere":
        x0 = math.log(j0 / 2 / (1 - j0 / 2))
        logits = x0 + np.stack([np.cos(2 * math.pi * t), np.sin(2 * math.pi * t)], axis=1)
        return 1.0 / (1.0 + np.exp(-logits))
    raise ValueError(f"recipe={recipe!r} is not one of {RECIPES}")


def coupling(u: np.ndarray, mode: str, mix: float = MIX) -> np.ndarray:
    """Eq. (5)'s ``f(J_k)``: the scalar factor of ``grad J_k`` in the expected update of component k."""
    u = np.asarray(u, dtype=np.float64)
    if mode == "on-policy":
        return u * (1 - u)
    if mode == "supervised":
        return 1 - u
    if mode == "mixed":
        return (1 - mix) * u * (1 - u) + mix * (1 - u) / 2
    raise ValueError(f"mode={mode!r} is not one of ('on-policy', 'supervised', 'mixed')")


def compute(num_angles: int = 200, grid: int = 41, recipe: str = "angle") -> dict[str, Any]:
    """Every number of the four figures (the figures are drawn from this, the report quotes it).

    ``recipe`` (one of :data:`RECIPES`) draws Fig. 5's starts; ``by_recipe`` gives, for every recipe, Fig. 3's
    fraction (``eps <= FIG3_EPS`` in learner units, from ``J = 0.2``) and Fig. 5's (``eps <= eps_10x``, from
    ``J(theta0) = 0.2``) under the deterministic flow.
    """
    if recipe not in RECIPES:
        raise ValueError(f"recipe={recipe!r} is not one of {RECIPES}")
    # Fig. 8: starts "near (0, 0)" at the paper's low initial performance J = 0.2 (starts much nearer the origin
    # make even the balanced run crawl out of the unstable corner, which swamps the plateau's cost)
    near = orthant_starts(FIG8_J0, num_angles)
    eps8, time8 = _slowest_and_finish(near)
    _, t_bal = _slowest_and_finish(np.array([[FIG8_J0 / 2] * 2]))
    slowdown = time8 / t_bal[0]
    ok = np.isfinite(eps8) & np.isfinite(slowdown)
    order = np.argsort(slowdown[ok])
    eps_10x = float(10 ** np.interp(1.0, np.log10(slowdown[ok][order]), np.log10(eps8[ok][order])))
    # Fig. 5: likelihood curves per initial performance
    fig5 = {}
    for j0 in FIG5_J0:
        slow, _ = _slowest_and_finish(recipe_starts(recipe, num_angles, j0))
        fig5[str(j0)] = {
            "likelihood": [float((slow <= e).mean()) for e in EPS_AXIS],
            "p_at_eps_10x": float((slow <= eps_10x).mean()),
        }
    # Figs. 3 and 5 under the deterministic flow, per initialisation recipe (Fig. 3 in learner units: 2 x dJ/dt)
    by_recipe = {}
    for name in RECIPES:
        slow, _ = _slowest_and_finish(recipe_starts(name, num_angles, FIG8_J0))
        by_recipe[name] = {
            "fig3": float((bd.LEARNER_FLOW_RATE * slow <= FIG3_EPS).mean()),
            "fig5": float((slow <= eps_10x).mean()),
        }
    # Fig. 2: basin of eps_10x on a grid of starts
    x = np.linspace(0.02, 0.98, grid)
    X, Y = np.meshgrid(x, x)
    starts = np.stack([X.ravel(), Y.ravel()], axis=1)
    slow2, _ = _slowest_and_finish(starts)
    basin = (slow2 <= eps_10x).reshape(X.shape)
    wta = bd.wta_winner(X, Y) >= 0
    return {
        "eps_10x": eps_10x,
        "fig8": {"eps": eps8.tolist(), "slowdown": slowdown.tolist(), "balanced_time": float(t_bal[0])},
        "fig5": fig5,
        "fig2": {
            "grid": x.tolist(),
            "basin": basin.tolist(),
            "basin_frac": float(basin.mean()),
            "wta_frac": float(wta.mean()),
            "basin_outside_wta_frac": float((basin & ~wta).mean()),
        },  # fmt: skip
        "fig6": {m: float(coupling(0.0, m)) for m in ("on-policy", "supervised", "mixed")},
        "recipe": recipe,
        "by_recipe": by_recipe,
    }


def plot(numbers: dict[str, Any], out: Path) -> list[Path]:
    """Draw ``fig2_structure.png``, ``fig5_basins.png``, ``fig6_coupling.png``, ``fig8_eps_vs_time.png``."""
    from baselines.experiments.report import new_figure as _new_figure
    from baselines.experiments.report import save_figure as _save_figure

    eps10 = numbers["eps_10x"]
    files = []
    # Fig. 2
    fig = _new_figure(6.2, 5.6)
    ax = fig.add_subplot()
    x = np.asarray(numbers["fig2"]["grid"])
    X, Y = np.meshgrid(x, x)
    basin = np.asarray(numbers["fig2"]["basin"], dtype=float)
    ax.contourf(X, Y, basin, levels=[0.5, 1.5], colors=["#f4c7c3"])
    ax.contourf(
        X, Y, (bd.wta_winner(X, Y) >= 0).astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"]
    )
    g = np.linspace(0.005, 0.995, 25)
    GX, GY = np.meshgrid(g, g)
    ax.streamplot(GX, GY, *bd.j_dot(GX, GY), color="0.7", density=0.9, linewidth=0.5, arrowsize=0.7)
    for i, arc in enumerate(a for curves in bd.nullclines().values() for a in curves):
        ax.plot(*arc.T, color="green", lw=1.2, label="null clines" if i == 0 else None)
    fine = np.linspace(0.001, 0.999, 400)
    FX, FY = np.meshgrid(fine, fine)
    ax.contour(FX, FY, bd.j_ddot(FX, FY), levels=[0.0], colors="orange", linewidths=1.0, linestyles="--")
    ax.plot([], [], color="orange", ls="--", label="inflections (J'' = 0)")
    for lo, hi in ((0.0, bd.PLATEAU_J1_GAP[0]), (bd.PLATEAU_J1_GAP[1], 1.0)):
        t = np.linspace(lo, hi, 50)
        ax.plot(t, 1 - t, color="blue", lw=2.2, label="plateau points (J''' > 0)" if lo == 0 else None)
    ax.fill([], [], color="#f4c7c3", label=f"basin of ε ≤ {eps10:.1e}")
    ax.fill([], [], facecolor="none", hatch="//", edgecolor="k", label="WTA regions")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("J1")
    ax.set_ylabel("J2")
    f2 = numbers["fig2"]
    ax.set_title(f"Fig. 2: paper: basins of flat plateaus extend beyond the WTA regions\nours: basin {f2['basin_frac']:.0%} "
                 f"of the square, {f2['basin_outside_wta_frac']:.0%} outside WTA (WTA {f2['wta_frac']:.0%})", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7, loc="upper right", framealpha=0.9)
    files.append(_save_figure(fig, out / "fig2_structure.png"))
    # Fig. 8
    fig = _new_figure(6.0, 4.4)
    ax = fig.add_subplot()
    eps8 = np.asarray(numbers["fig8"]["eps"])
    slow8 = np.asarray(numbers["fig8"]["slowdown"])
    sc = ax.scatter(slow8, eps8, c=np.linspace(0, 90, len(eps8)), cmap="coolwarm", s=10)
    fig.colorbar(sc, ax=ax, label="start angle (degrees; 45 = balanced)")
    ax.axvline(1.0, color="k", ls="--", lw=1, label="balanced (diagonal)")
    ax.axvline(10.0, color="0.4", ls=":", lw=1)
    ax.axhline(eps10, color="0.4", ls=":", lw=1, label=f"10x slower: ε = {eps10:.1e}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time from J(θ0) = 0.2 to J ≥ 1.8, relative to the balanced trajectory")
    ax.set_ylabel("ε of the traversed plateau (flow units)")
    ax.set_title(f"Fig. 8: paper: ε ≈ 1e-4 is 10x slower; ours: ε = {eps10:.1e}", fontsize=9)
    ax.legend(fontsize=7)
    files.append(_save_figure(fig, out / "fig8_eps_vs_time.png"))
    # Fig. 5
    fig = _new_figure(6.0, 4.4)
    ax = fig.add_subplot()
    for j0, d in numbers["fig5"].items():
        ax.plot(EPS_AXIS, d["likelihood"], lw=1.8, label=f"J(θ0) = {j0}")
    ax.axvline(eps10, color="k", ls="--", lw=1, label="10x slower (Fig. 8)")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("ε (flow units)")
    ax.set_ylabel("P(slowest progress ≤ ε)")
    p02 = numbers["fig5"]["0.2"]["p_at_eps_10x"]
    ax.set_title(f"Fig. 5: paper: half of the runs from J(θ0) = 0.2 hit a 10x-slower plateau;\nours: {p02:.0%} "
                 f"(deterministic flow, start recipe {numbers['recipe']})", fontsize=9)  # fmt: skip
    ax.legend(fontsize=7)
    files.append(_save_figure(fig, out / "fig5_basins.png"))
    # Fig. 6
    fig = _new_figure(5.4, 4.0)
    ax = fig.add_subplot()
    u = np.linspace(0, 1, 201)
    for mode, colour, label in (("on-policy", "tab:red", "on-policy REINFORCE: u(1 − u)"),
                                ("supervised", "tab:green", "supervised: 1 − u"),
                                ("mixed", "tab:orange", "90% on-policy + 10% uniform")):  # fmt: skip
        ax.plot(u, coupling(u, mode), color=colour, lw=2, label=label)
    ax.set_xlabel("u = J_k")
    ax.set_ylabel("f(J_k)")
    f6 = numbers["fig6"]
    ax.set_title(f"Fig. 6: paper: only on-policy has f(0) = 0; ours: f(0) = {f6['on-policy']:g}, "
                 f"{f6['supervised']:g}, {f6['mixed']:g}", fontsize=9)  # fmt: skip
    ax.legend(fontsize=8)
    files.append(_save_figure(fig, out / "fig6_coupling.png"))
    return files


def report_rows(numbers: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """``(paper claim, ours, in band?)`` rows for the report table."""
    eps10 = numbers["eps_10x"]
    p02 = numbers["fig5"]["0.2"]["p_at_eps_10x"]
    f2, f6 = numbers["fig2"], numbers["fig6"]
    return [
        ("Fig. 8: ε ≈ 1e-4 makes a trajectory 10x slower than the balanced one", f"ε_10x = {eps10:.2e}",
         1e-5 <= eps10 <= 1e-3),
        ("Fig. 5: half of the trajectories from J(θ0) = 0.2 hit a plateau that flat", f"{p02:.0%}",
         0.35 <= p02 <= 0.65),
        ("Fig. 5: lower initial performance, larger basins",
         " → ".join(f"{numbers['fig5'][k]['p_at_eps_10x']:.0%}" for k in numbers["fig5"]) + " for J(θ0) = "
         + ", ".join(numbers["fig5"]), all(np.diff([numbers["fig5"][k]["p_at_eps_10x"] for k in numbers["fig5"]]) <= 0)),
        ("Fig. 2: basins of flat plateaus extend beyond the WTA regions",
         f"basin {f2['basin_frac']:.1%} of the square, {f2['basin_outside_wta_frac']:.1%} outside WTA",
         f2["basin_outside_wta_frac"] > 0),
        ("Fig. 6: f(0) = 0 only on-policy (10% uniform mixing breaks it)",
         f"f(0): on-policy {f6['on-policy']:g}, supervised {f6['supervised']:g}, mixed {f6['mixed']:g}",
         f6["on-policy"] == 0 and f6["mixed"] > 0 and f6["supervised"] > 0),
    ]  # fmt: skip
