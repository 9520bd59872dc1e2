"""Publish on save in real JupyterLab with real-time collaboration, in headless Chromium: the
teacher types into a published cell, the collaboration room autosaves it and nothing goes out;
the teacher presses Ctrl+S and the cell goes out as version 2. This is the proof that
JupyterLab's Save creates the checkpoint publish on save follows (``handlers/explicit_save.py``).
"""

from __future__ import annotations

import nbformat
import pytest
from playwright.sync_api import expect
from test_e2e_classroom import LAB_LOAD_MS, UPDATE_MS, UPDATE_S, log_in, published, quiet_jupyterlab

from jupyter_ext.testing import create_session, saved_sources, wait_until, write_notebook

pytestmark = pytest.mark.browser

LESSON = "explicit.ipynb"
DRAFT = "# half-typed"


def test_ctrl_s_in_jupyterlab_publishes_and_the_rooms_autosave_does_not(cs_teacher, cs_page):
    path = write_notebook(cs_teacher.root_dir, LESSON, [("markdown", "# Saving"), ("code", "total = 1")])
    cell_id = nbformat.read(str(path), as_version=4).cells[1].id
    client = cs_teacher.client()
    code = create_session(client, notebook_path=LESSON)["code"]
    r = client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                   json={"source": "total = 1", "cell_type": "code", "position": 1, "notebook_path": LESSON})
    assert r.status_code == 200 and r.json()["version"] == 1, r.text
    quiet_jupyterlab(cs_teacher)

    lab = cs_page
    log_in(lab, cs_teacher)
    lab.goto(f"{cs_teacher.url}lab/tree/{LESSON}", timeout=LAB_LOAD_MS)
    cells = lab.locator(".jp-Notebook .jp-Cell")
    expect(cells.nth(1)).to_contain_text("total = 1", timeout=LAB_LOAD_MS)
    lab.get_by_role("dialog").get_by_role("button", name="No Kernel").click(timeout=LAB_LOAD_MS)  # JupyterLab asks: none is needed
    # opening a notebook with no checkpoint makes JupyterLab create one: nothing has changed yet
    wait_until(lambda: client.get(f"api/contents/{LESSON}/checkpoints").json() != [], UPDATE_S,
               what="JupyterLab's first checkpoint of the notebook")
    assert published(cs_teacher, code)[cell_id]["version"] == 1

    editor = cells.nth(1).locator(".cm-content")
    editor.click()
    lab.keyboard.press("Control+End")
    lab.keyboard.press("Enter")
    lab.keyboard.type(DRAFT)
    # the room writes the changing document to disk by itself: students get none of it
    wait_until(lambda: saved_sources(cs_teacher, LESSON)[1:] == [f"total = 1\n{DRAFT}"], UPDATE_S,
               what="the collaboration room's autosave")
    lab.keyboard.press("Enter")
    lab.keyboard.type("total = 2")
    wait_until(lambda: saved_sources(cs_teacher, LESSON)[1:] == [f"total = 1\n{DRAFT}\ntotal = 2"], UPDATE_S,
               what="the room's second autosave")
    assert published(cs_teacher, code)[cell_id]["version"] == 1, "an autosave published the teacher's draft"

    lab.keyboard.press("Control+s")
    wait_until(lambda: published(cs_teacher, code)[cell_id]["version"] == 2, UPDATE_S, what="Ctrl+S to publish")
    # version 2 is the saved cell: neither autosave before it went out as a version of its own
    assert published(cs_teacher, code)[cell_id]["source"] == f"total = 1\n{DRAFT}\ntotal = 2"
    expect(cells.nth(1)).to_contain_text("total = 2", timeout=UPDATE_MS)
