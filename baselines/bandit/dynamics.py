"""Exact learning dynamics of the 2 x 2 bandit (Schaul et al. 2019, section 2 and appendix B), in (J1, J2).

In the continuous-time, infinite-batch limit the on-policy REINFORCE learner of the 2-context, 2-arm bandit is a
closed 2-D dynamical system in the performances ``J1 = pi(1 | s1)``, ``J2 = pi(2 | s2)``. Writing
``a = J1 (1 - J1)`` and ``b = J2 (1 - J2)``, the gradients are ``grad J1 = a (1, 0, 1)`` and
``grad J2 = b (0, 1, -1)`` (so their cosine is ``-1/2`` everywhere), and following ``grad J`` gives

    dJ1/dt = 2 a^2 - a b,        dJ2/dt = 2 b^2 - a b.

Time convention (shared by every function here and checked against the learners): ``t`` is the paper's
flow time, in the reduced 3-parameter model ``theta = (W11 - W12, W21 - W22, b1 - b2)``. The learners of
:mod:`baselines.bandit.learners` update the full ``W`` and ``b``; each reduced parameter is a difference of two
full ones that receive equal and opposite gradients, so one update of step size ``lr`` advances ``t`` by
``LEARNER_FLOW_RATE * lr = 2 lr`` (and the full-parameter ``|grad J|^2`` is twice the reduced one).

This module evaluates these closed forms (velocity, acceleration ``J''``, jerk ``J'''``, null clines,
winner-take-all regions, epsilon-plateaus), integrates trajectories, and draws the paper's flow-field figure.
The ablations of Figure 1 are available through ``mode``: in all of them the expected update is
``sum_k c_k grad J_k`` (``c = 1`` on-policy, ``1/J_k`` supervised, ``1/(2 J_k)`` uniform behaviour,
``(1 - m) + m / (2 J_k)`` for a behaviour mixed with ``m`` uniform actions); ``tabular`` drops the shared
parameter, so ``grad J1 = a (1, 0)``, ``grad J2 = b (0, 1)``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from rayenvs.atomic import atomic_write

MODES = ("on-policy", "tabular", "supervised", "uniform", "mixed")
INTERFERENCE = -0.5
# one learner update of step size lr (full W, b; also the table and the ablations) advances the flow by 2 lr
LEARNER_FLOW_RATE = 2.0
WTA_PROBABILITY_NEAR_ORIGIN = 4.0 / math.pi * math.atan(0.5)
# J''' > 0 on the anti-diagonal J2 = 1 - J1 (a plateau rather than a mere inflection) outside this J1 interval
PLATEAU_J1_GAP = ((15 - math.sqrt(15)) / 30, (15 + math.sqrt(15)) / 30)


def _ab(J1: np.ndarray, J2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    J1 = np.asarray(J1, dtype=np.float64)
    J2 = np.asarray(J2, dtype=np.float64)
    return J1 * (1 - J1), J2 * (1 - J2)


def j_dot(
    J1: np.ndarray | float, J2: np.ndarray | float, mode: str = "on-policy", mix_prob: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Velocities ``(dJ1/dt, dJ2/dt)`` of the expected-gradient flow (eq. 1-2 of the paper for on-policy)."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    if not 0.0 <= mix_prob <= 1.0:
        raise ValueError(f"mix_prob={mix_prob!r} is outside the allowed range [0, 1]")
    J1 = np.asarray(J1, dtype=np.float64)
    J2 = np.asarray(J2, dtype=np.float64)
    a, b = _ab(J1, J2)
    if mode == "tabular":
        return a * a, b * b
    with np.errstate(divide="ignore", invalid="ignore"):
        if mode == "on-policy":
            c1, c2 = np.ones_like(a), np.ones_like(b)
        elif mode == "supervised":
            c1, c2 = 1 / J1, 1 / J2
        elif mode == "uniform":
            c1, c2 = 0.5 / J1, 0.5 / J2
        else:
            c1, c2 = (1 - mix_prob) + mix_prob / (2 * J1), (1 - mix_prob) + mix_prob / (2 * J2)
        # Gram matrix of (grad J1, grad J2): [[2a^2, -ab], [-ab, 2b^2]]; c * a is finite at J = 0
        ca, cb = np.nan_to_num(c1 * a, nan=0.0), np.nan_to_num(c2 * b, nan=0.0)
    return a * (2 * ca - cb), b * (2 * cb - ca)


def j_total_dot(J1: np.ndarray | float, J2: np.ndarray | float) -> np.ndarray:
    """On-policy ``dJ/dt = |grad J|^2 = 2a^2 - 2ab + 2b^2``."""
    d1, d2 = j_dot(J1, J2)
    return d1 + d2


def _partials(J1: np.ndarray, J2: np.ndarray):
    a, b = _ab(J1, J2)
    da, db = 1 - 2 * np.asarray(J1, dtype=np.float64), 1 - 2 * np.asarray(J2, dtype=np.float64)
    d1, d2 = a * (2 * a - b), b * (2 * b - a)
    return a, b, da, db, d1, d2


def j_ddot(J1: np.ndarray | float, J2: np.ndarray | float) -> np.ndarray:
    """On-policy acceleration ``J'' = <grad J', grad J>`` (= ``(1 - J1 - J2) P6(J1, J2)``, appendix B.2)."""
    a, b, da, db, d1, d2 = _partials(J1, J2)
    return (4 * a - 2 * b) * da * d1 + (4 * b - 2 * a) * db * d2


