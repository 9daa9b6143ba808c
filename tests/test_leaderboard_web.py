"""The FastAPI app: pages, JSON API, and the security rules (tokens, upload cap, escaping, no unpickling)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from test_leaderboard_synthetic import GOOD, make_runs, pickle_payload

from leaderboard.bundle import build_bundle
from leaderboard.storage import Store
from leaderboard.tokens import create_token
from leaderboard.web import create_app

XSS = '<script>alert("x")</script>'


@pytest.fixture
def board(tmp_path):
    return tmp_path / "web.sqlite"


@pytest.fixture
def token(board):
    return create_token(Store(board), "tester")


def _client(board, **kwargs) -> TestClient:
    return TestClient(create_app(board, **kwargs))


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def test_pages_api_and_plots(tmp_path, board):
    store = Store(board)
    base = store.submit(build_bundle(make_runs(tmp_path, GOOD, "base"), submitter="alice"))
    other = store.submit(build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "o", variant="pfo-last")))
    # Issue 11: the baseline is the operator's pin of a verified entry, not whichever entry is named ppo/baseline.
    with pytest.raises(ValueError, match="only a verified entry can be pinned"):
        store.pin_baseline(base)
    store.record_verification(base, True, {"note": "test"})
    store.pin_baseline(base)
    client = _client(board)
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'id="table-bandit"' in page.text and f'href="/entry/{base}"' in page.text
    assert 'src="/family/bandit/profile.png"' in page.text
    # Best IQM first: the all-optimal entry is row one.
    assert page.text.index(f'data-entry="{other}"') < page.text.index(f'data-entry="{base}"')
    entry = client.get(f"/entry/{base}")
    assert entry.status_code == 200 and f'src="/entry/{base}/curve.png"' in entry.text
    png = client.get(f"/entry/{base}/curve.png")
    assert (
        png.status_code == 200
        and png.headers["content-type"] == "image/png"
        and png.content[:4] == b"\x89PNG"
    )
    assert client.get("/family/bandit/profile.png").content[:4] == b"\x89PNG"
    assert client.get("/entry/999").status_code == 404
    api = client.get("/api/entries").json()
    assert [e["id"] for e in api] == [base, other]
    # Baseline seed scores 1, 1, 0.5 against 1, 1, 1: 3 wins and 6 ties of 9 pairs.
    assert api[1]["scores"]["baseline_id"] == base and api[1]["scores"]["prob_improvement"] == pytest.approx(
        2 / 3
    )
    detail = client.get(f"/api/entries/{base}").json()
    assert detail["bundle"]["seeds"][0]["eval"]["steps"] == [0, 100, 200, 300]
    assert detail["submitter"] == "alice" and detail["tier"] == "verified"


def test_submission_requires_a_valid_token(tmp_path, board, token):
    body = build_bundle(make_runs(tmp_path, GOOD)).model_dump_json()
    client = _client(board)
    assert client.post("/api/submit", content=body).status_code == 401
    assert client.post("/api/submit", content=body, headers=_auth("rlb_wrong")).status_code == 401
    assert Store(board).count() == 0
    ok = client.post("/api/submit", content=body, headers=_auth(token))
    assert ok.status_code == 201 and ok.json()["token_owner"] == "tester"
    dup = client.post("/api/submit", content=body, headers=_auth(token))
    assert dup.status_code == 409 and "duplicate submission" in dup.json()["detail"]
    bad = json.loads(body)
    bad["seeds"] = bad["seeds"][:2]
    rejected = client.post("/api/submit", content=json.dumps(bad), headers=_auth(token))
    assert rejected.status_code == 422 and "at least 3 are required" in rejected.json()["detail"]
    assert client.post("/api/submit", content=b"{not json", headers=_auth(token)).status_code == 422
    assert Store(board).count() == 1


def test_oversized_upload_is_refused(tmp_path, board, token):
    body = build_bundle(make_runs(tmp_path, GOOD)).model_dump_json().encode()
    client = _client(board, max_upload_bytes=len(body) - 1)
    assert client.post("/api/submit", content=body, headers=_auth(token)).status_code == 413

    def chunks():  # no Content-Length: the cap must hold on the bytes actually received
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    assert client.post("/api/submit", content=chunks(), headers=_auth(token)).status_code == 413
    assert Store(board).count() == 0
    assert (
        _client(board, max_upload_bytes=len(body))
        .post("/api/submit", content=body, headers=_auth(token))
        .status_code
        == 201
    )
    with pytest.raises(ValueError, match="max_upload_bytes=0"):
        create_app(board, max_upload_bytes=0)


def test_script_tags_in_every_field_show_as_text(tmp_path, board):
    dirs = make_runs(tmp_path, GOOD, algo=XSS, variant=XSS, config={"learning_rate": 3e-4, XSS: XSS})
    bundle = build_bundle(dirs, submitter="ignored")
    client = _client(board)
    token = create_token(Store(board), XSS)  # issue 11: the submitter shown is the token's owner
    assert (
        client.post("/api/submit", content=bundle.model_dump_json(), headers=_auth(token)).status_code == 201
    )
    for url in ("/", "/entry/1"):
        html = client.get(url).text
        assert "<script>alert" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert client.get("/api/entries").json()[0]["submitter"] == XSS  # JSON keeps the raw string


def test_pickle_payload_upload_is_never_loaded(tmp_path, board, token):
    marker = tmp_path / "pwned-upload"
    data = json.loads(build_bundle(make_runs(tmp_path, GOOD)).model_dump_json())
    payload = pickle_payload(marker)
    data["seeds"][0]["weights_safetensors_b64"] = base64.b64encode(payload).decode()
    data["seeds"][0]["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    from leaderboard.schema import Bundle

    body = Bundle.model_validate(data).with_hash().model_dump_json()
    r = _client(board).post("/api/submit", content=body, headers=_auth(token))
    assert r.status_code == 422 and "not a valid safetensors file" in r.json()["detail"]
    assert not marker.exists()
    assert Store(board).count() == 0


def test_http_client_submits_with_token(tmp_path, board, token, monkeypatch):
    from leaderboard.client import TOKEN_ENV_VAR, submit_http

    client = _client(board)
    bundle = build_bundle(make_runs(tmp_path, GOOD))
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    with pytest.raises(ValueError, match="needs a token"):
        submit_http(bundle, "http://testserver", client=client)
    with pytest.raises(ValueError, match="HTTP 401"):
        submit_http(bundle, "http://testserver", token="rlb_nope", client=client)
    monkeypatch.setenv(TOKEN_ENV_VAR, token)
    assert submit_http(bundle, "http://testserver/", client=client) == 1
    with pytest.raises(ValueError, match="HTTP 409.*duplicate submission"):
        submit_http(bundle, "http://testserver", client=client)
    with pytest.raises(ValueError, match="web address"):
        Store("https://example.org/board")
