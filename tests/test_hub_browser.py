"""Through the hub's login page in headless Chromium: a teacher starts a session for a course
group from the launcher tile; a student logs in, opens the join link, sees the cells and pulls
one into a notebook. Nobody types a URL or a key."""

from __future__ import annotations

import re

import pytest

from jupyter_ext.domain import ALPHABET
from jupyter_ext.pytest_plugin import artifacts_dir, wait_until

pytestmark = pytest.mark.browser

FIRST_LOAD_MS = 150_000  # a server spawn, then `panel serve` behind jupyter-server-proxy
UI_MS = 30_000


def notebook(cells):
    return {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": cell_id, "cell_type": "code", "source": source, "metadata": {},
                   "outputs": [], "execution_count": None} for cell_id, source in cells]}}


def hub_login(page, hub, user: str) -> None:
    page.goto(f"{hub.url}hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", hub.password)
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(re.compile(rf"/user/{user}/"), timeout=FIRST_LOAD_MS)


def test_teacher_tile_to_student_pull_through_the_hub(cs_hub, cs_browser):
    cs_hub.start_servers("teacher2", "student1")  # teacher2 teaches geometry; student1 is not in it
    teacher_api = cs_hub.server("teacher1")
    cs_hub.start_servers("teacher1")
    teacher_api.put("api/contents/hub-lesson.ipynb", json=notebook([("h1", "area = 3 * 4")]))
    # end the sessions other tests left: the dashboard would resume the newest one instead of
    # offering "Start session"
    for earlier in teacher_api.get("codestream/api/sessions").json()["sessions"]:
        assert teacher_api.delete(f"codestream/api/sessions/{earlier['code']}").status_code == 204
    student_api = cs_hub.server("student1")
    student_api.put("api/contents/notes.ipynb", json=notebook([("n1", "# my notes")]))

    teacher_context = cs_browser.new_context(viewport={"width": 1280, "height": 1000})
    student_context = cs_browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = teacher_context.new_page()
        hub_login(page, cs_hub, "teacher1")
        page.goto(f"{cs_hub.url}user/teacher1/lab", timeout=FIRST_LOAD_MS)
        page.locator(".jp-LauncherCard", has_text="Code Stream — Teacher").first.click(timeout=FIRST_LOAD_MS)
        dashboard = page.frame_locator("iframe").first
        group = dashboard.locator("select").first
        group.locator("option", has_text="algebra").wait_for(state="attached", timeout=FIRST_LOAD_MS)
        group.select_option(label="algebra")
        dashboard.get_by_role("button", name="Start session").click(timeout=UI_MS)
        code_box = dashboard.locator(".cs-session-code")
        code_box.wait_for(timeout=UI_MS)
        wait_until(lambda: re.fullmatch(rf"[{ALPHABET}]{{6}}", code_box.inner_text().strip()), 30,
                   what="the session code on the dashboard")
        code = code_box.inner_text().strip()
        # the code and a QR code of the join link; no URL or key to type
        qr = dashboard.locator(".cs-qr-box svg.cs-qr")
        qr.wait_for(timeout=UI_MS)
        box, frame = qr.bounding_box(), page.locator("iframe").first.bounding_box()
        # beside the cells (the projector view has it larger): readable, and all of it in the frame
        assert box and box["width"] >= 300 and box["height"] >= 300, box
        side = dashboard.locator(".cs-side").bounding_box()
        assert box["x"] >= side["x"] and box["x"] + box["width"] <= side["x"] + side["width"] + 1, (box, side)
        assert box["x"] >= frame["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"], (box, frame)
        assert dashboard.locator(".cs-join-link", has_text=f"?session={code}").count() >= 1
        assert dashboard.get_by_text("Student key").count() == 0
        assert dashboard.get_by_text("Students enter this URL").count() == 0
        sessions = teacher_api.get("codestream/api/sessions").json()["sessions"]
        session = next(s for s in sessions if s["code"] == code)
        assert session["group"] == "algebra" and session["teacher"] == "teacher1"
        page.screenshot(path=str(artifacts_dir() / "hub-teacher-dashboard.png"), full_page=True)
        publish = teacher_api.put(f"codestream/api/sessions/{code}/cells/h1", json={
            "source": "area = 3 * 4", "cell_type": "code", "position": 1, "notebook_path": "hub-lesson.ipynb"})
        assert publish.status_code == 200, publish.text

        student = student_context.new_page()
        hub_login(student, cs_hub, "student1")
        student.goto(session["join_link"], timeout=FIRST_LOAD_MS)
        student.locator(".cs-feed code", has_text="area = 3 * 4").wait_for(timeout=FIRST_LOAD_MS)
        student.locator("button", has_text="Following: ").first.wait_for(timeout=UI_MS)
        student.locator(".cs-feed-item", has_text="area").get_by_role("button", name="Preview").click()
        student.locator(".cs-preview-code", has_text="area = 3 * 4").wait_for(timeout=UI_MS)
        student.locator("select").nth(0).select_option(value="notes.ipynb", timeout=UI_MS)
        student.get_by_role("button", name="Pull this cell").click(timeout=UI_MS)
        student.locator(".cs-message", has_text="into notes.ipynb").wait_for(timeout=UI_MS)
        student.screenshot(path=str(artifacts_dir() / "hub-student-dashboard.png"), full_page=True)
    except Exception:
        for number, shown in enumerate(teacher_context.pages + student_context.pages):
            shown.screenshot(path=str(artifacts_dir() / f"FAILED-hub-browser-{number}.png"), full_page=True)
        raise
    finally:
        teacher_context.close()
        student_context.close()
    cells = student_api.get("api/contents/notes.ipynb").json()["content"]["cells"]
    assert [c["source"] for c in cells] == ["# my notes", "area = 3 * 4"]
    assert cells[1]["metadata"]["codestream"] == {"session": code, "cell_id": "h1", "version": 1, "number": 1}
    assert student_api.get("codestream/api/student/config").json()["session_code"] == code