def j_dddot(J1: np.ndarray | float, J2: np.ndarray | float) -> np.ndarray:
    """On-policy jerk ``J''' = <grad J'', grad J>``, by the chain rule along the flow."""
    a, b, da, db, d1, d2 = _partials(J1, J2)
    # partial derivatives of d1 = 2a^2 - ab and d2 = 2b^2 - ab
    d1_1, d1_2 = (4 * a - b) * da, -a * db
    d2_1, d2_2 = -b * da, (4 * b - a) * db
    # g = J'' = (4a - 2b) a' d1 + (4b - 2a) b' d2, with a'' = b'' = -2
    g_1 = (
        4 * da * da * d1
        - 2 * (4 * a - 2 * b) * d1
        + (4 * a - 2 * b) * da * d1_1
        - 2 * da * db * d2
        + (4 * b - 2 * a) * db * d2_1
    )
    g_2 = (
        -2 * db * da * d1
        + (4 * a - 2 * b) * da * d1_2
        + 4 * db * db * d2
        - 2 * (4 * b - 2 * a) * d2
        + (4 * b - 2 * a) * db * d2_2
    )
    return g_1 * d1 + g_2 * d2


def logit_jacobian(J1: float, J2: float) -> np.ndarray:
    """The paper's fixed-point matrix (appendix B.1): ``[[1 - 2 J1, J2 - 1/2], [J1 - 1/2, 1 - 2 J2]]``.

    The J-space field vanishes quadratically at the corners (its Jacobian there is zero), so fixed points are
    classified in logit coordinates ``u_k = logit(J_k)``, where the flow of eq. (1-2) is ``(2a - b, 2b - a)``.
    The paper's matrix is half the Jacobian of that logit flow w.r.t. ``(J1, J2)`` (a positive factor: the
    fixed-point types are the same). Its trace is ``2 - 2 J1 - 2 J2`` and its determinant
    ``(3/4)(1 - 2 J1)(1 - 2 J2)``: ``+-3/4`` at the corners, although the paper's text and table print ``5/4``
    (a discrepancy in the paper; its own matrix gives 3/4). Saddle eigenvalues: ``+-sqrt(3)/2``.
    """
    da, db = 1 - 2 * J1, 1 - 2 * J2
    return np.array([[da, -db / 2], [-da / 2, db]], dtype=np.float64)


def learner_rate(
    J1: np.ndarray | float, J2: np.ndarray | float, mode: str = "on-policy", mix_prob: float = 0.1
) -> np.ndarray:
    """Exact expected ``dJ`` per update, divided by ``lr``, of the 2 x 2 linear learners (first order in lr).

    For ``on-policy`` this is the full-parameter ``|grad J|^2 = 2 * j_total_dot``. ``separate`` (one ``W, b``
    network per context) moves each ``J_k`` by ``4 a_k^2`` (twice the table's ``2 a_k^2``: each network's
    logit difference has four parameters). The other modes are ``LEARNER_FLOW_RATE`` times their flow.
    Unlike a finite difference of the sampled curve, this has no sampling noise: it is the unbiased
    "slowest progress" statistic of Fig. 3 when evaluated on the run's exact ``J``.
    """
    if mode == "separate":
        d1, d2 = j_dot(J1, J2, "tabular")
        return 4.0 * (d1 + d2)
    d1, d2 = j_dot(J1, J2, mode, mix_prob)
    return LEARNER_FLOW_RATE * (d1 + d2)


