"""The live board: FastAPI app with HTML pages, PNG plots, a JSON API and token-protected submissions.

Writes need ``Authorization: Bearer <token>`` (``rayenvs leaderboard token create``). The upload cap is
enforced on the bytes actually received, not only on Content-Length, so a lying client cannot stream past it.
Uploads are bundle JSON; their weights are safetensors and are never unpickled.

The submitter shown is the token's owner (any name inside the bundle is replaced) and the token's id is stored
with the entry. Parsing, validation and the database write run in the thread pool, never on the event loop, so
pages keep serving while a large bundle is checked; each token has a submission rate limit. Every response
carries a CSP without inline script, ``nosniff``, ``frame-ancestors 'none'`` and ``Referrer-Policy``; the
OpenAPI docs are off unless asked for.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from leaderboard.render import (
    SORT_SCRIPT,
    Urls,
    curve_png,
    entry_html,
    env_of_slug,
    index_html,
    profile_png,
    sort_script,
    task_html,
)
from leaderboard.schema import Bundle
from leaderboard.storage import DuplicateSubmission, Store
from leaderboard.stored_scores import listing
from leaderboard.tokens import token_owner
from leaderboard.validation import SubmissionRejected

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_SUBMISSIONS_PER_MINUTE = 30
MAX_ENTRY_ID = 2**63 - 1
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class RateLimiter:
    """At most ``per_minute`` events per key in any sliding 60-second window (thread-safe, in memory)."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute={per_minute} must be >= 1")
        self.per_minute = per_minute
        self._events: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        now = time.monotonic()
        with self._lock:
            q = self._events.setdefault(key, deque())
            while q and now - q[0] > 60.0:
                q.popleft()
            if len(q) >= self.per_minute:
                return False
            q.append(now)
            return True


APP_URLS = Urls(
    index=lambda: "/",
    entry=lambda i: f"/entry/{i}",
    curve=lambda i: f"/entry/{i}/curve.png",
    profile=lambda f: f"/family/{f}/profile.png",
    task=lambda slug: f"/task/{slug}",
    bundle=lambda i: f"/entry/{i}/bundle.json",
    weights=lambda i, seed: f"/entry/{i}/weights/{seed}.safetensors",
    script=lambda: SORT_SCRIPT,  # relative: served next to the index (/sort.js) and the task pages (/task/sort.js)
)


