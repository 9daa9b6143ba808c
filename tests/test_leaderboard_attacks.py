"""Issue 11's attacks against a real server (uvicorn on 127.0.0.1, a real SQLite file): each one is refused,
or stored and then fails verification, with a clear message, and every page keeps serving afterwards."""

from __future__ import annotations

import json

import httpx
import pytest
from test_leaderboard_synthetic import GOOD, make_runs
from test_leaderboard_verify import _honest_runs

from leaderboard.bundle import build_bundle
from leaderboard.schema import Bundle
from leaderboard.storage import Store, submissions
from leaderboard.tokens import create_token
from leaderboard.verify import verify_entry

RATE = 25


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from test_leaderboard_browser import serve_in_thread

    from leaderboard.web import create_app

    board = tmp_path_factory.mktemp("attacks") / "board.sqlite"
    with (
        serve_in_thread(create_app(board, submissions_per_minute=RATE)) as url,
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client, Store(board)


def _post(client: httpx.Client, token: str, body: str | bytes) -> httpx.Response:
    return client.post(
        "/api/submit",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


def _assert_board_serves(client: httpx.Client, store: Store) -> None:
    for url in ("/", "/api/entries", "/sort.js"):
        assert client.get(url).status_code == 200, url
    for e in store.entries():
        for url in (f"/entry/{e.id}", f"/api/entries/{e.id}", f"/entry/{e.id}/curve.png"):
            assert client.get(url).status_code == 200, url
    for family in {e.family for e in store.entries()}:
        assert client.get(f"/family/{family}/profile.png").status_code == 200


def _edited(bundle: Bundle, path: list, value: object) -> str:
    """The bundle's JSON with one value replaced (hash recomputed as an attacker would, where possible)."""
    data = json.loads(bundle.model_dump_json())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return json.dumps(data, allow_nan=True)


def test_malformed_bundles_are_refused_and_the_board_keeps_serving(served, tmp_path):
    client, store = served
    token = create_token(store, "mallory")
    honest = build_bundle(make_runs(tmp_path, GOOD, "ok"))
    cases = [
        (_edited(honest, ["wall_time_s"], float("inf")), "non-finite number inf"),
        (_edited(honest, ["seeds", 0, "metrics"], {"loss": [[0, float("nan")]]}), "non-finite number nan"),
        (_edited(honest, ["seeds", 0, "eval", "steps"], [0, 100, 200, 10**30]), "outside the int64 range"),
        (_edited(honest, ["seeds", 0, "total_timesteps"], 10**13), "less than or equal to 1000000000000"),
        (_edited(honest, ["seeds"], [json.loads(honest.seeds[0].model_dump_json())] * 10_000), "at most 64"),
        (_edited(honest, ["submitter"], "x" * 10_000), "at most 200 characters"),
        (_edited(honest, ["hyperparameters"], {f"k{i}": i for i in range(1000)}), "at most 256"),
    ]
    for body, message in cases:
        r = _post(client, token, body)
        assert r.status_code == 422 and message in r.json()["detail"], (message, r.text[:500])
    # Values that parse but contradict the catalog: wrong component count, other env kwargs.
    three = honest.model_copy(update={"component_names": ["a", "b", "c"]}).with_hash()
    r = _post(client, token, three.model_dump_json())
    assert r.status_code == 422 and "Bandit-K2n2-v0 has 2 components" in r.json()["detail"]
    rigged = build_bundle(
        make_runs(
            tmp_path, GOOD, "rig", config={"learning_rate": 3e-4, "env_kwargs": {"context_probs": [1, 0]}}
        )
    )
    r = _post(client, token, rigged.model_dump_json())
    assert r.status_code == 422 and "registered kwargs" in r.json()["detail"]
    # One weights file for every seed, and weights that fit no policy the config builds.
    same = build_bundle(make_runs(tmp_path, GOOD, "same", weights={"w": __import__("torch").ones(3)}))
    r = _post(client, token, same.model_dump_json())
    assert r.status_code == 422 and "same weights file" in r.json()["detail"]
    dummy = [
        make_runs(tmp_path / "dummy", [lv], f"s{i}", weights={"w": __import__("torch").full((3,), float(i))})[
            0
        ]
        for i, lv in enumerate(GOOD)
    ]
    for i, d in enumerate(dummy):  # seeds 0, 1, 2 (make_runs numbers each one-run batch 0)
        results = json.loads((d / "results.json").read_text())
        results["seed"] = i
        (d / "results.json").write_text(json.dumps(results))
    r = _post(client, token, build_bundle(dummy).model_dump_json())
    assert r.status_code == 422 and "cannot be rebuilt" in r.json()["detail"]
    assert store.count() == 0
    assert _post(client, token, honest.model_dump_json()).status_code == 201
    _assert_board_serves(client, store)


def test_identity_is_the_token_owner(served, tmp_path):
    client, store = served
    bob = create_token(store, "bob")
    r = _post(
        client,
        bob,
        build_bundle(make_runs(tmp_path, [[1.0] * 4] * 3, "alice"), submitter="alice").model_dump_json(),
    )
    assert r.status_code == 201
    e = store.entry(r.json()["id"])
    assert e.submitter == "bob" and e.token_id is not None
    assert client.get(f"/api/entries/{e.id}").json()["submitter"] == "bob"
    store.set_hidden(e.id)
    assert client.get(f"/entry/{e.id}").status_code == 404
    assert e.id not in [x["id"] for x in client.get("/api/entries").json()]
    assert [x.id for x in store.entries(include_hidden=True, token_id=e.token_id)] == [e.id]
    store.delete(e.id)
    assert store.entries(include_hidden=True, token_id=e.token_id) == []
    _assert_board_serves(client, store)


def test_a_corrupt_stored_row_is_quarantined_not_a_500(served):
    client, store = served
    with store.engine.begin() as conn:
        conn.execute(
            submissions.insert().values(
                content_hash="sha256:corrupt",
                env_id="rayenvs/Bandit-K2n2-v0",
                family="bandit",
                algo="x",
                variant="y",
                submitter="z",
                tier="self-reported",
                created_at=__import__("datetime").datetime.now(),
                bundle_json='{"wall_time_s": null}',
                hidden=False,
            )
        )
        bad_id = conn.exec_driver_sql("SELECT max(id) FROM submissions").scalar()
    page = client.get("/")
    assert page.status_code == 200 and f"#{bad_id}" in page.text and "quarantined" in page.text
    assert bad_id not in [x["id"] for x in client.get("/api/entries").json()]
    r = client.get(f"/entry/{bad_id}")
    assert r.status_code == 404 and "quarantined" in r.json()["detail"]
    assert [q.id for q in store.quarantined()] == [bad_id]
    _assert_board_serves(client, store)
    store.delete(bad_id)


def test_headers_docs_ids_and_rate_limit(served):
    client, store = served
    r = client.get("/")
    csp = r.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "frame-ancestors 'none'" in csp
        and "unsafe-inline" not in csp.split("style-src")[0]
    )
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in r.text and '<script src="sort.js"' in r.text
    assert client.get("/docs").status_code == 404 and client.get("/openapi.json").status_code == 404
    for bad in ("0", "-1", str(2**63), str(10**30)):
        assert client.get(f"/entry/{bad}").status_code in (404, 422)
        assert client.get(f"/api/entries/{bad}").status_code in (404, 422)
    assert client.get(f"/entry/{2**63}").status_code == 404
    eve = create_token(store, "eve")
    codes = [_post(client, eve, b"{}").status_code for _ in range(RATE + 1)]
    assert codes[:RATE] == [422] * RATE and codes[RATE] == 429


def test_verification_catches_inflated_and_shuffled_claims(served, tmp_path):
    client, store = served
    token = create_token(store, "carol")
    honest_bundle = build_bundle(_honest_runs(tmp_path / "honest"))
    honest = _post(client, token, honest_bundle.model_dump_json()).json()["id"]
    assert verify_entry(store, honest).passed and store.entry(honest).tier == "verified"
    inflated = _post(
        client, token, build_bundle(_honest_runs(tmp_path / "up", tamper=True)).model_dump_json()
    )
    report = verify_entry(store, inflated.json()["id"])
    assert not report.passed and "replayed episodes differ" in report.reason
    seeds = honest_bundle.seeds
    assert seeds[0].eval.returns[-1] != seeds[1].eval.returns[-1]
    swapped = [
        seeds[0].model_copy(update={"eval": seeds[1].eval}),
        seeds[1].model_copy(update={"eval": seeds[0].eval}),
        seeds[2],
    ]
    shuffled = honest_bundle.model_copy(update={"seeds": swapped}).with_hash()
    sid = _post(client, token, shuffled.model_dump_json()).json()["id"]
    assert not verify_entry(store, sid).passed
    page = client.get(f"/entry/{sid}").text
    assert "tier-failed" in page and "differ from the claimed returns" in page and "self-reported" in page
    # The operator pins the verified entry as the baseline; a failed one cannot be pinned.
    with pytest.raises(ValueError, match="only a verified entry"):
        store.pin_baseline(sid)
    store.pin_baseline(honest)
    api = {x["id"]: x for x in client.get("/api/entries").json()}
    assert api[sid]["scores"]["baseline_id"] == honest
    _assert_board_serves(client, store)
