"""The served board's caches (parsed bundles, entry scores) never serve a stale answer: a score is the same as
computed afresh, and changes when the entry's baseline changes; a row rewritten in place is re-parsed."""

from __future__ import annotations

import pytest
from test_leaderboard_synthetic import make_runs

from leaderboard.bundle import build_bundle
from leaderboard.scoring import score_board
from leaderboard.storage import Store, submissions


def test_cached_scores_equal_fresh_ones_and_follow_the_baseline(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    base = store.submit(
        build_bundle(make_runs(tmp_path, [[0.5] * 4, [0.5, 0.75, 0.5, 0.75], [0.5] * 4], "base"))
    )
    better = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "better", variant="pfo-last")))
    cache: dict = {}
    first = score_board(store.entries(), {}, cache=cache)
    assert len(cache) == 2 and first == score_board(store.entries(), {})
    assert score_board(store.entries(), {}, cache=cache) == first  # served from the cache
    assert first[better].baseline_id is None and first[better].prob_improvement is None
    with store.engine.begin() as conn:  # a pin counts only for a verified entry
        conn.execute(submissions.update().where(submissions.c.id == base).values(tier="verified"))
    pinned = score_board(store.entries(), {"rayenvs/Bandit-K2n2-v0": base}, cache=cache)
    assert pinned[better].baseline_id == base
    assert pinned[better].prob_improvement == pytest.approx(1.0)
    assert pinned == score_board(store.entries(), {"rayenvs/Bandit-K2n2-v0": base})


def test_a_row_rewritten_in_place_is_parsed_again(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    sid = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "x")))
    assert [e.id for e in store.entries()] == [sid]
    with store.engine.begin() as conn:
        conn.execute(submissions.update().where(submissions.c.id == sid).values(bundle_json="{}"))
    assert store.entries() == []
    assert [q.id for q in store.quarantined()] == [sid]