def fixed_points() -> dict[tuple[float, float], str]:
    """The four fixed points (the corners) and their type, from the logit Jacobian's eigenvalues."""
    out = {}
    for p in ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)):
        ev = np.linalg.eigvals(logit_jacobian(*p)).real
        out[p] = "unstable" if (ev > 0).all() else "stable" if (ev < 0).all() else "saddle"
    return out


def nullclines(num: int = 200) -> dict[str, list[np.ndarray]]:
    """Curves ``(J1, J2)`` of the null clines ``dJ1/dt = 0`` (``2a = b``) and ``dJ2/dt = 0`` (``a = 2b``).

    ``dJ1/dt = 0`` holds where ``J2 (1 - J2) = 2 J1 (1 - J1)``, which needs ``J1 (1 - J1) <= 1/8``: four arcs
    (two ``J1`` ranges near 0 and 1, two ``J2`` roots), returned as (num, 2) arrays under key ``j1``;
    ``j2`` holds the mirror images. The boundary lines ``J_k in {0, 1}`` are null clines too (omitted).
    """
    edge = (1 - math.sqrt(0.5)) / 2  # J1 (1 - J1) = 1/8
    arcs = []
    for t in (np.linspace(0.0, edge, num), np.linspace(1 - edge, 1.0, num)):
        root = np.sqrt(np.clip(1 - 8 * t * (1 - t), 0, None))
        arcs += [np.stack([t, (1 - root) / 2], 1), np.stack([t, (1 + root) / 2], 1)]
    return {"j1": arcs, "j2": [arc[:, ::-1].copy() for arc in arcs]}


def wta_winner(J1: np.ndarray | float, J2: np.ndarray | float) -> np.ndarray:
    """Winner-take-all component (0 or 1) where only it improves along the flow, else -1 (Definition 3)."""
    d1, d2 = j_dot(J1, J2)
    return np.where((d1 > 0) & (d2 <= 0), 0, np.where((d2 > 0) & (d1 <= 0), 1, -1))


def plateau_epsilon(J1: np.ndarray | float) -> np.ndarray:
    """Flatness ``eps = dJ/dt`` (flow time) of the plateau point on ``J2 = 1 - J1``: ``2 J1^2 (1 - J1)^2``.

    A learner with step size ``lr`` progresses there by ``LEARNER_FLOW_RATE * lr * eps`` per update.
    """
    J1 = np.asarray(J1, dtype=np.float64)
    return 2 * J1**2 * (1 - J1) ** 2


def plateau_j1(eps: float) -> float:
    """The ``J1 <= 1/2`` of the anti-diagonal plateau with flatness ``eps`` (inverse of :func:`plateau_epsilon`)."""
    if not 0 < eps <= plateau_epsilon(PLATEAU_J1_GAP[0]):
        raise ValueError(
            f"eps={eps!r} is outside the allowed range (0, {float(plateau_epsilon(PLATEAU_J1_GAP[0])):.6g}]"
        )
    return (1 - math.sqrt(1 - 4 * math.sqrt(eps / 2))) / 2


def is_plateau(J1: np.ndarray | float, J2: np.ndarray | float, eps: float, tol: float = 1e-9) -> np.ndarray:
    """Definition 2: ``0 <= J' <= eps``, ``|J''| <= tol`` (numerically zero) and ``J''' > 0``."""
    v = j_total_dot(J1, J2)
    return (v >= 0) & (v <= eps) & (np.abs(j_ddot(J1, J2)) <= tol) & (j_dddot(J1, J2) > 0)


