"""A whole classroom in headless Chromium: real processes end to end, nothing stubbed.

A teacher Jupyter server (its embedded redis-server starts with the first session) and a
student Jupyter server with jupyter-collaboration, each with its dashboard behind its own
jupyter-server-proxy. The teacher starts a session and publishes cells with the switches;
the student connects through the dashboard's form, sees the cells arrive, pulls one into the
notebook open in JupyterLab (it shows up there live), edits it, and pulls the teacher's update
next to the edited copy. Every step leaves a screenshot ``e2e-NN-....png`` in ``artifacts_dir()``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from jupyter_ext.domain import ALPHABET
from jupyter_ext.testing import artifacts_dir, save_like_jupyterlab, saved_sources, wait_until, write_notebook

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 180_000  # the first request to a dashboard starts `panel serve` behind the proxy
LAB_LOAD_MS = 180_000  # JupyterLab's bundle on a busy 2-core machine
UPDATE_MS = 60_000  # one event through teacher -> relay -> dashboard, or one room save
UPDATE_S = UPDATE_MS / 1000

LESSON = [
    ("markdown", "# Loops\nToday: `for` loops."),
    ("code", "for i in range(3):\n    print(i)"),
    ("code", "squares = [n * n for n in range(5)]"),
    ("code", "print('not for students yet')"),
]
NOTES = "notes.ipynb"
STUDENT_EDIT = "# my own note"
TEACHER_V2 = "squares = [n * n for n in range(10)]\nprint(squares)"


def shot(page, number: int, what: str) -> Path:
    path = artifacts_dir() / f"e2e-{number:02d}-{what}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, server) -> None:
    """What opening JupyterLab's link does: the token once, then Jupyter's login cookie."""
    response = page.goto(f"{server.url}api/status?token={server.token}")
    assert response is not None and response.status == 200


def origins(server, path: str) -> list[dict | None]:
    r = server.client().get(f"api/contents/{path}", params={"type": "notebook", "content": 1})
    return [c.get("metadata", {}).get("codestream") for c in r.json()["content"]["cells"]]


# The page keeps every notice it showed (and, being the same page, proves that nothing reloaded
# it). Notices live in Panel's shadow roots, which a MutationObserver on the document does not see.
RECORD_TOASTS = """() => {
  window.__csToasts = [];
  const collect = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) collect(el.shadowRoot);
      if (el.classList && el.classList.contains('cs-notice')) {
        const text = el.textContent.trim();
        if (text && !window.__csToasts.includes(text)) window.__csToasts.push(text);
      }
    }
  };
  setInterval(() => collect(document), 100);
}"""
TOASTS_WITH = "([text, n]) => (window.__csToasts || []).filter(t => t.includes(text)).length >= n"


def wait_for_toasts(page, text: str, count: int = 1) -> list[str]:
    page.wait_for_function(TOASTS_WITH, arg=[text, count], timeout=UPDATE_MS)
    return [t for t in page.evaluate("window.__csToasts") if text in t]


def chosen(select) -> str:
    """The label of a <select>'s chosen option (what the student sees)."""
    return select.evaluate("s => s.options[s.selectedIndex].text")


def quiet_jupyterlab(server) -> None:
    """The student's JupyterLab user setting: no "Jupyter news?" toast over the screenshots."""
    folder = server.config_dir / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))


def published(server, code: str) -> dict[str, dict]:
    r = server.client().get(f"codestream/api/sessions/{code}/cells")
    assert r.status_code == 200, r.text
    return {cell["cell_id"]: cell for cell in r.json()["cells"]}


@pytest.fixture
def classroom(cs_jupyter_server_factory):
    """A teacher server (embedded Redis: no Redis configured) and a student server."""
    teacher = cs_jupyter_server_factory("teacher")
    student = cs_jupyter_server_factory("student")
    return teacher, student


