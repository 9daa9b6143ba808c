"""Export the board as a static site: the same pages as the app, as files with relative links.

Layout: ``index.html``, ``task/<env slug>.html`` (one ranking page per env id), ``entry/<id>.html``,
``entry/<id>/curve.png``, ``entry/<id>/bundle.json``, ``entry/<id>/weights/<seed>.safetensors``,
``family/<name>/profile.png`` and ``api/entries.json``; every file is written atomically, so a site being
served is never half-updated. Pages are not paginated here (files cost nothing to serve).
"""

from __future__ import annotations

import json
from pathlib import Path

from leaderboard.render import (
    SORT_SCRIPT,
    Urls,
    curve_png,
    entry_html,
    index_html,
    profile_png,
    sort_script,
    task_html,
    task_slug,
)
from leaderboard.storage import Store
from leaderboard.stored_scores import listing
from rayenvs.atomic import atomic_write, atomic_write_text

INDEX_URLS = Urls(
    index=lambda: "index.html",
    entry=lambda i: f"entry/{i}.html",
    curve=lambda i: f"entry/{i}/curve.png",
    profile=lambda f: f"family/{f}/profile.png",
    task=lambda slug: f"task/{slug}.html",
    bundle=lambda i: f"entry/{i}/bundle.json",
    weights=lambda i, seed: f"entry/{i}/weights/{seed}.safetensors",
    script=lambda: SORT_SCRIPT,
)
ENTRY_URLS = Urls(  # from entry/<id>.html
    index=lambda: "../index.html",
    entry=lambda i: f"{i}.html",
    curve=lambda i: f"{i}/curve.png",
    profile=lambda f: f"../family/{f}/profile.png",
    task=lambda slug: f"../task/{slug}.html",
    bundle=lambda i: f"{i}/bundle.json",
    weights=lambda i, seed: f"{i}/weights/{seed}.safetensors",
    script=lambda: f"../{SORT_SCRIPT}",
)
TASK_URLS = Urls(  # from task/<slug>.html
    index=lambda: "../index.html",
    entry=lambda i: f"../entry/{i}.html",
    curve=lambda i: f"../entry/{i}/curve.png",
    profile=lambda f: f"../family/{f}/profile.png",
    task=lambda slug: f"../task/{slug}.html",
    bundle=lambda i: f"../entry/{i}/bundle.json",
    weights=lambda i, seed: f"../entry/{i}/weights/{seed}.safetensors",
    script=lambda: f"../{SORT_SCRIPT}",
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
    pins = store.pinned_baselines()
    for env_id in sorted({e.env_id for e in listed}):
        written.append(
            atomic_write_text(out / "task" / f"{task_slug(env_id)}.html", task_html(env_id, listed, scores, TASK_URLS))
        )
    for e in entries:
        blobs = store.weights(e.id)
        written.append(
            atomic_write_text(
                out / "entry" / f"{e.id}.html",
                entry_html(e, scores[e.id], store.verifications(e.id), ENTRY_URLS, sorted(blobs),
                           pins.get(e.env_id) == e.id),
            )
        )
        folder = out / "entry" / str(e.id)
        _write_bytes(folder / "curve.png", curve_png(e))
        written.append(folder / "curve.png")
        written.append(atomic_write_text(folder / "bundle.json", e.bundle.model_dump_json(indent=2)))
        for seed, blob in sorted(blobs.items()):
            _write_bytes(folder / "weights" / f"{seed}.safetensors", blob)
            written.append(folder / "weights" / f"{seed}.safetensors")
    for family in sorted({e.family for e in entries}):
        path = out / "family" / family / "profile.png"
        _write_bytes(path, profile_png([e for e in entries if e.family == family]))
        written.append(path)
    api = [e.summary() | {"scores": scores[e.id].as_dict()} for e in entries]
    written.append(atomic_write_text(out / "api" / "entries.json", json.dumps(api, indent=2, sort_keys=True)))
    return written
