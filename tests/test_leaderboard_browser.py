"""The live board in a real headless browser: the page loads, tables sort, an entry page shows its plot.

Uses Debian's chromium (installed in CI by ``.ci/setup-browser``) through playwright, against uvicorn in a
thread on 127.0.0.1 with a free port; all waits are bounded and all traffic stays on loopback.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_leaderboard_synthetic import GOOD, make_runs

from leaderboard.bundle import build_bundle
from leaderboard.storage import Store

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 15_000
# One entry per algo name, with final scores 0, 0.5 and 1 for seeds 0..2 of each.
LEVELS = {"low": [[0.5] * 4] * 3, "mid": [[0.5, 0.75, 0.75, 0.75]] * 3, "high": [[1.0] * 4] * 3}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (run .ci/setup-browser, as CI does)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    pytest.importorskip("uvicorn")
    from leaderboard.web import create_app

    board = tmp_path / "browser.sqlite"
    store = Store(board)
    ids = {}
    for tag, levels in LEVELS.items():
        ids[tag] = store.submit(build_bundle(make_runs(tmp_path, levels, tag, algo=tag)))
    store.submit(
        build_bundle(make_runs(tmp_path, GOOD, "multi", env_id="rayenvs/Bandit-K4n4-v0", algo="other"))
    )
    with serve_in_thread(create_app(board)) as url:
        yield url, ids


@contextmanager
def serve_in_thread(app):
    """Serve ``app`` with a real uvicorn server on 127.0.0.1 (a free port) in a thread; yield its base URL."""
    uvicorn = pytest.importorskip("uvicorn")
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


def _column_values(page, table: str, col: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{col}].dataset.sort)"
    )


def test_page_loads_sorts_and_shows_plots(server):
    sync_api = pytest.importorskip("playwright.sync_api")
    url, ids = server
    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=BROWSER_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url + "/")
            page.wait_for_selector("#table-bandit tbody tr")
            assert page.title() == "rayenvs leaderboard"
            rows = page.eval_on_selector_all(
                "#table-bandit tbody tr", "rows => rows.map(r => r.dataset.entry)"
            )
            assert len(rows) == len(ids) + 1

            page.click("#table-bandit th:has-text('algo')")
            assert _column_values(page, "table-bandit", 2) == sorted(_column_values(page, "table-bandit", 2))
            assert page.get_attribute("#table-bandit th:has-text('algo')", "aria-sort") == "ascending"
            page.click("#table-bandit th:has-text('mean')")
            means = [float(v) for v in _column_values(page, "table-bandit", 8)]
            assert means == sorted(means) and means[0] < means[-1]
            page.click("#table-bandit th:has-text('mean')")
            means = [float(v) for v in _column_values(page, "table-bandit", 8)]
            assert means == sorted(means, reverse=True)
            assert page.get_attribute("#table-bandit th:has-text('mean')", "aria-sort") == "descending"

            profile_ok = page.eval_on_selector(
                "img[alt^='performance profile']", "i => i.complete && i.naturalWidth > 0"
            )
            assert profile_ok
            page.click(f"a[href='/entry/{ids['low']}']")
            page.wait_for_selector("#curve")
            assert page.url.endswith(f"/entry/{ids['low']}")
            page.wait_for_function("() => document.querySelector('#curve').complete", timeout=TIMEOUT_MS)
            width = page.eval_on_selector("#curve", "i => i.naturalWidth")
            assert width > 100
            assert "Entry #" in page.inner_text("h1")
        finally:
            browser.close()


WIDTHS = {"desktop": 1280, "phone": 375}


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_new_pages_fit_the_width_and_show_their_tables(server, device, tmp_path):
    """Issue 13: the index, a task page and an entry page have no horizontal scroll at 1280 and 375 px (wide
    tables scroll inside their own box), and show their tables; the task page's algo filter hides rows."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from leaderboard.render import task_slug

    url, ids = server
    executable = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    width = WIDTHS[device]
    pages = {
        "index": ("/", "#table-bandit"),
        "task": (f"/task/{task_slug('rayenvs/Bandit-K2n2-v0')}", "table.task-table"),
        "entry": (f"/entry/{ids['mid']}", "#seeds"),
    }
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=BROWSER_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            for name, (path, table) in pages.items():
                page.goto(url + path)
                page.wait_for_selector(table)
                scroll = page.evaluate("() => document.documentElement.scrollWidth")
                assert scroll <= width, f"{name} page scrolls to {scroll} px at {width} px"
                page.screenshot(path=str(tmp_path / f"{name}-{device}.png"), full_page=True)
            page.goto(url + pages["task"][0])
            rows = "table.task-table tbody tr"
            assert page.eval_on_selector_all(rows, "rs => rs.filter(r => !r.hidden).length") == 3
            page.select_option("select.filter[data-col='1']", "low")
            visible = page.eval_on_selector_all(rows, "rs => rs.filter(r => !r.hidden).map(r => r.dataset.entry)")
            assert visible == [str(ids["low"])]
        finally:
            browser.close()