@pytest.fixture
def student_context(cs_browser, request):
    """The student's own browser (its dashboard tab and its JupyterLab tab); screenshots on failure."""
    context = cs_browser.new_context(viewport={"width": 440, "height": 1000})
    yield context
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for index, page in enumerate(context.pages):
            try:
                page.screenshot(path=str(artifacts_dir() / f"FAILED-{request.node.name}-student-{index}.png"),
                                full_page=True)
            except Exception:  # noqa: BLE001 - a failed screenshot must not hide the failure
                pass
    context.close()


def test_classroom_publish_connect_pull_live_edit_and_update(classroom, cs_page, student_context,
                                                            cs_secret_scanner):
    teacher, student = classroom
    lesson = write_notebook(teacher.root_dir, "lesson.ipynb", LESSON)
    write_notebook(teacher.root_dir, "homework.ipynb", [("code", "# homework")])
    ids = [cell.id for cell in nbformat.read(str(lesson), as_version=4).cells]
    loops_id, squares_id = ids[1], ids[2]
    notes = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# My notes")])
    notes.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notes, str(student.root_dir / NOTES))
    quiet_jupyterlab(student)

    # -- 1. teacher: start a session, pick the lesson ----------------------------------------
    tpage = cs_page
    log_in(tpage, teacher)
    tpage.goto(f"{teacher.url}codestream-teacher/", timeout=FIRST_LOAD_MS)
    tpage.locator("input[placeholder='e.g. Week 3: loops']").fill("Loops", timeout=FIRST_LOAD_MS)
    tpage.get_by_role("button", name="Start session").click()
    code_box = tpage.locator(".cs-session-code")
    expect(code_box).to_have_text(re.compile(rf"^[{ALPHABET}]{{6}}$"), timeout=UPDATE_MS)
    code = code_box.inner_text().strip()
    expect(tpage.locator(".cs-key")).to_have_text(re.compile(r"\S{8,}"), timeout=UPDATE_MS)
    key = tpage.locator(".cs-key").inner_text().strip()
    cs_secret_scanner.add(key)  # no server log or response may carry it from here on
    teacher_url = tpage.locator(".cs-url").inner_text().strip()
    assert teacher_url == teacher.url
    sessions = teacher.client().get("codestream/api/sessions").json()["sessions"]
    assert [(s["code"], s["title"]) for s in sessions] == [(code, "Loops")]

    tpage.locator("select").select_option("lesson.ipynb")
    for cell_id in ids:
        expect(tpage.locator(f".cs-cell-{cell_id}")).to_contain_text("not published", timeout=UPDATE_MS)
    shot(tpage, 1, "teacher-session-started")

    # -- 2. student: connect through the dashboard's form -------------------------------------
    dash = student_context.new_page()
    log_in(dash, student)
    dash.goto(f"{student.url}codestream-student/", timeout=FIRST_LOAD_MS)
    dash.locator(".cs-light[data-state=not_configured]").wait_for(timeout=FIRST_LOAD_MS)
    dash.evaluate(RECORD_TOASTS)
    dash.locator("input[placeholder='http://teacher-host:8888/']").fill(teacher_url)
    dash.locator("input[placeholder='ABC234']").fill(code.lower())  # codes are case-insensitive
    dash.get_by_role("textbox", name="Session key").fill(key)  # the other password field is the join link
    shot(dash, 2, "student-connect-form")
    dash.get_by_role("button", name="Save").click()
    expect(dash.locator(".cs-light[data-state=connected]")).to_contain_text(f"Following session {code}",
                                                                           timeout=UPDATE_MS)
    expect(dash.locator(".cs-feed-empty")).to_contain_text("Nothing published yet", timeout=UPDATE_MS)
    config = student.client().get("codestream/api/student/config").json()
    # v3's name and share_run_status are listed once set (no name given yet; runs shared)
    assert config == {"teacher_url": teacher.url, "session_code": code, "has_key": True}
    shot(dash, 3, "student-connected")

    # -- 3. teacher publishes two cells with their switches; the student sees them arrive ----
    for cell_id in (loops_id, squares_id):
        row = tpage.locator(f".cs-cell-{cell_id}")
        switch = row.locator("[role=switch]")
        expect(switch).to_have_attribute("aria-disabled", "false", timeout=UPDATE_MS)  # a session is live
        switch.click()
        expect(row).to_contain_text("published v1", timeout=UPDATE_MS)
        expect(switch).to_have_attribute("aria-checked", "true", timeout=UPDATE_MS)
    wait_until(lambda: set(published(teacher, code)) == {loops_id, squares_id}, UPDATE_S, what="two cells published")
    expect(tpage.locator(f".cs-cell-{ids[3]}")).to_contain_text("not published")
    expect(tpage.locator(".cs-student-count")).to_have_text("1", timeout=UPDATE_MS)
    shot(tpage, 4, "teacher-published-two-cells")

    for source in ("for i in range(3):", "squares = [n * n for n in range(5)]"):
        dash.locator(".cs-feed code", has_text=source).wait_for(timeout=UPDATE_MS)
    toasts = wait_for_toasts(dash, "New cell from the teacher", 2)
    # people see cells by their place in the teacher's notebook, never by their id
    assert any("Cell 2: for i in range(3)" in t for t in toasts) and any("Cell 3: squares" in t for t in toasts), toasts
    assert not any(loops_id in t or squares_id in t for t in toasts), toasts
    expect(dash.locator(".cs-feed-item-new")).to_have_count(2)
    assert "not for students yet" not in dash.locator(".cs-feed").inner_text()
    expect(dash.locator(".cs-feed-heading")).to_have_text("Published cells — Loops")
    shot(dash, 5, "student-feed-two-cells")

    # -- 4. the student opens the notebook in JupyterLab, pulls a cell into it: it shows live --
    lab = student_context.new_page()
    lab.set_viewport_size({"width": 1200, "height": 900})
    lab.goto(f"{student.url}lab/tree/{NOTES}", timeout=LAB_LOAD_MS)
    lab_cells = lab.locator(".jp-Notebook .jp-Cell")
    expect(lab_cells.first).to_contain_text("My notes", timeout=LAB_LOAD_MS)
    expect(lab_cells).to_have_count(1)
    lab.evaluate("window.__csSamePage = true")
    # JupyterLab started a kernel session for it: the dashboard lists the notebook as open
    wait_until(lambda: any(s.get("path") == NOTES for s in student.client().get("api/sessions").json()),
               UPDATE_S, what="the notebook's session in JupyterLab")

    dash.locator(".cs-feed-item", has_text="Cell 3").get_by_role("button", name="Preview").click()
    dash.locator(".cs-preview-code", has_text="squares = [n * n for n in range(5)]").wait_for(timeout=UPDATE_MS)
    dash.get_by_role("button", name="Refresh").click()
    dash.locator("select option", has_text=f"{NOTES}  (open)").wait_for(state="attached", timeout=UPDATE_MS)
    notebook_select, position_select = dash.locator("select").nth(0), dash.locator("select").nth(1)
    notebook_select.select_option(label=f"{NOTES}  (open)")
    assert chosen(position_select).startswith("At the end")
    dash.get_by_role("button", name="Pull this cell").click()
    pulled = dash.locator(".cs-pull-message .cs-message", has_text=f"Pulled Cell 3 (v1) into {NOTES} as cell 2")
    pulled.wait_for(timeout=UPDATE_MS)
    assert "It is in the open notebook now." in pulled.inner_text()  # the pull answered live: true
    expect(dash.locator(".cs-feed-item", has_text="Cell 3")).to_have_class(re.compile(r"cs-feed-item-pulled"),
                                                                             timeout=UPDATE_MS)
    shot(dash, 6, "student-pulled-live")

    expect(lab_cells).to_have_count(2, timeout=UPDATE_MS)
    expect(lab_cells.nth(1)).to_contain_text("squares = [n * n for n in range(5)]", timeout=UPDATE_MS)
    assert lab.evaluate("window.__csSamePage === true"), "JupyterLab was reloaded"
    shot(lab, 7, "student-lab-cell-arrived")
    # the room saves the document: the file has the cell with its origin
    wait_until(lambda: saved_sources(student, NOTES) == ["# My notes", "squares = [n * n for n in range(5)]"],
               UPDATE_S, what="the room to save the pulled cell")
    assert origins(student, NOTES)[1] == {"session": code, "cell_id": squares_id, "version": 1, "number": 3}

    # -- 5. the student edits the pulled copy in JupyterLab ---------------------------------
    editor = lab_cells.nth(1).locator(".cm-content")
    editor.click()
    lab.keyboard.press("Control+End")
    lab.keyboard.press("Enter")
    lab.keyboard.type(STUDENT_EDIT)
    expect(lab_cells.nth(1)).to_contain_text(STUDENT_EDIT)
    edited = f"squares = [n * n for n in range(5)]\n{STUDENT_EDIT}"
    wait_until(lambda: saved_sources(student, NOTES) == ["# My notes", edited], UPDATE_S,
               what="the room to save the student's edit")
    shot(lab, 8, "student-lab-edited")

    # -- 6. the teacher edits the cell and saves: publish on save sends version 2 ------------
    tclient = teacher.client()
    model = tclient.get("api/contents/lesson.ipynb", params={"content": 1}).json()
    model["content"]["cells"][2]["source"] = TEACHER_V2
    save_like_jupyterlab(tclient, "lesson.ipynb", model["content"])
    wait_until(lambda: published(teacher, code)[squares_id]["version"] == 2, UPDATE_S, what="version 2 published")
    assert published(teacher, code)[loops_id]["version"] == 1  # unchanged cells keep their version
    expect(tpage.locator(f".cs-cell-{squares_id}")).to_contain_text("published v2", timeout=UPDATE_MS)
    shot(tpage, 9, "teacher-saved-v2")

    assert "(now v2)" in wait_for_toasts(dash, "The teacher updated Cell 3")[0]
    expect(dash.locator(".cs-feed-item", has_text="Cell 3")).to_have_class(re.compile(r"cs-feed-item-updated"),
                                                                             timeout=UPDATE_MS)
    # from the version pulled: what the teacher changed, and the student's own edit, apart
    expect(dash.locator(".cs-diff-teacher")).to_contain_text("print(squares)", timeout=UPDATE_MS)
    expect(dash.locator(".cs-diff-mine")).to_contain_text(STUDENT_EDIT, timeout=UPDATE_MS)
    expect(dash.get_by_role("button", name="Merge into my copy")).to_be_visible()
    assert chosen(position_select).startswith("At the end")  # an update goes right after the student's copy
    # still the page that was opened first: every toast it showed is in its record
    assert len(dash.evaluate("window.__csToasts")) >= 4
    shot(dash, 10, "student-sees-update-diff")

    # -- 7. the student pulls the update: the new version lands after the edited copy --------
    dash.get_by_role("button", name="Pull as a new cell").click()
    again = dash.locator(".cs-pull-message .cs-message", has_text=f"Pulled Cell 3 (v2) into {NOTES} as cell 3")
    again.wait_for(timeout=UPDATE_MS)
    assert "Your earlier copy (cell 2) is kept as it is." in again.inner_text()
    assert "It is in the open notebook now." in again.inner_text()
    expect(dash.locator(".cs-feed-item", has_text="Cell 3")).to_have_class(re.compile(r"cs-feed-item-pulled"),
                                                                             timeout=UPDATE_MS)
    shot(dash, 11, "student-pulled-update")

    expect(lab_cells).to_have_count(3, timeout=UPDATE_MS)
    expect(lab_cells.nth(1)).to_contain_text(STUDENT_EDIT)
    expect(lab_cells.nth(2)).to_contain_text("print(squares)", timeout=UPDATE_MS)
    assert lab.evaluate("window.__csSamePage === true"), "JupyterLab was reloaded"
    shot(lab, 12, "student-lab-both-versions")

    expected = ["# My notes", edited, TEACHER_V2]
    wait_until(lambda: saved_sources(student, NOTES) == expected, UPDATE_S, what="the room to save both versions")
    assert [(o or {}).get("version") for o in origins(student, NOTES)] == [None, 1, 2]
    assert all((o or {}).get("cell_id") in (None, squares_id) for o in origins(student, NOTES))