def integrate(
    starts: np.ndarray | Sequence[Sequence[float]],
    t_max: float,
    num_points: int = 200,
    mode: str = "on-policy",
    mix_prob: float = 0.1,
    rtol: float = 1e-8,
    atol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrate the flow from each start ``(J1, J2)``; returns ``t`` (num_points,) and J (num_starts, num_points, 2).

    Times are the paper's flow time: a learner update of step size ``lr`` advances ``t`` by
    ``LEARNER_FLOW_RATE * lr`` (see the module docstring; ``updates_to_flow_time``). Points are
    spaced geometrically after ``t = 0`` because plateaus make the interesting times span many decades.
    """
    J0 = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    if J0.ndim != 2 or J0.shape[1] != 2:
        raise ValueError(f"starts has shape {J0.shape}; expected (num_starts, 2)")
    if ((J0 <= 0) | (J0 >= 1)).any():
        raise ValueError("every start (J1, J2) must lie in the open square (0, 1)^2")
    if not t_max > 0:
        raise ValueError(f"t_max={t_max!r} is outside the allowed range (0, inf)")
    t_eval = np.concatenate([[0.0], np.geomspace(min(1e-3, t_max), t_max, num_points - 1)])
    N = J0.shape[0]

    def rhs(_t: float, y: np.ndarray) -> np.ndarray:
        d1, d2 = j_dot(y[:N], y[N:], mode, mix_prob)
        return np.concatenate([d1, d2])

    sol = solve_ivp(
        rhs,
        (0.0, t_max),
        np.concatenate([J0[:, 0], J0[:, 1]]),
        t_eval=t_eval,
        rtol=rtol,
        atol=atol,
        method="LSODA",
    )
    if not sol.success:
        raise RuntimeError(f"integration failed: {sol.message}")
    return sol.t, np.stack([sol.y[:N], sol.y[N:]], axis=-1)


def updates_to_flow_time(updates: np.ndarray | float, lr: float) -> np.ndarray:
    """Flow time ``t`` reached by ``updates`` learner updates of step size ``lr``: ``2 * lr * updates``."""
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is outside the allowed range (0, inf)")
    return LEARNER_FLOW_RATE * lr * np.asarray(updates, dtype=np.float64)


def angular_starts(num: int, radius: float = 0.01) -> np.ndarray:
    """``num`` starts at distance ``radius`` from the origin, at angles evenly spread over ``(0, pi/2)``."""
    phi = (np.arange(num) + 0.5) / num * (math.pi / 2)
    return radius * np.stack([np.cos(phi), np.sin(phi)], 1)


def plot_flow_field(
    path: str | os.PathLike,
    trajectories: Sequence[np.ndarray] | np.ndarray | None = None,
    mode: str = "on-policy",
    mix_prob: float = 0.1,
    grid: int = 25,
    show_structure: bool = True,
    title: str | None = None,
) -> Path:
    """Save the paper's Figure 1-2 style plot: flow field in (J1, J2) plus trajectories coloured by J1 + J2.

    ``trajectories`` are (T, 2) arrays of (J1, J2) (e.g. ``result.J[:, seed]`` from ``train_bandit`` or
    :func:`integrate`). ``show_structure`` adds the null clines and the plateau part of ``J2 = 1 - J1``
    (on-policy only). The format follows the file suffix; the file is written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not one of {MODES}")
    x = np.linspace(0.005, 0.995, grid)
    X, Y = np.meshgrid(x, x)
    U, V = j_dot(X, Y, mode, mix_prob)
    fig = Figure(figsize=(5.2, 4.6))  # no pyplot: no global state, no GUI backend
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    speed = np.hypot(U, V)
    ax.streamplot(X, Y, U, V, color="0.6", density=1.0, linewidth=0.6, arrowsize=0.8)
    if show_structure and mode == "on-policy":
        arcs = [arc for key, curves in nullclines().items() for arc in curves]
        for i, arc in enumerate(arcs):
            ax.plot(*arc.T, color="green", lw=1.2, label="null clines" if i == 0 else None)
        for lo, hi in ((0.0, PLATEAU_J1_GAP[0]), (PLATEAU_J1_GAP[1], 1.0)):
            t = np.linspace(lo, hi, 50)
            ax.plot(t, 1 - t, color="blue", lw=2, label="plateaus" if lo == 0 else None)
    lc = None
    if trajectories is not None:
        segs, cols = [], []
        for tr in trajectories:
            tr = np.asarray(tr, dtype=np.float64)
            if tr.ndim != 2 or tr.shape[1] != 2:
                raise ValueError(f"trajectory has shape {tr.shape}; expected (T, 2)")
            if len(tr) >= 2:
                segs.append(np.stack([tr[:-1], tr[1:]], 1))
                cols.append(tr[1:].sum(1))
        if segs:
            lc = LineCollection(np.concatenate(segs), cmap="coolwarm_r", norm=Normalize(0, 2), linewidths=1.0)
            lc.set_array(np.concatenate(cols))
            ax.add_collection(lc)
            fig.colorbar(lc, ax=ax, label="J = J1 + J2")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("J1 = π(1 | s1)")
    ax.set_ylabel("J2 = π(2 | s2)")
    ax.set_title(title or f"2x2 bandit, {mode} (max speed {speed.max():.2g})")
    if show_structure and mode == "on-policy":
        ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    suffix = Path(path).suffix.lstrip(".") or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=suffix, dpi=120)
    return atomic_write(path, lambda f: f.write(buf.getvalue()), binary=True)
