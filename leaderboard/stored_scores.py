"""Scores computed once per write and read back by every page: a page view never re-scores.

A score depends on the entry's bundle (fixed once stored) and on its env's baseline (the operator-pinned,
visible, verified entry). :func:`refresh_scores` runs after every write that can change either (a submission,
a verification, hiding, pinning, deleting) and rescores exactly the entries of that env whose stored score is
missing or was computed against another baseline. :func:`listing` reads the entries' identities and stored
scores without their bundles, so the front page's cost does not grow with the size of the stored curves; an
entry it finds unscored or stale (a board written before this table existed) is scored once and stored.
A row that cannot be read when it is scored is stored with its error and listed as quarantined.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from leaderboard.scoring import EntryScore, score_entry
from leaderboard.storage import Quarantined, entry_summary, stored_scores, submissions

if TYPE_CHECKING:
    from leaderboard.storage import Store

_META = (
    submissions.c.id,
    submissions.c.content_hash,
    submissions.c.env_id,
    submissions.c.family,
    submissions.c.algo,
    submissions.c.variant,
    submissions.c.submitter,
    submissions.c.tier,
    submissions.c.created_at,
    submissions.c.hidden,
)


@dataclass(frozen=True)
class Listed:
    """An entry's identity and its stored score, read without its bundle."""

    id: int
    content_hash: str
    env_id: str
    family: str
    algo: str
    variant: str
    submitter: str
    tier: str
    created_at: dt.datetime
    score: EntryScore

    def summary(self) -> dict[str, Any]:
        """The same identity fields as :meth:`leaderboard.storage.Entry.summary`."""
        return entry_summary(self)


def effective_baselines(rows: Sequence[Any], pins: Mapping[str, int]) -> dict[str, int]:
    """Per env, the pinned entry while it is present, visible and verified (the rule of ``pinned_baselines``)."""
    by_id = {r.id: r for r in rows}
    out = {}
    for env_id, sid in pins.items():
        r = by_id.get(sid)
        if r is not None and r.env_id == env_id and r.tier == "verified" and not r.hidden:
            out[env_id] = sid
    return out


def _expected_baseline(row: Any, baselines: Mapping[str, int]) -> int | None:
    base = baselines.get(row.env_id)
    return None if base == row.id else base


def _meta_rows(store: Store, env_id: str | None = None, family: str | None = None) -> list[Any]:
    query = (
        select(*_META, stored_scores.c.baseline_id, stored_scores.c.score_json, stored_scores.c.error,
               stored_scores.c.submission_id.label("scored_id"))
        .select_from(submissions.outerjoin(stored_scores, stored_scores.c.submission_id == submissions.c.id))
        .order_by(submissions.c.id)
    )
    if env_id is not None:
        query = query.where(submissions.c.env_id == env_id)
    if family is not None:
        query = query.where(submissions.c.family == family)
    with store.engine.connect() as conn:
        return list(conn.execute(query))


def _stale(rows: Sequence[Any], baselines: Mapping[str, int]) -> list[Any]:
    return [
        r for r in rows
        if r.scored_id is None or (r.error is None and r.baseline_id != _expected_baseline(r, baselines))
    ]


def score_row_for(store: Store, bundle: Any, family: str) -> dict[str, Any]:
    """The ``scores`` row of a bundle about to be stored (without its ``submission_id``), so that
    :meth:`Store.submit` writes the entry and its score in one transaction: readers never meet a stored but
    unscored entry and never have to score someone else's submission on the read path."""
    rows = _meta_rows(store, env_id=bundle.env_id)
    base_id = effective_baselines(rows, store.pinned_baselines()).get(bundle.env_id)
    try:
        base = store.entry(base_id).bundle if base_id is not None else None
        score = score_entry(bundle, family, base, base_id)
        return {"baseline_id": base_id, "score_json": json.dumps(score.as_dict(), allow_nan=False), "error": None}
    except Exception as exc:  # noqa: BLE001 - as in refresh_scores: quarantined with the reason, never a 500
        return {"baseline_id": None, "score_json": None, "error": f"could not be scored: {str(exc)[:500]}"}


def refresh_scores(store: Store, env_id: str) -> int:
    """Score the entries of ``env_id`` whose stored score is missing or stale; return how many were scored."""
    rows = _meta_rows(store, env_id=env_id)
    baselines = effective_baselines(rows, store.pinned_baselines())
    stale = _stale(rows, baselines)
    if not stale:
        return 0
    base_id = baselines.get(env_id)
    base = store.entry(base_id) if base_id is not None else None
    results = []
    for r in stale:
        expected = _expected_baseline(r, baselines)
        try:
            e = store.entry(r.id, include_hidden=True)
            score = score_entry(e.bundle, e.family, base.bundle if expected else None, expected)
            results.append((r.id, expected, json.dumps(score.as_dict(), allow_nan=False), None))
        except Exception as exc:  # noqa: BLE001 - unreadable row, non-finite score, a detector's failure:
            # the entry is quarantined with the reason rather than failing the write that stored it.
            results.append((r.id, None, None, f"could not be scored: {str(exc)[:500]}"))
    values = [{"submission_id": sid, "baseline_id": b, "score_json": sj, "error": err} for sid, b, sj, err in results]
    with store._writer() as conn:
        conn.execute(_upsert(store.engine.dialect.name), values)
    return len(results)


def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE: two writers scoring the same entry at once (PostgreSQL has no
    ``BEGIN IMMEDIATE`` to queue them) store the same deterministic score instead of failing."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:
        raise ValueError(f"database {dialect!r} is not supported; use SQLite or PostgreSQL")
    stmt = dialect_insert(stored_scores)
    return stmt.on_conflict_do_update(
        index_elements=[stored_scores.c.submission_id],
        set_={c: stmt.excluded[c] for c in ("baseline_id", "score_json", "error")},
    )


def listing(
    store: Store, family: str | None = None, env_id: str | None = None
) -> tuple[list[Listed], list[Quarantined]]:
    """Visible entries with their stored scores (oldest first), and the quarantined rows."""
    rows = _meta_rows(store, env_id=env_id, family=family)
    pins = store.pinned_baselines()
    if env_id is None and family is None:
        baselines = effective_baselines(rows, pins)
    else:  # a baseline is always of the same env, so the rows of these envs decide
        baselines = effective_baselines(rows, {k: v for k, v in pins.items() if any(r.env_id == k for r in rows)})
    stale_envs = sorted({r.env_id for r in _stale(rows, baselines)})
    if stale_envs:
        for env in stale_envs:
            refresh_scores(store, env)
        rows = _meta_rows(store, env_id=env_id, family=family)
    good, bad = [], []
    for r in rows:
        if r.error is not None or r.score_json is None:
            bad.append(Quarantined(r.id, r.error or "no score"))
            continue
        if r.hidden:
            continue
        good.append(
            Listed(
                id=r.id, content_hash=r.content_hash, env_id=r.env_id, family=r.family, algo=r.algo,
                variant=r.variant, submitter=r.submitter, tier=r.tier, created_at=r.created_at,
                score=_parse_score(r.score_json),
            )
        )
    return good, bad


_SCORE_CACHE: dict[str, EntryScore] = {}


def _parse_score(text: str) -> EntryScore:
    """A stored score, parsed once per distinct text (a page view reads every listed entry's score)."""
    hit = _SCORE_CACHE.get(text)
    if hit is None:
        if len(_SCORE_CACHE) > 8192:
            _SCORE_CACHE.clear()
        hit = _SCORE_CACHE[text] = EntryScore.from_dict(json.loads(text))
    return hit
