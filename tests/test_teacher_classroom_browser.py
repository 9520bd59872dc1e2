"""The teacher dashboard laid out for teaching, in Chromium: a hostile hands queue stays inert
(no script runs, axe-core clean), everything fits a half-width JupyterLab tab (600 px), Show
marks the row and the projector view shows the focused cell large without the key."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import nbformat
import pytest
from playwright.sync_api import expect

from jupyter_ext.testing import artifacts_dir, free_port, wait_until, write_notebook

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
APP_MS = 120_000
UI_MS = 30_000
PWN = "window.__pwned = 1"
HOSTILE_HANDS = [
    {"hand_id": "h1", "name": "<svg onload=alert(1)>Ada", "cell_id": "c1", "number": 2,
     "note": f"<script>{PWN}</script> help, [link](javascript:{PWN})",
     "source": f"print('<svg onload=\"{PWN}\">')\n<a href=\"javascript:{PWN}\">x</a>",
     "outputs": [{"output_type": "error", "ename": "NameError", "evalue": "<b>x</b>",
                  "traceback": [f"<img src=x onerror=\"{PWN}\">NameError: name 'x' is not defined"]},
                 {"output_type": "display_data", "metadata": {},
                  "data": {"text/html": f"<p class='cs-test-html'>table</p><script>{PWN}</script>"
                                        f"<img src=\"/api/shutdown\" onerror=\"{PWN}\">"
                                        f"<a href=\"javascript:{PWN}\">click</a>",
                           "image/svg+xml": f"<svg xmlns='http://www.w3.org/2000/svg' onload='{PWN}'></svg>"}}],
     "raised": "2026-01-01T10:00:00Z", "state": "waiting"},
    {"hand_id": "h2", "name": "Grace", "cell_id": "c1", "number": 2, "note": "second", "source": "y = 1",
     "outputs": [], "raised": "2026-01-01T10:01:00Z", "state": "waiting"},
]
# the served app: the real dashboard; only the hands come from this fake (the backend of the
# hands routes is another branch), as its own server would list them
APP = """
import json
import panel as pn
from jupyter_ext.clients import ServerClient
from codestream_dash.teacher import TeacherDashboard

HANDS = json.loads({hands!r})
STATES = {{}}

async def hands_listing(self, code):
    return {{"hands": [dict(hand, state=STATES.get(hand["hand_id"], hand["state"])) for hand in HANDS],
            "hands_open": STATES.get("open", True)}}

async def set_hand_state(self, code, hand_id, state):
    STATES[hand_id] = state
    return {{}}

ServerClient.hands_listing = hands_listing
ServerClient.set_hand_state = set_hand_state
pn.extension()
if pn.state.served:
    dash = TeacherDashboard.from_environment()
    dash.attach_to_served_session()
    dash.servable(title="Code Stream — Teacher")
"""


def axe_problems(page, state: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{state}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result if v["impact"] in ("serious", "critical")]


@pytest.fixture
def served(cs_teacher, tmp_path):
    """``panel serve`` of the dashboard with a fake hands list, told its server by environment."""
    app = tmp_path / "teacher_app.py"
    app.write_text(APP.format(hands=json.dumps(HOSTILE_HANDS)))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CODESTREAM_"))}
    env.update(CODESTREAM_SERVER_URL=cs_teacher.url, CODESTREAM_TOKEN=cs_teacher.token,
               PYTHONPATH=f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}")
    log = open(tmp_path / "panel.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(app), str(REPO / "apps" / "teacher.py"),
         "--address", "127.0.0.1", "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)

    def up():
        try:
            return httpx.get(f"http://127.0.0.1:{port}/teacher_app", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(up, 240, interval=0.2, what="panel serve")  # the test machine is shared
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(20)
        log.close()


def inside(page, locator) -> None:
    """Nothing cut: the element lies wholly inside the viewport's width."""
    box = locator.bounding_box()
    width = page.viewport_size["width"]
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)


