"""The student dashboard's v3 parts in Chromium, behind the student's own Jupyter server: follow
the teacher (on, off, remembered), the merge view with conflicts resolved by keyboard and
undone, pull all into a notebook open in JupyterLab (collaboration), the downloaded lesson
opened in JupyterLab, a raised hand's state; axe-core clean in every new state."""

from __future__ import annotations

import re

import nbformat
import pytest
from playwright.sync_api import expect
from test_a11y_browser import axe_problems, log_in

from jupyter_ext.pytest_plugin import artifacts_dir, create_session, wait_until, write_notebook
from jupyter_ext.testing import publish, saved_sources

pytestmark = pytest.mark.browser

APP = "codestream-student/"
APP_MS = 120_000
UI_MS = 30_000
BASE = "import math\n\nr = 2\n\n\narea = 3.14 * r * r\nprint(area)\n"
MINE = BASE.replace("r = 2", "r = 5  # my radius")
THEIRS = BASE.replace("r = 2", "r = 3")


def joined_student(teacher_server, student, title="Circles"):
    teacher = teacher_server.client()
    session = create_session(teacher, title=title)
    r = student.client().put("codestream/api/student/config", json={
        "teacher_url": teacher_server.url, "session_code": session["code"], "student_key": session["student_key"]})
    assert r.status_code == 200, r.text
    return teacher, session["code"]


def open_dashboard(page, student, *, log_in_first: bool = True):
    page.set_viewport_size({"width": 520, "height": 900})
    if log_in_first:
        log_in(page, student)
    page.goto(f"{student.url}{APP}", timeout=APP_MS)
    page.locator(".cs-light[data-state=connected]").wait_for(timeout=APP_MS)


def test_follow_then_merge_with_conflicts_by_keyboard_and_undo(cs_teacher, student, cs_page):
    teacher, code = joined_student(cs_teacher, student)
    write_notebook(student.root_dir, "work.ipynb", [("code", "import math")])
    for n in range(1, 9):  # enough cells that the focused one is below the fold
        publish(teacher, code, f"c{n}", f"print({n})", n)
    publish(teacher, code, "area", BASE, 20)
    r = student.client().post("codestream/api/student/pull", json={"cell_id": "area", "notebook_path": "work.ipynb"})
    assert r.status_code == 200, r.text
    nb = student.client().get("api/contents/work.ipynb", params={"content": 1}).json()["content"]
    nb["cells"][1]["source"] = MINE
    assert student.client().put("api/contents/work.ipynb", json={
        "type": "notebook", "format": "json", "content": nb}).status_code == 200
    page = cs_page
    open_dashboard(page, student)
    problems = axe_problems(page, "v3 connected")

    # -- follow the teacher: highlighted and scrolled to; off stays put; remembered ---------------
    teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c8"})
    focused = page.locator(".cs-feed-item-focused")
    expect(focused).to_contain_text("Cell 8", timeout=UI_MS)
    expect(focused).to_contain_text("the teacher is showing this")
    page.wait_for_function("document.documentElement.dataset.csScrolledTo === 'c8'", timeout=UI_MS)
    expect(page.locator(".cs-preview-code", has_text="print(8)")).to_be_visible(timeout=UI_MS)
    problems += axe_problems(page, "following the teacher")
    follow = page.get_by_role("checkbox", name=re.compile("Follow the teacher"))
    follow.uncheck()
    # the switch has reached the dashboard's server side once it comes back to be remembered
    page.wait_for_function("window.localStorage.getItem('codestream-follow-teacher') === '0'", timeout=UI_MS)
    teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c2"})
    expect(page.locator(".cs-feed-item-focused")).to_contain_text("Cell 2", timeout=UI_MS)
    expect(page.locator(".cs-preview-code", has_text="print(8)")).to_be_visible()  # stays put
    assert page.evaluate("document.documentElement.dataset.csScrolledTo") == "c8"
    page.reload()
    page.locator(".cs-light[data-state=connected]").wait_for(timeout=APP_MS)
    expect(page.get_by_role("checkbox", name=re.compile("Follow the teacher"))).not_to_be_checked(timeout=UI_MS)

    # -- merge: the teacher changed the line I changed -----------------------------------------------
    # opened on its own (not in a JupyterLab tab), the page offers a new notebook and JupyterLab
    expect(page.locator(".cs-lab-link")).to_contain_text("Open JupyterLab", timeout=UI_MS)
    assert page.locator("select").nth(0).input_value().startswith("A new notebook")
    page.locator("select").nth(0).select_option(label="work.ipynb")
    publish(teacher, code, "area", THEIRS, 20)
    item = page.locator(".cs-feed-item", has_text="Cell 9")
    expect(item).to_have_class(re.compile("cs-feed-item-updated"), timeout=UI_MS)
    item.get_by_role("button", name="Preview").click()
    expect(page.locator(".cs-diff-teacher")).to_contain_text("r = 3", timeout=UI_MS)
    expect(page.locator(".cs-diff-mine")).to_contain_text("r = 5  # my radius")
    expect(page.get_by_role("button", name="Pull as a new cell")).to_be_visible()
    page.get_by_role("button", name="Merge into my copy").click()
    expect(page.locator(".cs-merge-three")).to_contain_text("What the teacher has now", timeout=UI_MS)
    expect(page.locator(".cs-merge-message")).to_contain_text("1 conflict")
    problems += axe_problems(page, "merge view with a conflict")
    page.screenshot(path=str(artifacts_dir() / "student-merge-conflict.png"), full_page=True)

    # keyboard only: a radio group (arrows), then Tab to "Apply the merge" and Enter
    page.get_by_label("Keep mine").focus()
    page.keyboard.press("Space")
    expect(page.locator(".cs-merge-result")).to_contain_text("r = 5  # my radius", timeout=UI_MS)
    page.keyboard.press("ArrowRight")  # "Take the teacher's"
    expect(page.locator(".cs-merge-result")).to_contain_text("r = 3", timeout=UI_MS)
    expect(page.locator(".cs-merge-result")).not_to_contain_text("my radius")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("""() => { let a = document.activeElement;
              while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
              return a ? a.textContent.trim() : ''; }""") == "Apply the merge":
            break
    page.keyboard.press("Enter")
    expect(page.locator(".cs-merge-message")).to_contain_text("Merged the teacher's v2", timeout=UI_MS)
    wait_until(lambda: saved_sources(student, "work.ipynb")[1:] == [THEIRS], 20, what="the merged copy")
    problems += axe_problems(page, "merged, undo on offer")

    page.get_by_role("button", name="Undo merge").click()
    expect(page.locator(".cs-merge-message")).to_contain_text("back as it was", timeout=UI_MS)
    # the copy restored, and nothing added or lost (exactly the two cells)
    wait_until(lambda: saved_sources(student, "work.ipynb")[1:] == [MINE], 20, what="the copy restored")
    assert not problems, "\n".join(problems)


