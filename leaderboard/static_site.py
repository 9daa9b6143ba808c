"""Export the board as a static site: the same pages as the app, as files with relative links.

Layout: ``index.html``, ``entry/<id>.html``, ``entry/<id>/curve.png``, ``family/<name>/profile.png`` and
``api/entries.json``; every file is written atomically, so a site being served is never half-updated.
"""

from __future__ import annotations

import json
from pathlib import Path

from leaderboard.render import SORT_SCRIPT, Urls, curve_png, entry_html, index_html, profile_png, sort_script
from leaderboard.storage import Store
from leaderboard.stored_scores import listing
from rayenvs.atomic import atomic_write, atomic_write_text

INDEX_URLS = Urls(
    index=lambda: "index.html",
    entry=lambda i: f"entry/{i}.html",
    curve=lambda i: f"entry/{i}/curve.png",
    profile=lambda f: f"family/{f}/profile.png",
)
ENTRY_URLS = Urls(
    index=lambda: "../index.html",
    entry=lambda i: f"{i}.html",
    curve=lambda i: f"{i}/curve.png",
    profile=lambda f: f"../family/{f}/profile.png",
)


def _write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data), binary=True)


def export_site(store: Store, out_dir: str | Path) -> list[Path]:
    """Write every page and plot under ``out_dir``; return the files written."""
    out = Path(out_dir)
    listed, quarantined = listing(store)
    scores = {e.id: e.score for e in listed}
    shown = set(scores)
    entries = [e for e in store.entries() if e.id in shown]
    written = [
        atomic_write_text(out / "index.html", index_html(listed, scores, INDEX_URLS, quarantined)),
        atomic_write_text(out / SORT_SCRIPT, sort_script()),
    ]
    for e in entries:
        written.append(
            atomic_write_text(
                out / "entry" / f"{e.id}.html",
                entry_html(e, scores[e.id], store.verifications(e.id), ENTRY_URLS),
            )
        )
        _write_bytes(out / "entry" / str(e.id) / "curve.png", curve_png(e))
        written.append(out / "entry" / str(e.id) / "curve.png")
    for family in sorted({e.family for e in entries}):
        path = out / "family" / family / "profile.png"
        _write_bytes(path, profile_png([e for e in entries if e.family == family]))
        written.append(path)
    api = [e.summary() | {"scores": scores[e.id].as_dict()} for e in entries]
    written.append(atomic_write_text(out / "api" / "entries.json", json.dumps(api, indent=2, sort_keys=True)))
    return written