def test_hostile_hands_stay_inert_and_the_dashboard_fits_600px(cs_teacher, cs_page, served):
    path = write_notebook(cs_teacher.root_dir, "lesson.ipynb", [("markdown", "# Loops"), ("code", "print(1)")])
    ids = [c.id for c in nbformat.read(str(path), as_version=4).cells]
    page = cs_page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size({"width": 600, "height": 1000})  # a half-width JupyterLab tab
    page.goto(f"{served}/teacher_app", timeout=APP_MS)
    page.get_by_role("button", name="Start session").click(timeout=APP_MS)
    expect(page.locator(".cs-session-code")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=UI_MS)
    code = page.locator(".cs-session-code").inner_text().strip()
    page.locator("select").select_option("lesson.ipynb")
    expect(page.locator(f".cs-cell-{ids[1]}")).to_contain_text("Cell 2", timeout=UI_MS)

    # the queue, oldest first, every hostile part shown as text
    hands = page.locator(".cs-hand")
    expect(hands).to_have_count(2, timeout=UI_MS)
    first = hands.nth(0)
    expect(first).to_contain_text("1. <svg onload=alert(1)>Ada · Cell 2")
    expect(first).to_contain_text("<script>window.__pwned = 1</script> help")
    expect(first).to_contain_text("print('<svg onload=")
    expect(first).to_contain_text("NameError: name 'x' is not defined")
    expect(first.locator(".cs-out-html p")).to_have_text("table")  # cleaned HTML, drawn as HTML
    expect(hands.nth(1)).to_contain_text("2. Grace")
    page.wait_for_timeout(500)  # give any handler that slipped through the time to fire
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.evaluate("""() => { let n = 0; const walk = (root) => { for (const el of root.querySelectorAll('*')) {
        if (el.shadowRoot) walk(el.shadowRoot);
        for (const a of el.attributes) if (/^on/i.test(a.name) || /javascript:/i.test(a.value)) n++;
        if (el.tagName === 'IMG' && !(el.getAttribute('src') || '').startsWith('data:')) n++; } };
        walk(document); return n; }""") == 0
    problems = axe_problems(page, "hostile hands at 600 px")

    # nothing cut at 600 px: the session bar, the bulk buttons, the hands' buttons, the confirm box
    for name in ("End session", "Unpublish all", "Publish all"):
        inside(page, page.get_by_role("button", name=name, exact=True))
    inside(page, first.get_by_role("button", name=re.compile("^Show to class")))
    first.get_by_role("button", name=re.compile("^Helping")).click()
    expect(first).to_contain_text("you are helping", timeout=UI_MS)
    page.get_by_role("button", name="Close hands").click()  # an exam: PATCH the session
    expect(page.get_by_role("button", name="Open hands")).to_be_visible(timeout=UI_MS)
    expect(page.locator(".cs-side-title").first).to_contain_text("(closed)")
    page.get_by_role("button", name="Unpublish all").click()
    inside(page, page.get_by_role("button", name="Yes, unpublish all"))
    inside(page, page.locator(".cs-confirm-text"))
    problems += axe_problems(page, "asking at 600 px")
    page.screenshot(path=str(artifacts_dir() / "teacher-dashboard-600px.png"), full_page=True)
    page.get_by_role("button", name="Cancel").click()

    # Show marks the row; the notice corner does not push the cells down
    switch = page.locator(f".cs-cell-{ids[1]} [role=switch]")
    switch.click()
    expect(page.locator(f".cs-cell-{ids[1]}")).to_contain_text("published v1", timeout=UI_MS)
    top = page.locator(f".cs-cell-{ids[1]}").bounding_box()["y"]
    page.get_by_role("button", name="Show cell 2 to the class").click()
    expect(page.locator(f".cs-cell-{ids[1]}.cs-cell-focused")).to_have_count(1, timeout=UI_MS)
    assert cs_teacher.client().get(f"codestream/api/sessions/{code}/cells").json()["focus"] == ids[1]
    assert abs(page.locator(f".cs-cell-{ids[1]}").bounding_box()["y"] - top) < 2
    problems += axe_problems(page, "a cell shown")
    page.get_by_role("button", name="End session").click()
    inside(page, page.get_by_role("button", name="Yes, end the session"))
    assert not problems, "\n".join(problems)


def test_projector_shows_the_code_qr_and_the_focused_cell_without_the_key(cs_teacher, cs_browser, served):
    path = write_notebook(cs_teacher.root_dir, "proj.ipynb", [("code", "total = sum(range(10))")])
    cell_id = nbformat.read(str(path), as_version=4).cells[0].id
    teacher = cs_teacher.client()
    for earlier in teacher.get("codestream/api/sessions").json()["sessions"]:
        teacher.delete(f"codestream/api/sessions/{earlier['code']}")
    created = teacher.post("codestream/api/sessions", json={"title": "Projected"}).json()
    code, key = created["code"], created["student_key"]
    assert teacher.put(f"codestream/api/sessions/{code}/cells/{cell_id}", json={
        "source": "total = sum(range(10))", "cell_type": "code", "position": 0, "number": 1}).status_code == 200
    context = cs_browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{served}/teacher?view=projector", timeout=APP_MS)
        expect(page.locator(".cs-projector-code")).to_have_text(code, timeout=APP_MS)
        qr = page.locator(".cs-projector-qr svg")
        qr.wait_for(timeout=UI_MS)
        assert qr.bounding_box()["width"] >= 300
        # the whole code is drawn, not a corner of it: its dark modules span the picture
        drawn = qr.evaluate("svg => { const b = svg.querySelector('path[stroke]').getBBox();"
                            " const v = svg.viewBox.baseVal; return [b.width / v.width, b.height / v.height]; }")
        assert all(0.7 < share < 1 for share in drawn), drawn
        expect(page.locator(".cs-projector-focus")).to_contain_text("No cell shown yet")
        assert key not in page.locator("body").inner_text()
        # the teacher presses Show: the projector follows the focus event
        assert teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": cell_id}).status_code == 200
        cell = page.locator(".cs-projector-cell")
        expect(cell).to_contain_text("total = sum(range(10))", timeout=UI_MS)
        assert float(cell.evaluate("el => getComputedStyle(el).fontSize").rstrip("px")) >= 28
        expect(page.locator(".cs-projector-focus")).to_contain_text("Cell 1")
        assert key not in page.locator("body").inner_text()
        problems = axe_problems(page, "projector")
        page.screenshot(path=str(artifacts_dir() / "teacher-projector.png"), full_page=True)
        assert not problems, "\n".join(problems)
    finally:
        context.close()
