"""Leaderboard storage with SQLAlchemy Core: SQLite by default, PostgreSQL through the same code.

``--board`` takes either a file path (SQLite) or a SQLAlchemy URL (``postgresql://...``). For SQLite, several
processes may submit at once: the database runs in WAL mode with a busy timeout, and every write runs in a
``BEGIN IMMEDIATE`` transaction, so writers queue instead of failing, and a duplicate check and its insert
can never interleave with another writer's. Weights live in their own table so that listing entries never
loads megabytes of tensors.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from leaderboard.schema import Bundle
from leaderboard.validation import SubmissionRejected, check_reproducible, validate_bundle

SQLITE_BUSY_TIMEOUT_S = 60.0
TIERS = ("failed", "self-reported", "reproducible", "verified")
TIER_RANK = {tier: rank - 1 for rank, tier in enumerate(TIERS)}  # failed -1 < self-reported 0 < ... < verified 2
MAX_TOKEN_NAME = 200

metadata = MetaData()

submissions = Table(
    "submissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("content_hash", String(80), nullable=False, unique=True),
    Column("env_id", String(200), nullable=False, index=True),
    Column("family", String(40), nullable=False, index=True),
    Column("algo", String(200), nullable=False),
    Column("variant", String(200), nullable=False),
    Column("submitter", String(200), nullable=False),
    Column("tier", String(20), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("bundle_json", Text, nullable=False),
    # Who submitted it: the token's id (None for a local `rayenvs submit`, which needs file access anyway).
    Column("token_id", Integer, nullable=True, index=True),
    Column("hidden", Boolean, nullable=False, default=False),
)
# Columns added after the first release: older board files get them on open (ALTER TABLE ... ADD COLUMN).
_ADDED_COLUMNS = {"token_id": "INTEGER", "hidden": "BOOLEAN NOT NULL DEFAULT 0"}

weights = Table(
    "weights",
    metadata,
    Column("submission_id", Integer, ForeignKey("submissions.id"), primary_key=True),
    Column("seed", Integer, primary_key=True),
    Column("safetensors", LargeBinary, nullable=False),
)

verifications = Table(
    "verifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False, index=True),
    Column("passed", Boolean, nullable=False),
    Column("report_json", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

baseline_pins = Table(
    "baseline_pins",
    metadata,
    Column("env_id", String(200), primary_key=True),
    Column("submission_id", Integer, ForeignKey("submissions.id"), nullable=False),
)

# Scores computed once per write (leaderboard.stored_scores): a page view reads them and never re-scores.
# score_json is None and error set for a row that could not be read when it was scored (quarantined).
stored_scores = Table(
    "scores",
    metadata,
    Column("submission_id", Integer, ForeignKey("submissions.id"), primary_key=True),
    Column("baseline_id", Integer, nullable=True),
    Column("score_json", Text, nullable=True),
    Column("error", Text, nullable=True),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(MAX_TOKEN_NAME), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


class DuplicateSubmission(SubmissionRejected):
    """The same content (same hash) is already on the board."""


@dataclass(frozen=True)
class Quarantined:
    """A stored row that no longer parses or validates: left out of every page and reported instead."""

    id: int
    reason: str


@functools.lru_cache(maxsize=1024)
def _parse_stored(bundle_json: str) -> Bundle:
    """A stored row's bundle, parsed once per distinct JSON text: every page view reads every row, and
    re-validating 200 bundles per view was a third of the front page's time (a failure is not cached)."""
    return Bundle.model_validate_json(bundle_json)


@dataclass(frozen=True)
class Entry:
    """One stored submission, without its weights."""

    id: int
    content_hash: str
    env_id: str
    family: str
    algo: str
    variant: str
    submitter: str
    tier: str
    created_at: dt.datetime
    bundle: Bundle
    token_id: int | None = None
    hidden: bool = False

    def summary(self) -> dict[str, Any]:
        """The entry's identity as JSON-ready values (no data, no weights)."""
        return entry_summary(self)


def entry_summary(e: Any) -> dict[str, Any]:
    """The identity fields of a stored entry (an :class:`Entry` or a listed one) as JSON-ready values."""
    return {
        "id": e.id,
        "env_id": e.env_id,
        "family": e.family,
        "algo": e.algo,
        "variant": e.variant,
        "submitter": e.submitter,
        "tier": e.tier,
        "content_hash": e.content_hash,
        "created_at": e.created_at.isoformat(),
    }


