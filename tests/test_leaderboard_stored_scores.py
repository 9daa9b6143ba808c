"""Scores are computed once per write and stored: reads never re-score, and every write that changes a
score (submission, verification, pin, hide, delete) leaves the stored scores equal to fresh ones."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from test_leaderboard_synthetic import GOOD, make_runs

import leaderboard.stored_scores as stored
from leaderboard.bundle import build_bundle
from leaderboard.scoring import score_board
from leaderboard.storage import Store
from leaderboard.web import create_app


def _fresh(store: Store) -> dict:
    return score_board(store.entries(), store.pinned_baselines())


def _stored(store: Store) -> dict:
    listed, _ = stored.listing(store)
    return {e.id: e.score for e in listed}


def test_reads_do_not_rescore_and_writes_keep_scores_fresh(tmp_path, monkeypatch):
    board = tmp_path / "b.sqlite"
    store = Store(board)
    base = store.submit(build_bundle(make_runs(tmp_path, GOOD, "base")))
    other = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "o", variant="pfo-last")))
    assert _stored(store) == _fresh(store)
    store.record_verification(base, True, {"note": "test"})
    store.pin_baseline(base)
    after_pin = _stored(store)
    assert after_pin == _fresh(store) and after_pin[other].baseline_id == base
    assert after_pin[other].prob_improvement == pytest.approx(2 / 3)

    def boom(*_a, **_k):
        raise AssertionError("a read re-scored an entry")

    monkeypatch.setattr(stored, "score_entry", boom)
    client = TestClient(create_app(board))
    for url in ("/", f"/entry/{other}", "/api/entries", f"/api/entries/{other}"):
        assert client.get(url).status_code == 200, url
    monkeypatch.undo()

    store.set_hidden(base)  # the baseline is hidden: the other entry is scored without one
    assert _stored(store)[other].baseline_id is None and _stored(store) == _fresh(store)
    store.set_hidden(base, False)
    assert _stored(store)[other].baseline_id == base
    store.delete(base)
    assert _stored(store) == _fresh(store) and _stored(store)[other].prob_improvement is None


def test_a_board_without_stored_scores_is_scored_once_on_first_read(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    sid = store.submit(build_bundle(make_runs(tmp_path, GOOD)))
    with store.engine.begin() as conn:  # a board written before the scores table existed
        conn.execute(stored.stored_scores.delete())
    assert stored.refresh_scores(store, "rayenvs/Bandit-K2n2-v0") == 1
    assert stored.refresh_scores(store, "rayenvs/Bandit-K2n2-v0") == 0  # nothing stale any more
    assert [e.id for e in stored.listing(store)[0]] == [sid]


def test_an_entry_that_cannot_be_scored_is_quarantined_not_a_failed_write(tmp_path, monkeypatch):
    board = tmp_path / "b.sqlite"
    store = Store(board)
    ok = store.submit(build_bundle(make_runs(tmp_path, GOOD, "ok")))

    def broken(*_a, **_k):
        raise RuntimeError("detector exploded")

    monkeypatch.setattr(stored, "score_entry", broken)
    bad = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "bad", variant="pfo-last")))
    monkeypatch.undo()
    listed, quarantined = stored.listing(store)
    assert [e.id for e in listed] == [ok]
    assert [q.id for q in quarantined] == [bad] and "detector exploded" in quarantined[0].reason
    page = TestClient(create_app(board)).get("/")
    assert page.status_code == 200 and 'id="quarantined"' in page.text and f"#{bad}" in page.text
