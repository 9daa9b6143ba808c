"""Storage: SQLite by default, the same code through a URL, no lost submissions under concurrent writers."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from test_leaderboard_synthetic import GOOD, make_runs

from leaderboard.bundle import build_bundle
from leaderboard.static_site import export_site
from leaderboard.storage import DuplicateSubmission, Store, board_url
from leaderboard.tokens import check_token, create_token, list_tokens, revoke_token
from rayenvs.cli import main

WORKERS = 4
PER_WORKER = 3


def _worker(board: str, bundle_json: list[str], barrier) -> list[str]:
    from leaderboard.schema import Bundle

    barrier.wait(timeout=60)  # all workers open (and may create) the board at once, then submit at once
    store = Store(board)
    outcomes = []
    for js in bundle_json:
        try:
            outcomes.append(f"ok:{store.submit(Bundle.model_validate_json(js))}")
        except DuplicateSubmission:
            outcomes.append("duplicate")
    store.close()
    return outcomes


PG_URL = os.environ.get("RAYENVS_TEST_POSTGRES_URL")
if not PG_URL and os.environ.get("RAYENVS_REQUIRE_POSTGRES") == "1":  # .ci/run starts a server: never skip there
    raise RuntimeError("RAYENVS_REQUIRE_POSTGRES=1 but RAYENVS_TEST_POSTGRES_URL is not set")
needs_postgres = pytest.mark.skipif(
    not PG_URL, reason="set RAYENVS_TEST_POSTGRES_URL=postgresql+psycopg://... to run against PostgreSQL"
)


def _empty_postgres() -> str:
    store = Store(PG_URL)
    with store.engine.begin() as conn:
        # RESTART IDENTITY: ids start at 1 again, as on a new SQLite board.
        conn.execute(text("TRUNCATE scores, baseline_pins, weights, verifications, tokens, submissions "
                          "RESTART IDENTITY CASCADE"))
    store.close()
    return PG_URL


BACKENDS = ["sqlite", pytest.param("postgresql", marks=needs_postgres)]


@pytest.fixture(params=BACKENDS)
def board(request, tmp_path) -> str:
    """A fresh board on each backend: a SQLite file, and the test PostgreSQL database (emptied) when set."""
    return str(tmp_path / "board.sqlite") if request.param == "sqlite" else _empty_postgres()


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_submissions_lose_nothing(tmp_path, backend):
    # SQLite: the board does not exist yet, so the workers also race to create its tables.
    board = str(tmp_path / "shared.sqlite") if backend == "sqlite" else _empty_postgres()
    bundles = [
        build_bundle(
            make_runs(tmp_path, [[0.5, 0.5, 0.5, 0.25 * (w % 4)]] + GOOD[1:], f"w{w}-{i}", algo=f"algo{i}")
        )
        for w in range(WORKERS)
        for i in range(PER_WORKER)
    ]
    shared = build_bundle(make_runs(tmp_path, GOOD, "shared"))
    jobs = [
        [b.model_dump_json() for b in bundles[w * PER_WORKER : (w + 1) * PER_WORKER]]
        + [shared.model_dump_json()]
        for w in range(WORKERS)
    ]
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(WORKERS)
        with ctx.Pool(WORKERS) as pool:
            results = pool.starmap(_worker, [(board, job, barrier) for job in jobs], chunksize=1)
    flat = [r for rs in results for r in rs]
    assert sum(r.startswith("ok:") for r in flat) == WORKERS * PER_WORKER + 1
    assert flat.count("duplicate") == WORKERS - 1  # the shared bundle is stored exactly once
    store = Store(board)
    hashes = {e.content_hash for e in store.entries()}
    assert hashes == {b.content_hash for b in bundles} | {shared.content_hash}
    assert store.count() == WORKERS * PER_WORKER + 1
    if backend == "sqlite":
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_board_url_forms(tmp_path):
    assert board_url(tmp_path / "x.sqlite") == f"sqlite:///{(tmp_path / 'x.sqlite').resolve()}"
    assert board_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert board_url(None).endswith("rayenvs-data/leaderboard.sqlite")
    # A SQLAlchemy URL goes through the same code path as a path.
    store = Store(f"sqlite:///{tmp_path / 'url.sqlite'}")
    sid = store.submit(build_bundle(make_runs(tmp_path, GOOD)))
    assert Store(tmp_path / "url.sqlite").entry(sid).env_id == "rayenvs/Bandit-K2n2-v0"


def test_round_trip_on_every_backend(tmp_path, board):
    store = Store(board)
    b = build_bundle(make_runs(tmp_path, GOOD, weights="policy"))
    sid = store.submit(b)
    e = store.entry(sid)
    assert (e.content_hash, e.tier, e.family) == (b.content_hash, "reproducible", "bandit")
    assert set(store.weights(sid)) == {0, 1, 2}
    with pytest.raises(DuplicateSubmission):
        store.submit(b)
    store.record_verification(sid, True, {"note": "test"})
    assert store.entry(sid).tier == "verified" and store.verifications(sid)[0]["passed"] is True
    token = create_token(store, "pg")
    assert check_token(store, token) == "pg"
    # Issue 13: the stored scores table works on the backend too, and follows the verification and a pin.
    from leaderboard.stored_scores import listing

    store.pin_baseline(sid)
    other = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "o", variant="pfo-last")))
    listed, quarantined = listing(store)
    scores = {e.id: e.score for e in listed}
    assert quarantined == [] and scores[other].baseline_id == sid
    assert scores[other].component_scores == {"context_0": 1.0, "context_1": 1.0}
    store.delete(other)
    assert [e.id for e in listing(store)[0]] == [sid]


def test_tokens_are_hashed_and_revocable(board):
    store = Store(board)
    token = create_token(store, "alice")
    assert check_token(store, token) == "alice"
    assert check_token(store, token + "x") is None and check_token(store, None) is None
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_sha256 FROM tokens").scalar()
    assert token not in stored and len(stored) == 64
    assert list_tokens(store)[0]["name"] == "alice"
    assert revoke_token(store, "alice") == 1
    assert check_token(store, token) is None
    with pytest.raises(ValueError, match="token name"):
        create_token(store, "")


def test_static_export_and_cli(tmp_path, capsys, board):
    weights_runs = make_runs(tmp_path, GOOD, "a", weights="policy")
    assert main(["submit", *map(str, weights_runs), "--board", str(board), "--submitter", "<b>bold</b>"]) == 0
    assert main(["submit", *map(str, make_runs(tmp_path, [[1.0] * 4] * 3, "b")), "--board", str(board)]) == 0
    capsys.readouterr()
    out = tmp_path / "site"
    assert main(["leaderboard", "export", "--board", str(board), "--html", str(out)]) == 0
    index = (out / "index.html").read_text()
    assert 'href="entry/1.html"' in index and 'href="entry/2.html"' in index
    assert "&lt;b&gt;bold&lt;/b&gt;" in index and "<b>bold</b>" not in index
    assert "reproducible" in index and "self-reported" in index  # entry 1 has weights, config, versions
    entry = (out / "entry" / "1.html").read_text()
    assert 'src="1/curve.png"' in entry and 'href="../index.html"' in entry
    assert (out / "entry" / "1" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "family" / "bandit" / "profile.png").read_bytes()[:4] == b"\x89PNG"
    assert '"content_hash"' in (out / "api" / "entries.json").read_text()
    assert main(["leaderboard", "list", "--board", str(board)]) == 0
    listing = capsys.readouterr().out
    assert "rayenvs/Bandit-K2n2-v0" in listing and "<b>bold</b>" in listing
    assert main(["leaderboard", "token", "create", "--name", "ci", "--board", str(board)]) == 0
    token = capsys.readouterr().out.strip()
    assert check_token(Store(board), token) == "ci"
    assert export_site(Store(board), out)  # re-export over an existing site
    assert not any(p.name.endswith(".tmp") for p in Path(out).rglob("*"))


def test_wal_switch_is_retried_while_another_process_holds_the_new_file():
    """``PRAGMA journal_mode=WAL`` can fail at once with "database is locked" on a board being created."""
    import sqlite3

    from leaderboard.storage import _enable_wal

    class Cursor:
        def __init__(self, failures: int, message: str = "database is locked") -> None:
            self.failures, self.message, self.calls = failures, message, 0

        def execute(self, sql: str) -> None:
            assert sql == "PRAGMA journal_mode=WAL"
            self.calls += 1
            if self.calls <= self.failures:
                raise sqlite3.OperationalError(self.message)

    cur = Cursor(failures=3)
    _enable_wal(cur)
    assert cur.calls == 4
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        _enable_wal(Cursor(failures=1, message="disk I/O error"))  # other errors are not retried
