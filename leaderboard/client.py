"""Submitting a bundle to a remote board over HTTP (``rayenvs submit --board https://...``).

The token comes from ``--token`` or ``$RAYENVS_LEADERBOARD_TOKEN``, never from a file the command guesses.
The server re-validates everything, so this client only transports the bundle and reports the answer.
"""

from __future__ import annotations

import os
from typing import Any

from leaderboard.schema import Bundle

TOKEN_ENV_VAR = "RAYENVS_LEADERBOARD_TOKEN"
HTTP_TIMEOUT_S = 120.0


def is_http_board(board: str | None) -> bool:
    return board is not None and str(board).startswith(("http://", "https://"))


def submit_http(bundle: Bundle, base_url: str, token: str | None = None, client: Any = None) -> int:
    """POST the bundle to ``base_url/api/submit``; return the new entry's id or raise ValueError with the reason."""
    import httpx

    token = token or os.environ.get(TOKEN_ENV_VAR)
    if not token:
        raise ValueError(f"submitting to {base_url} needs a token: pass --token or set ${TOKEN_ENV_VAR}")
    http = client if client is not None else httpx.Client(timeout=HTTP_TIMEOUT_S)
    try:
        response = http.post(
            base_url.rstrip("/") + "/api/submit",
            content=bundle.model_dump_json(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
    finally:
        if client is None:
            http.close()
    if response.status_code != 201:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise ValueError(f"{base_url} refused the submission (HTTP {response.status_code}): {detail}")
    return int(response.json()["id"])
