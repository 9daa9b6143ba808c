"""Issue 13's pages: one ranking page per env id (served and exported), equal budgets ranked together,
entry pages with per-seed and per-component tables, downloads and the baseline, pagination, viewport."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from test_leaderboard_synthetic import GOOD, make_runs

from leaderboard.bundle import build_bundle
from leaderboard.render import PAGE_SIZE, task_slug
from leaderboard.static_site import export_site
from leaderboard.storage import Store
from leaderboard.web import create_app

K2 = "rayenvs/Bandit-K2n2-v0"
K4 = "rayenvs/Bandit-K4n4-v0"


def _board(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    ids = {
        "k2": store.submit(build_bundle(make_runs(tmp_path, GOOD, "k2", weights="policy"))),
        "k2long": store.submit(
            build_bundle(make_runs(tmp_path, [[0.5] * 5] * 3, "long", steps=[0, 100, 200, 300, 400], algo="x"))
        ),
        "k4": store.submit(build_bundle(make_runs(tmp_path, GOOD, "k4", env_id=K4, algo="other"))),
    }
    return store, ids


def test_a_task_page_lists_only_its_env_and_ranks_equal_budgets_together(tmp_path):
    store, ids = _board(tmp_path)
    client = TestClient(create_app(store.url))
    page = client.get(f"/task/{task_slug(K2)}")
    assert page.status_code == 200
    assert f'data-entry="{ids["k2"]}"' in page.text and f'data-entry="{ids["k2long"]}"' in page.text
    assert f'data-entry="{ids["k4"]}"' not in page.text  # another env's entry is not on this page
    # Two budgets (300 and 400 steps): two tables, the larger budget first.
    assert 'id="table-budget-400"' in page.text and 'id="table-budget-300"' in page.text
    assert page.text.index("table-budget-400") < page.text.index("table-budget-300")
    assert "context_0 (of its optimum)" in page.text and '<meta name="viewport"' in page.text
    assert "drop_frac = 0.5" in page.text  # the collapse detector's settings are on the page
    assert client.get("/task/sort.js").text.startswith("// Click-to-sort")
    assert client.get("/task/rayenvs--Nope-v0").status_code == 404
    index = client.get("/").text
    assert f'href="/task/{task_slug(K2)}"' in index and f'href="/task/{task_slug(K4)}"' in index
    api = client.get("/api/entries").json()
    assert all("auc" in e["scores"] and "component_scores" in e["scores"] for e in api)
    # GOOD's final point: seeds 0, 1 win every episode, seed 2 wins 3 of 4 (contexts 0, 1, 0, 1: it misses one
    # context_1 episode), so context_1 scores 1, 1, 0.5 per seed; IQM of 3 runs = their mean.
    comps = api[0]["scores"]["component_scores"]
    assert comps["context_0"] == 1.0 and abs(comps["context_1"] - 2.5 / 3) < 1e-12


def test_entry_page_tables_downloads_and_baseline(tmp_path):
    store, ids = _board(tmp_path)
    sid = ids["k2"]
    store.record_verification(sid, True, {"note": "t"})
    store.pin_baseline(sid)
    client = TestClient(create_app(store.url))
    long_page = client.get(f"/entry/{ids['k2long']}").text
    assert f'<a href="/entry/{sid}">entry #{sid}</a>' in long_page  # the baseline it is compared with
    page = client.get(f"/entry/{sid}").text
    assert 'id="seeds"' in page and 'id="components"' in page and "this entry is the pinned PPO baseline" in page
    assert f'href="/entry/{sid}/bundle.json"' in page and f'href="/entry/{sid}/weights/0.safetensors"' in page
    bundle = client.get(f"/entry/{sid}/bundle.json")
    assert json.loads(bundle.content)["content_hash"] == store.entry(sid).content_hash
    assert client.get(f"/entry/{sid}/weights/1.safetensors").content == store.weights(sid)[1]
    assert client.get(f"/entry/{sid}/weights/7.safetensors").status_code == 404
    assert client.get(f"/entry/{ids['k2long']}/weights/0.safetensors").status_code == 404


def test_pages_paginate(tmp_path):
    store = Store(tmp_path / "b.sqlite")
    for i in range(PAGE_SIZE + 1):
        store.submit(build_bundle(make_runs(tmp_path, [[0.5, 0.75, 1.0, 0.5 + (i % 3) / 4]] * 3, f"r{i}",
                                            algo=f"a{i}")))
    client = TestClient(create_app(store.url))
    first, second = client.get("/").text, client.get("/?page=2").text
    assert first.count("<tr data-entry=") == PAGE_SIZE and second.count("<tr data-entry=") == 1
    assert 'href="?page=2"' in first
    assert client.get("/?page=3").status_code == 404
    assert client.get(f"/task/{task_slug(K2)}?page=2").text.count("<tr data-entry=") == 1


def test_static_export_writes_task_pages_and_downloads(tmp_path):
    store, ids = _board(tmp_path)
    out = tmp_path / "site"
    export_site(store, out)
    task = (out / "task" / f"{task_slug(K2)}.html").read_text()
    assert f'href="../entry/{ids["k2"]}.html"' in task and f'data-entry="{ids["k4"]}"' not in task
    assert 'src="../sort.js"' in task
    assert (out / "task" / f"{task_slug(K4)}.html").exists()
    assert 'href="task/' in (out / "index.html").read_text()
    folder = out / "entry" / str(ids["k2"])
    assert json.loads((folder / "bundle.json").read_text())["env_id"] == K2
    assert (folder / "weights" / "0.safetensors").read_bytes() == store.weights(ids["k2"])[0]
