"""The live board: FastAPI app with HTML pages, PNG plots, a JSON API and token-protected submissions.

Writes need ``Authorization: Bearer <token>`` (``rayenvs leaderboard token create``). The upload cap is
enforced on the bytes actually received, not only on Content-Length, so a lying client cannot stream past it.
Uploads are bundle JSON; their weights are safetensors and are never unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from leaderboard.render import Urls, curve_png, entry_html, index_html, profile_png
from leaderboard.schema import Bundle
from leaderboard.scoring import score_board
from leaderboard.storage import DuplicateSubmission, Store
from leaderboard.tokens import check_token
from leaderboard.validation import SubmissionRejected

DEFAULT_MAX_UPLOAD_BYTES = 64 * 1024 * 1024

APP_URLS = Urls(
    index=lambda: "/",
    entry=lambda i: f"/entry/{i}",
    curve=lambda i: f"/entry/{i}/curve.png",
    profile=lambda f: f"/family/{f}/profile.png",
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


def create_app(board: str | Path | None = None, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES) -> FastAPI:
    """An app serving the board at ``board`` (path or SQLAlchemy URL; default the local SQLite file)."""
    if max_upload_bytes < 1:
        raise ValueError(f"max_upload_bytes={max_upload_bytes} must be >= 1")
    store = Store(board)
    app = FastAPI(title="rayenvs leaderboard")
    app.state.store = store

    def _entry(entry_id: int) -> Any:
        try:
            return store.entry(entry_id)
        except ValueError as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        entries = store.entries()
        return index_html(entries, score_board(entries), APP_URLS)

    @app.get("/entry/{entry_id}", response_class=HTMLResponse)
    def entry_page(entry_id: int) -> str:
        e = _entry(entry_id)
        scores = score_board(store.entries(env_id=e.env_id))
        return entry_html(e, scores[e.id], store.verifications(e.id), APP_URLS)

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
        entries = store.entries()
        scores = score_board(entries)
        return [e.summary() | {"scores": scores[e.id].as_dict()} for e in entries]

    @app.get("/api/entries/{entry_id}")
    def api_entry(entry_id: int) -> dict[str, Any]:
        e = _entry(entry_id)
        scores = score_board(store.entries(env_id=e.env_id))
        return e.summary() | {
            "scores": scores[e.id].as_dict(),
            "verifications": store.verifications(e.id),
            "bundle": e.bundle.model_dump(mode="json"),
        }

    @app.post("/api/submit", status_code=201)
    async def api_submit(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        owner = check_token(store, token)
        if owner is None:
            raise HTTPException(401, "a valid submission token is required (Authorization: Bearer <token>)")
        body = await _read_capped(request, max_upload_bytes)
        try:
            bundle = Bundle.model_validate_json(body)
        except ValidationError as exc:
            raise HTTPException(
                422,
                f"not a valid submission bundle: {exc.errors(include_url=False, include_input=False, include_context=False)}",
            ) from exc
        try:
            sid = store.submit(bundle)
        except SubmissionRejected as exc:
            raise HTTPException(409 if isinstance(exc, DuplicateSubmission) else 422, str(exc)) from exc
        return JSONResponse({"id": sid, "token_owner": owner}, status_code=201)

    return app
