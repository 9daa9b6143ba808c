"""What every experiment writes: atomic PNG figures (pyplot-free), number formatting, the output folder, and the
one rank correlation the reports' claims use.

Every output (PNGs, ``report.md``, ``summary.json``) is written atomically, so a folder never holds a
half-written figure next to a report that describes it.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rayenvs.atomic import atomic_write

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"


def save_figure(fig: Any, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    return atomic_write(path, lambda f: f.write(buf.getvalue()), binary=True)


def new_figure(width: float, height: float) -> Any:
    """A pyplot-free figure: no global state, no GUI backend, safe from worker threads."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def none_if_nan(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)



def fmt(x: float | None, spec: str = ".3g") -> str:
    return "n/a" if x is None else format(x, spec)



def output_dir(out_dir: str | Path | None, name: str) -> Path:
    """``out_dir`` or ``data_dir()/reproduce/<name>``; an existing file there is an error, not overwritten."""
    from rayenvs.paths import data_dir

    out = Path(out_dir).expanduser() if out_dir is not None else data_dir() / "reproduce" / name
    if out.exists() and not out.is_dir():
        raise ValueError(f"output path {out} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def spearman(a: Sequence[float], b: Sequence[float], min_pairs: int = 3) -> float | None:
    """Spearman's rank correlation (scipy; ties share their mean rank) over the pairs where both are finite.

    None with fewer than ``min_pairs`` such pairs or a constant side, so a claim never reads a correlation that
    the data cannot carry.
    """
    import numpy as np
    from scipy.stats import spearmanr

    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < max(min_pairs, 2) or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)