def board_url(board: str | Path | None) -> str:
    """A SQLAlchemy URL for ``--board``: a URL is kept, a path becomes SQLite, None is the default file."""
    from rayenvs.paths import leaderboard_path

    if board is None:
        return f"sqlite:///{leaderboard_path()}"
    text = str(board)
    if text.startswith(("http://", "https://")):
        raise ValueError(f"board {text!r} is a web address; only `rayenvs submit` talks to served boards")
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def tier_of(bundle: Bundle) -> str:
    """``reproducible`` when config, versions and every seed's weights are present, else ``self-reported``."""
    has_config = bool(bundle.hyperparameters) or bool(bundle.config_yaml)
    return "reproducible" if has_config and bundle.versions and bundle.has_weights() else "self-reported"


def _enable_wal(cur: Any) -> None:
    """Switch the database to WAL, retrying while another connection converts it.

    Why: ``PRAGMA journal_mode=WAL`` on a new file fails at once with "database is locked" while another
    process converts it (SQLite's busy handler does not cover it): measured here in 56 of 2,400 connections
    when 12 processes open a new board together. Retried with backoff up to the busy timeout.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    delay = 0.002
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.2)


class Store:
    """The board's database; open one per process (engines are not shared across processes)."""

    def __init__(self, board: str | Path | None = None) -> None:
        self.url = board_url(board)
        self.engine: Engine = create_engine(self.url, future=True, **self._engine_kwargs())
        if self.engine.dialect.name == "sqlite":
            self._configure_sqlite()
        self._create_tables()

    def _create_tables(self) -> None:
        """Create missing tables; safe when several processes open a new board at once."""
        try:
            with self._writer() as conn:  # SQLite: BEGIN IMMEDIATE serialises the check-then-create
                metadata.create_all(conn)
        except (OperationalError, ProgrammingError, IntegrityError):
            # Another process created them between our check and our CREATE (PostgreSQL): check again.
            metadata.create_all(self.engine)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        from sqlalchemy import inspect

        present = {c["name"] for c in inspect(self.engine).get_columns("submissions")}
        for name, ddl in _ADDED_COLUMNS.items():
            if name not in present:
                try:
                    with self._writer() as conn:
                        conn.exec_driver_sql(f"ALTER TABLE submissions ADD COLUMN {name} {ddl}")
                except (OperationalError, ProgrammingError) as exc:  # another process added it first
                    if "duplicate" not in str(exc).lower() and "exists" not in str(exc).lower():
                        raise

    def _engine_kwargs(self) -> dict[str, Any]:
        if self.url.startswith("sqlite"):
            return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}}
        return {"pool_pre_ping": True}

    def _configure_sqlite(self) -> None:
        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's begin event emit BEGIN itself (pysqlite's implicit BEGIN is deferred).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            _enable_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN")

    def _writer(self) -> Any:
        return self.engine.execution_options(write=True).begin()

    def close(self) -> None:
        self.engine.dispose()

    # -- submissions -------------------------------------------------------------------------------------

    def submit(self, bundle: Bundle, token_id: int | None = None) -> int:
        """Validate and store a bundle atomically; return its id. Nothing is stored if anything fails.

        The JSON that is stored is parsed back and must hash to the submitted hash, so a row that is stored
        is a row that reads back (no value is altered on the way to the database)."""
        from rayenvs.registration import env_info

        validate_bundle(bundle)
        tier = tier_of(bundle)
        if tier == "reproducible":
            check_reproducible(bundle)
        family = env_info(bundle.env_id).family
        stored = bundle.without_weights()
        stored_json = stored.model_dump_json()
        try:
            reread = Bundle.model_validate_json(stored_json).compute_hash()
        except ValueError as exc:
            raise SubmissionRejected(f"the bundle does not survive storage: {exc}") from exc
        if reread != bundle.content_hash:
            raise SubmissionRejected(
                f"the stored form of the bundle hashes to {reread}, not {bundle.content_hash}: "
                "some value does not round-trip through JSON"
            )
        from leaderboard.stored_scores import score_row_for

        score_row = score_row_for(self, bundle, family)  # outside the write lock: the bootstrap is CPU-heavy
        with self._writer() as conn:
            existing = conn.execute(
                select(submissions.c.id).where(submissions.c.content_hash == bundle.content_hash)
            ).first()
            if existing is not None:
                raise DuplicateSubmission(
                    f"duplicate submission: content hash {bundle.content_hash} is already entry #{existing.id}"
                )
            try:
                sid = conn.execute(
                    insert(submissions).values(
                        content_hash=bundle.content_hash,
                        env_id=bundle.env_id,
                        family=family,
                        algo=bundle.algo,
                        variant=bundle.variant,
                        submitter=bundle.submitter,
                        tier=tier,
                        created_at=_now(),
                        bundle_json=stored_json,
                        token_id=token_id,
                        hidden=False,
                    )
                ).inserted_primary_key[0]
            except IntegrityError as exc:  # a concurrent writer on a database without BEGIN IMMEDIATE
                raise DuplicateSubmission(
                    f"duplicate submission: content hash {bundle.content_hash}"
                ) from exc
            for s in bundle.seeds:
                blob = s.weights_bytes()
                if blob is not None:
                    conn.execute(insert(weights).values(submission_id=sid, seed=s.seed, safetensors=blob))
            conn.execute(insert(stored_scores).values(submission_id=sid, **score_row))
        self._rescore(bundle.env_id)
        return int(sid)

    def _env_of(self, submission_id: int) -> str:
        with self.engine.connect() as conn:
            row = conn.execute(select(submissions.c.env_id).where(submissions.c.id == submission_id)).first()
        if row is None:
            raise ValueError(f"no leaderboard entry with id {submission_id}")
        return str(row.env_id)

    def _rescore(self, env_id: str) -> None:
        """Score what a write made stale in one env (the new entry, or every entry whose baseline changed)."""
        from leaderboard.stored_scores import refresh_scores

        refresh_scores(self, env_id)

    def _entry(self, row: Any) -> Entry:
        """The row as an Entry; ValueError (with the reason) for a row that no longer parses or validates."""
        from rayenvs.registration import env_info

        try:
            bundle = _parse_stored(row.bundle_json)
            env_info(row.env_id)
        except ValueError as exc:
            raise ValueError(f"entry #{row.id} is quarantined: {str(exc)[:300]}") from exc
        return Entry(
            id=row.id,
            content_hash=row.content_hash,
            env_id=row.env_id,
            family=row.family,
            algo=row.algo,
            variant=row.variant,
            submitter=row.submitter,
            tier=row.tier,
            created_at=row.created_at,
            bundle=bundle,
            token_id=row.token_id,
            hidden=bool(row.hidden),
        )

    def _rows(
        self, family: str | None, env_id: str | None, include_hidden: bool, token_id: int | None = None
    ) -> list[Any]:
        query = select(submissions).order_by(submissions.c.id)
        if family is not None:
            query = query.where(submissions.c.family == family)
        if env_id is not None:
            query = query.where(submissions.c.env_id == env_id)
        if token_id is not None:
            query = query.where(submissions.c.token_id == token_id)
        if not include_hidden:
            query = query.where(~submissions.c.hidden)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def entries(
        self,
        family: str | None = None,
        env_id: str | None = None,
        include_hidden: bool = False,
        token_id: int | None = None,
    ) -> list[Entry]:
        """Readable entries (optionally of one family, env or token), oldest first; hidden ones only on request.
        Rows that no longer validate are skipped here and listed by :meth:`quarantined`."""
        out = []
        for row in self._rows(family, env_id, include_hidden, token_id):
            try:
                out.append(self._entry(row))
            except ValueError:
                continue
        return out

    def scan(self) -> tuple[list[Entry], list[Quarantined]]:
        """Readable (not hidden) entries and every quarantined row, in one pass over the table."""
        good, bad = [], []
        for row in self._rows(None, None, include_hidden=True):
            try:
                e = self._entry(row)
            except ValueError as exc:
                bad.append(Quarantined(row.id, str(exc)))
                continue
            if not e.hidden:
                good.append(e)
        return good, bad

    def quarantined(self) -> list[Quarantined]:
        """Every stored row that no longer parses or validates, with the reason (shown to the operator)."""
        out = []
        for row in self._rows(None, None, include_hidden=True):
            try:
                self._entry(row)
            except ValueError as exc:
                out.append(Quarantined(row.id, str(exc)))
        return out

    def entry(self, submission_id: int, include_hidden: bool = False) -> Entry:
        """One entry by id; ValueError naming the id if there is none (or it is hidden or quarantined)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(submissions).where(submissions.c.id == submission_id)).first()
        if row is None or (row.hidden and not include_hidden):
            raise ValueError(f"no leaderboard entry with id {submission_id}")
        return self._entry(row)

    # -- moderation --------------------------------------------------------------------------------------

    def set_hidden(self, submission_id: int, hidden: bool = True) -> None:
        """Hide an entry from every page and score (or show it again); its data stays for the record."""
        with self._writer() as conn:
            n = conn.execute(
                update(submissions).where(submissions.c.id == submission_id).values(hidden=hidden)
            ).rowcount
        if n == 0:
            raise ValueError(f"no leaderboard entry with id {submission_id}")
        self._rescore(self._env_of(submission_id))

    def delete(self, submission_id: int) -> None:
        """Remove an entry with its weights, verifications, stored score and baseline pin."""
        env_id = self._env_of(submission_id)
        with self._writer() as conn:
            conn.execute(delete(stored_scores).where(stored_scores.c.submission_id == submission_id))
            conn.execute(delete(weights).where(weights.c.submission_id == submission_id))
            conn.execute(delete(verifications).where(verifications.c.submission_id == submission_id))
            conn.execute(delete(baseline_pins).where(baseline_pins.c.submission_id == submission_id))
            n = conn.execute(delete(submissions).where(submissions.c.id == submission_id)).rowcount
        if n == 0:
            raise ValueError(f"no leaderboard entry with id {submission_id}")
        self._rescore(env_id)

    # -- the PPO baseline each env's entries are compared with -------------------------------------------

    def pin_baseline(self, submission_id: int) -> str:
        """Make a *verified* entry its env's baseline (the operator's decision, not the submitter's name)."""
        e = self.entry(submission_id)
        if e.tier != "verified":
            raise ValueError(
                f"entry #{submission_id} is {e.tier}; only a verified entry can be pinned as the baseline "
                f"(run `rayenvs leaderboard verify {submission_id}` first)"
            )
        with self._writer() as conn:
            conn.execute(delete(baseline_pins).where(baseline_pins.c.env_id == e.env_id))
            conn.execute(insert(baseline_pins).values(env_id=e.env_id, submission_id=submission_id))
        self._rescore(e.env_id)
        return e.env_id

    def pinned_baselines(self) -> dict[str, int]:
        """``{env_id: entry id}`` of the pinned baselines."""
        with self.engine.connect() as conn:
            return {r.env_id: r.submission_id for r in conn.execute(select(baseline_pins))}

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(submissions)).scalar_one())

    def weights(self, submission_id: int) -> dict[int, bytes]:
        """``{seed: safetensors blob}`` of an entry (empty if it was submitted without weights)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(weights).where(weights.c.submission_id == submission_id)).all()
        return {r.seed: bytes(r.safetensors) for r in rows}

    def weight_seeds(self, submission_id: int) -> list[int]:
        """The seeds whose weights an entry carries (without loading the blobs)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(weights.c.seed).where(weights.c.submission_id == submission_id).order_by(weights.c.seed)
            ).all()
        return [r.seed for r in rows]

    # -- verification ------------------------------------------------------------------------------------

    def record_verification(self, submission_id: int, passed: bool, report: dict[str, Any]) -> None:
        """Store a verification; a pass lifts the entry to ``verified``, a fail or an error makes it ``failed``
        (shown as such, so a failed claim is never presented as merely unverified)."""
        self.entry(submission_id, include_hidden=True)  # a clear error for an unknown id
        tier = "verified" if passed else "failed"
        with self._writer() as conn:
            conn.execute(
                insert(verifications).values(
                    submission_id=submission_id,
                    passed=passed,
                    report_json=json.dumps(report, sort_keys=True),
                    created_at=_now(),
                )
            )
            conn.execute(update(submissions).where(submissions.c.id == submission_id).values(tier=tier))
        self._rescore(self._env_of(submission_id))

    def verifications(self, submission_id: int) -> list[dict[str, Any]]:
        """Every verification of an entry, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(verifications)
                .where(verifications.c.submission_id == submission_id)
                .order_by(verifications.c.id)
            ).all()
        return [
            {"passed": r.passed, "created_at": r.created_at.isoformat(), "report": json.loads(r.report_json)}
            for r in rows
        ]