def test_pull_all_into_the_open_notebook_download_the_lesson_and_raise_a_hand(cs_teacher, student, cs_page):
    teacher, code = joined_student(cs_teacher, student, title="Loops")
    write_notebook(student.root_dir, "notes.ipynb", [("markdown", "# My notes")])
    for n in range(1, 4):
        publish(teacher, code, f"c{n}", f"print({n})", n)
    page = cs_page
    lab = page.context.new_page()
    lab.set_viewport_size({"width": 1200, "height": 900})
    log_in(lab, student)
    lab.goto(f"{student.url}lab/tree/notes.ipynb", timeout=APP_MS)
    lab_cells = lab.locator(".jp-Notebook .jp-Cell")
    expect(lab_cells.first).to_contain_text("My notes", timeout=APP_MS)
    if not any(s.get("path") == "notes.ipynb" for s in student.client().get("api/sessions").json()):
        r = student.client().post("api/sessions", json={"path": "notes.ipynb", "type": "notebook", "name": "notes.ipynb",
                                                        "kernel": {"name": "python3"}})
        assert r.status_code == 201, r.text  # JupyterLab may still be asking which kernel

    open_dashboard(page, student, log_in_first=False)  # the same browser, logged in for JupyterLab
    page.locator("select option", has_text="notes.ipynb  (open)").wait_for(state="attached", timeout=UI_MS)
    page.locator("select").nth(0).select_option(label="notes.ipynb  (open)")
    page.get_by_role("button", name="Pull all").click()
    message = page.locator(".cs-pull-message .cs-message", has_text="added 3 cells")
    expect(message).to_contain_text("in the open notebook now", timeout=UI_MS)
    expect(lab_cells).to_have_count(4, timeout=UI_MS)
    expect(lab_cells.nth(3)).to_contain_text("print(3)")
    page.get_by_role("button", name="Pull all").click()
    expect(page.locator(".cs-pull-message .cs-message")).to_contain_text("added 0 cells, skipped 3", timeout=UI_MS)
    expect(lab_cells).to_have_count(4)
    problems = axe_problems(page, "pulled all")

    with page.expect_download(timeout=UI_MS) as download:
        page.get_by_role("link", name="Download the lesson (.ipynb)").click()
    assert download.value.suggested_filename == "Loops.ipynb"
    saved = student.root_dir / "Loops-home.ipynb"
    download.value.save_as(saved)
    lesson = nbformat.read(str(saved), as_version=4)
    nbformat.validate(lesson)
    lab.goto(f"{student.url}lab/tree/Loops-home.ipynb", timeout=APP_MS)
    home = lab.locator(".jp-NotebookPanel", has=lab.locator(".jp-Cell", has_text="print(1)")).filter(
        has_not=lab.locator(".jp-Cell", has_text="My notes"))
    home_cells = home.locator(".jp-Notebook .jp-Cell")
    expect(home_cells).to_have_count(3, timeout=APP_MS)
    expect(home_cells.nth(0)).to_contain_text("print(1)")

    # -- a hand with my cell (the one I pulled last, by default): its state seen live --------------
    wait_until(lambda: len(saved_sources(student, "notes.ipynb")) == 4, 30, what="the room to save the pulled cells")
    page.get_by_role("button", name="Refresh").click()
    hand_cell = page.get_by_label("Cell of my notebook")
    wait_until(lambda: hand_cell.evaluate("s => s.options[s.selectedIndex].textContent") == "Cell 4: print(3)",
               30, what="the cell pulled last as the hand's cell")
    page.get_by_label("Your name (shown to the teacher)").fill("Ada")
    page.get_by_label("Note for the teacher (optional)").fill("Why 3 cells?")
    page.get_by_role("button", name="Ask for help").click()
    expect(page.locator(".cs-hand-state")).to_contain_text("waiting, 1st", timeout=UI_MS)
    problems += axe_problems(page, "hand raised")
    hands = teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
    assert [(h["name"], h["note"], h["source"]) for h in hands] == [("Ada", "Why 3 cells?", "print(3)")]
    teacher.patch(f"codestream/api/sessions/{code}/hands/{hands[0]['hand_id']}", json={"state": "helping"})
    expect(page.locator(".cs-hand-state")).to_contain_text("the teacher is looking at it", timeout=UI_MS)
    page.screenshot(path=str(artifacts_dir() / "student-hand-helping.png"), full_page=True)
    page.get_by_role("button", name="Lower my hand").click()
    expect(page.locator(".cs-hand-state")).to_have_count(0, timeout=UI_MS)
    assert not problems, "\n".join(problems)