async def _read_capped(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {declared} bytes exceeds the {limit}-byte limit")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"upload exceeds the {limit}-byte limit")
    return bytes(body)


def create_app(
    board: str | Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    submissions_per_minute: int = DEFAULT_SUBMISSIONS_PER_MINUTE,
    api_docs: bool = False,
) -> FastAPI:
    """An app serving the board at ``board`` (path or SQLAlchemy URL; default the local SQLite file)."""
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes={max_upload_bytes} must be >= 1")
    store = Store(board)
    limiter = RateLimiter(submissions_per_minute)
    docs = {} if api_docs else {"docs_url": None, "redoc_url": None, "openapi_url": None}
    app = FastAPI(title="rayenvs leaderboard", **docs)
    app.state.store = store

    @app.middleware("http")
    async def _security_headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def _entry(entry_id: int) -> Any:
        if not 1 <= entry_id <= MAX_ENTRY_ID:
            raise HTTPException(404, f"no leaderboard entry with id {entry_id}")
        try:
            return store.entry(entry_id)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc

    def _score(e: Any) -> Any:
        """The stored score of a (visible, readable) entry: read, never recomputed."""
        listed, _ = listing(store, env_id=e.env_id)
        for item in listed:
            if item.id == e.id:
                return item.score
        raise HTTPException(404, f"no score for leaderboard entry {e.id}")

    def _paged(render: Any, *args: Any, page: int) -> str:
        try:
            return render(*args, page=page)
        except ValueError as exc:  # a page number past the end
            raise HTTPException(404, str(exc)) from exc

    @app.get("/", response_class=HTMLResponse)
    def index(page: int = 1) -> str:
        listed, quarantined = listing(store)
        return _paged(index_html, listed, {e.id: e.score for e in listed}, APP_URLS, quarantined, page=page)

    @app.get("/" + SORT_SCRIPT)
    @app.get("/task/" + SORT_SCRIPT)
    def sort_js() -> Response:
        return Response(sort_script(), media_type="text/javascript")

    @app.get("/task/{slug}", response_class=HTMLResponse)
    def task_page(slug: str, page: int = 1) -> str:
        try:
            env_id = env_of_slug(slug)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc
        listed, _ = listing(store, env_id=env_id)
        return _paged(task_html, env_id, listed, {e.id: e.score for e in listed}, APP_URLS, page=page)

    @app.get("/entry/{entry_id}/bundle.json")
    def entry_bundle(entry_id: int) -> Response:
        return Response(
            _entry(entry_id).bundle.model_dump_json(indent=2),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="entry-{entry_id}.json"'},
        )

    @app.get("/entry/{entry_id}/weights/{seed}.safetensors")
    def entry_weights(entry_id: int, seed: int) -> Response:
        _entry(entry_id)  # a hidden or unknown entry has no downloads
        blob = store.weights(entry_id).get(seed)
        if blob is None:
            raise HTTPException(404, f"entry {entry_id} has no weights for seed {seed}")
        return Response(
            blob,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="entry-{entry_id}-seed-{seed}.safetensors"'},
        )

    @app.get("/entry/{entry_id}", response_class=HTMLResponse)
    def entry_page(entry_id: int) -> str:
        e = _entry(entry_id)
        return entry_html(
            e, _score(e), store.verifications(e.id), APP_URLS, store.weight_seeds(e.id),
            store.pinned_baselines().get(e.env_id) == e.id,
        )

    @app.get("/entry/{entry_id}/curve.png")
    def entry_curve(entry_id: int) -> Response:
        return Response(curve_png(_entry(entry_id)), media_type="image/png")

    @app.get("/family/{family}/profile.png")
    def family_profile(family: str) -> Response:
        entries = store.entries(family=family)
        if not entries:
            raise HTTPException(404, f"no entries in family {family!r}")
        return Response(profile_png(entries), media_type="image/png")

    @app.get("/api/entries")
    def api_entries() -> list[dict[str, Any]]:
        listed, _ = listing(store)
        return [e.summary() | {"scores": e.score.as_dict()} for e in listed]

    @app.get("/api/entries/{entry_id}")
    def api_entry(entry_id: int) -> dict[str, Any]:
        e = _entry(entry_id)
        return e.summary() | {
            "scores": _score(e).as_dict(),
            "verifications": store.verifications(e.id),
            "bundle": e.bundle.model_dump(mode="json"),
        }

    def _parse_and_store(body: bytes, token_id: int, owner: str) -> int:
        try:
            bundle = Bundle.model_validate_json(body)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_input=False, include_context=False)
            raise HTTPException(422, f"not a valid submission bundle: {str(errors)[:2000]}") from exc
        bundle = bundle.model_copy(update={"submitter": owner})  # unhashed: the hash is unchanged
        try:
            return store.submit(bundle, token_id=token_id)
        except SubmissionRejected as exc:
            raise HTTPException(409 if isinstance(exc, DuplicateSubmission) else 422, str(exc)) from exc

    @app.post("/api/submit", status_code=201)
    async def api_submit(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        found = await run_in_threadpool(token_owner, store, token)
        if found is None:
            raise HTTPException(401, "a valid submission token is required (Authorization: Bearer <token>)")
        token_id, owner = found
        if not limiter.allow(token_id):
            raise HTTPException(
                429, f"token {owner!r} exceeded {limiter.per_minute} submissions per minute; retry later"
            )
        body = await _read_capped(request, max_upload_bytes)
        sid = await run_in_threadpool(_parse_and_store, body, token_id, owner)
        return JSONResponse({"id": sid, "token_owner": owner}, status_code=201)

    return app
