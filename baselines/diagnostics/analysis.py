"""Post-hoc diagnostics of finished runs: plateaus on the total and per-component curves, and collapse.

Reads a ``results.json`` (:class:`baselines.training.results.RunResult`) and produces one JSON-ready dict:

- plateaus (:func:`baselines.diagnostics.plateaus.detect_plateaus`) on the evaluation curve's mean total return, with
  ``optimum`` = the catalog's ``optimal_return`` (and the component curves, so each plateau says which
  components improved or regressed: winner-take-all stages), and on each component's mean return (episodes where the
  component was absent count as 0) with ``optimum = optimal_return / K``. That is exact where every component
  is worth the same share of the optimum: uniform contexts of the bandits, random-start MultiRoom (each room
  is the start in 1/K of the episodes) and Seq MultiRoom (each room's reward is 1 of K). For ids outside the
  catalog (e.g. plain Gymnasium ids) the optimum is the curve's observed maximum (``optimum_source``).
- collapse (:func:`baselines.diagnostics.collapse.detect_collapse`) on the mean total return with the actor's
  ``repr/actor/pca_rank`` and ``repr/actor/dead_frac`` from ``metrics`` when present, and the range
  ``optimal_return - random_return`` from the catalog when known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from baselines.common import metric_keys
from baselines.diagnostics.collapse import CollapseParams, detect_collapse
from baselines.training.results import RESULTS_FILE, Curve, RunResult, metric_series
from rayenvs.atomic import atomic_write_json

ANALYSIS_FILE = "analysis.json"
PCA_RANK_KEY = metric_keys.PCA_RANK
DEAD_FRAC_KEY = metric_keys.DEAD_FRAC


def component_means(curve: Curve, num_components: int) -> np.ndarray:
    """(points, K) mean per-component return at each evaluation point (NaN where a point has no episodes)."""
    out = np.full((len(curve.steps), num_components), np.nan)
    for i, rows in enumerate(curve.component_returns):
        if rows:
            arr = np.asarray(rows, dtype=np.float64)
            if arr.shape[1] != num_components:
                raise ValueError(f"point {i}: {arr.shape[1]} component returns, expected {num_components}")
            out[i] = arr.mean(axis=0)
    return out


def references(env_id: str, curve_max: float) -> tuple[float, float | None, str]:
    """(optimum, return range or None, source) of an env id: the catalog's, else the observed maximum."""
    from rayenvs.registration import CATALOG

    info = CATALOG.get(env_id)
    if info is None:
        return curve_max, None, "observed_max"
    span = info.optimal_return - info.random_return
    return info.optimal_return, (span if span > 0 else None), "catalog"


def _plateaus(
    steps: list[int], values: np.ndarray, optimum: float, component_values: np.ndarray | None = None
) -> dict[str, Any]:
    """Plateau report of one curve; NaN points dropped, repeated steps averaged (the detector needs them unique)."""
    from baselines.diagnostics.plateaus import detect_plateaus

    s = np.asarray(steps, dtype=np.int64)
    keep = np.isfinite(values)
    if component_values is not None:
        keep &= np.isfinite(component_values).all(axis=1)
    s, v = s[keep], values[keep]
    uniq, inverse = np.unique(s, return_inverse=True)
    if len(uniq) < 2:
        return {"count": 0, "plateaus": [], "skipped": f"{len(uniq)} distinct evaluation step(s), need >= 2"}
    counts = np.bincount(inverse)
    v_mean = np.bincount(inverse, weights=v) / counts
    comps = None
    if component_values is not None:
        c = component_values[keep]
        comps = np.stack([np.bincount(inverse, weights=c[:, i]) / counts for i in range(c.shape[1])], axis=1)
    return detect_plateaus(uniq.astype(float), v_mean, optimum=optimum, component_values=comps).to_dict()


def _metric(result: RunResult, key: str) -> tuple[list[int], list[float]] | None:
    return metric_series(result.metrics, key)


def analyze_result(result: RunResult, collapse_params: CollapseParams | None = None) -> dict[str, Any]:
    """Plateaus and collapse of one run, as a JSON-ready dict (see the module docstring)."""
    import rayenvs  # noqa: F401  (fills the catalog)

    curve = result.eval
    k = len(result.component_names)
    totals = np.asarray(curve.mean_returns(), dtype=np.float64)
    finite = totals[np.isfinite(totals)]
    if finite.size == 0:
        raise ValueError(f"run {result.env_id} seed {result.seed} has no evaluation episodes to analyse")
    optimum, span, source = references(result.env_id, float(finite.max()))
    comps = component_means(curve, k) if k else np.zeros((len(curve.steps), 0))
    keep = np.isfinite(totals)
    steps_kept = [int(s) for s, ok in zip(curve.steps, keep, strict=True) if ok]
    collapse = detect_collapse(
        steps_kept,
        totals[keep].tolist(),
        pca_rank=_metric(result, PCA_RANK_KEY),
        dead_frac=_metric(result, DEAD_FRAC_KEY),
        return_range=span,
        params=collapse_params,
    )
    return {
        "env_id": result.env_id,
        "algo": result.algo,
        "variant": result.variant,
        "seed": result.seed,
        "total_timesteps": result.total_timesteps,
        "optimum": optimum,
        "optimum_source": source,
        "final_return": float(finite[-1]),
        "plateaus": {
            "total": _plateaus(curve.steps, totals, optimum, comps if k else None),
            "components": {
                name: _plateaus(curve.steps, comps[:, i], optimum / k)
                for i, name in enumerate(result.component_names)
            },
        },
        "collapse": collapse.to_dict(),
    }


def find_results(paths: list[str | Path]) -> list[Path]:
    """The results.json files named by ``paths``: files, run directories, or directories searched recursively."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_file():
            found.append(p)
        elif (p / RESULTS_FILE).is_file():
            found.append(p / RESULTS_FILE)
        elif p.is_dir():
            nested = sorted(p.rglob(RESULTS_FILE))
            if not nested:
                raise ValueError(f"no {RESULTS_FILE} under {p}")
            found.extend(nested)
        else:
            raise ValueError(f"{p} is neither a results file nor a directory")
    return found


def analyze_path(results_path: Path, out_dir: Path | None = None) -> tuple[dict[str, Any], Path]:
    """Analyse one results.json and write analysis.json next to it (or ``out_dir/<run dir>.analysis.json``)."""
    analysis = analyze_result(RunResult.load(results_path))
    analysis["results_path"] = str(results_path)
    target = (
        results_path.parent / ANALYSIS_FILE
        if out_dir is None
        else out_dir / f"{results_path.parent.name}.{ANALYSIS_FILE}"
    )
    atomic_write_json(target, analysis)
    return analysis, target
