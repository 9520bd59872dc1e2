"""The teacher dashboard in headless Chromium, opened through the Jupyter server's proxy."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import nbformat
import pytest
from playwright.sync_api import expect

from jupyter_ext.domain import ALPHABET
from jupyter_ext.testing import artifacts_dir, free_port, save_like_jupyterlab, wait_until, write_notebook

pytestmark = pytest.mark.browser

CODE_RE = re.compile(rf"^[{ALPHABET}]{{6}}$")
APP_TIMEOUT_MS = 120_000  # the first page load starts `panel serve` behind jupyter-server-proxy
UI_TIMEOUT_MS = 30_000  # generous: the test machine is shared
REPO = Path(__file__).resolve().parent.parent


def log_in(page, server) -> None:
    """What opening JupyterLab does: the token once, then Jupyter's login cookie."""
    response = page.goto(f"{server.url}api/status?token={server.token}")
    assert response.status == 200


def published(server, code: str) -> dict[str, dict]:
    r = server.client().get(f"codestream/api/sessions/{code}/cells")
    assert r.status_code == 200, r.text
    return {cell["cell_id"]: cell for cell in r.json()["cells"]}


def test_teacher_dashboard_through_the_jupyter_proxy(cs_teacher, cs_page):
    path = write_notebook(cs_teacher.root_dir, "lesson.ipynb", [
        ("markdown", "# Loops\n<b>not bold</b>"),
        ("code", "for i in range(3):\n    print(i)"),
        ("code", "total = sum(range(10))"),
    ])
    ids = [cell.id for cell in nbformat.read(str(path), as_version=4).cells]
    page = cs_page
    log_in(page, cs_teacher)
    page.goto(f"{cs_teacher.url}codestream-teacher/", timeout=APP_TIMEOUT_MS)

    page.get_by_role("button", name="Start session").click(timeout=APP_TIMEOUT_MS)
    code_box = page.locator(".cs-session-code")
    expect(code_box).to_have_text(re.compile(rf"^[{ALPHABET}]{{6}}$"), timeout=UI_TIMEOUT_MS)
    code = code_box.inner_text().strip()
    assert CODE_RE.match(code)
    assert code in [s["code"] for s in cs_teacher.client().get("codestream/api/sessions").json()["sessions"]]
    expect(page.locator(".cs-url")).to_have_text(cs_teacher.url, timeout=UI_TIMEOUT_MS)
    # the test server listens on loopback only: the dashboard says how students could reach it
    expect(page.locator(".cs-reachability")).to_contain_text("--ip", timeout=UI_TIMEOUT_MS)
    expect(page.locator(".cs-key")).not_to_be_empty(timeout=UI_TIMEOUT_MS)

    page.locator("select").select_option("lesson.ipynb")
    row = page.locator(f".cs-cell-{ids[1]}")
    expect(row).to_contain_text("not published", timeout=UI_TIMEOUT_MS)
    # cell sources are shown as text, never as markup
    expect(page.locator(f".cs-cell-{ids[0]}")).to_contain_text("<b>not bold</b>", timeout=UI_TIMEOUT_MS)

    switch = row.locator("[role=switch]")
    expect(switch).to_have_attribute("aria-disabled", "false", timeout=UI_TIMEOUT_MS)  # a session is live
    switch.click()
    wait_until(lambda: ids[1] in published(cs_teacher, code), 30, what="the cell published")
    cell = published(cs_teacher, code)[ids[1]]
    assert cell["version"] == 1 and cell["source"] == "for i in range(3):\n    print(i)"
    expect(row).to_contain_text("published v1", timeout=UI_TIMEOUT_MS)
    expect(switch).to_have_attribute("aria-checked", "true")

    # the teacher saves the notebook: the server republishes, the dashboard shows the new version
    client = cs_teacher.client()
    model = client.get("api/contents/lesson.ipynb", params={"content": 1}).json()
    model["content"]["cells"][1]["source"] = "for i in range(5):\n    print(i * i)"
    save_like_jupyterlab(client, "lesson.ipynb", model["content"])
    wait_until(lambda: published(cs_teacher, code)[ids[1]]["version"] == 2, 30, what="version 2 in the API")
    expect(row).to_contain_text("published v2", timeout=UI_TIMEOUT_MS)
    expect(row).to_contain_text("i * i", timeout=UI_TIMEOUT_MS)

    page.screenshot(path=str(artifacts_dir() / "teacher-dashboard.png"), full_page=True)

    page.get_by_role("button", name="End session").click()
    # it asks first: nothing ended yet
    expect(page.locator(".cs-confirm-text")).to_contain_text(f"End session {code} for everyone?",
                                                             timeout=UI_TIMEOUT_MS)
    assert code in [s["code"] for s in cs_teacher.client().get("codestream/api/sessions").json()["sessions"]]
    page.get_by_role("button", name="Yes, end the session").click()
    expect(page.get_by_role("button", name="Start session")).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert code not in [s["code"] for s in cs_teacher.client().get("codestream/api/sessions").json()["sessions"]]


def test_panel_serve_standalone_with_environment(cs_teacher, cs_page, tmp_path):
    """`panel serve apps/teacher.py` outside Jupyter, told its server by CODESTREAM_SERVER_URL/TOKEN."""
    write_notebook(cs_teacher.root_dir, "standalone.ipynb", [("code", "print('standalone')")])
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CODESTREAM_"))}
    env.update(CODESTREAM_SERVER_URL=cs_teacher.url, CODESTREAM_TOKEN=cs_teacher.token)
    log = open(tmp_path / "panel.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(REPO / "apps" / "teacher.py"), "--address", "127.0.0.1",
         "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        def up():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/teacher", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        wait_until(up, 90, interval=0.2, what="panel serve")
        cs_page.goto(f"http://127.0.0.1:{port}/teacher", timeout=APP_TIMEOUT_MS)
        cs_page.locator("select").select_option("standalone.ipynb", timeout=APP_TIMEOUT_MS)
        expect(cs_page.locator(".cs-cells")).to_contain_text("standalone", timeout=UI_TIMEOUT_MS)
        cs_page.get_by_role("button", name="Start session").click()
        expect(cs_page.locator(".cs-session-code")).to_have_text(re.compile(rf"^[{ALPHABET}]{{6}}$"),
                                                                  timeout=UI_TIMEOUT_MS)
    finally:
        process.terminate()
        process.wait(20)
        log.close()
    assert cs_teacher.token not in (tmp_path / "panel.log").read_text(errors="replace")
