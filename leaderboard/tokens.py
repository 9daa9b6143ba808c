"""Submission tokens for the HTTP API: shown once at creation, stored only as a sha256 digest.

Tokens are 256-bit random strings (``secrets``), so a digest without salt is enough: there is nothing to
brute-force, and a leaked database does not leak usable tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import insert, select, update

from leaderboard.storage import MAX_TOKEN_NAME, Store, tokens

TOKEN_PREFIX = "rlb_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, name: str) -> str:
    """Create a token labelled ``name`` and return it in clear (the only time it is available)."""
    if not name or len(name) > MAX_TOKEN_NAME:
        raise ValueError(f"token name must have 1..{MAX_TOKEN_NAME} characters, got {len(name)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with store.engine.execution_options(write=True).begin() as conn:
        conn.execute(
            insert(tokens).values(
                name=name,
                token_sha256=_digest(token),
                created_at=dt.datetime.now(dt.timezone.utc),
                revoked=False,
            )
        )
    return token


def token_owner(store: Store, token: str | None) -> tuple[int, str] | None:
    """``(token id, owner name)`` if ``token`` is valid and not revoked, else None."""
    if not token or len(token) > 200:
        return None
    with store.engine.connect() as conn:
        row = conn.execute(
            select(tokens.c.id, tokens.c.name, tokens.c.token_sha256, tokens.c.revoked).where(
                tokens.c.token_sha256 == _digest(token)
            )
        ).first()
    if row is None or row.revoked or not secrets.compare_digest(row.token_sha256, _digest(token)):
        return None
    return int(row.id), row.name


def check_token(store: Store, token: str | None) -> str | None:
    """The name of the token's owner if ``token`` is valid and not revoked, else None."""
    owner = token_owner(store, token)
    return None if owner is None else owner[1]


def token_ids(store: Store, name: str) -> list[int]:
    """Ids of every token (revoked or not) labelled ``name``: how a revoked token's entries are found."""
    with store.engine.connect() as conn:
        return [int(r.id) for r in conn.execute(select(tokens.c.id).where(tokens.c.name == name))]


def revoke_token(store: Store, name: str) -> int:
    """Revoke every token labelled ``name``; return how many were revoked."""
    with store.engine.execution_options(write=True).begin() as conn:
        result = conn.execute(
            update(tokens).where(tokens.c.name == name, ~tokens.c.revoked).values(revoked=True)
        )
    return int(result.rowcount)


def list_tokens(store: Store) -> list[dict[str, object]]:
    """Names, creation times and status of every token (never the tokens themselves)."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(tokens.c.id, tokens.c.name, tokens.c.created_at, tokens.c.revoked).order_by(tokens.c.id)
        ).all()
    return [
        {"id": r.id, "name": r.name, "created_at": r.created_at.isoformat(), "revoked": bool(r.revoked)}
        for r in rows
    ]
