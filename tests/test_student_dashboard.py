"""The student dashboard's Viewer against real servers, plus its pure parts.

A real teacher server (``cs_teacher``) and a real student Jupyter server; the dashboard is
driven through its parameters exactly as its widgets drive it, without a browser.
"""

from __future__ import annotations

import asyncio
from html.parser import HTMLParser

import pytest
from student_fixtures import DroppableProxy

from codestream_dash import student_model as model
from codestream_dash.student import StudentDashboard
from codestream_dash.student_render import cell_preview_html, code_html, diff_html, markdown_html
from jupyter_ext.clients import ServerClient
from jupyter_ext.testing import create_session, free_port, notebook_cells, publish, source_of, until, write_notebook

XSS = "<img src=x onerror=alert(1)>"


# -- helpers ----------------------------------------------------------------------------------
@pytest.fixture
async def dashboard(student):
    board = StudentDashboard(ServerClient(student.url, student.token))
    yield board
    await board.aclose()


async def connect(board: StudentDashboard, teacher, session) -> None:
    board.param.update(teacher_url=teacher.url, session_code=session["code"].lower(),
                       student_key=session["student_key"])
    board.param.trigger("save")
    await board.settle()
    assert board.form_ok, board.form_message


# -- pure parts -------------------------------------------------------------------------------
def test_pulled_copies_statuses_and_diff():
    notebook = {"cells": [
        {"id": "n1", "cell_type": "code", "source": "mine = 1", "metadata": {}},
        {"id": "n2", "cell_type": "code", "source": ["x = 1  ", "# my note"],
         "metadata": {"codestream": {"session": "ABCDEF", "cell_id": "c1", "version": 1}}},
        {"id": "n3", "cell_type": "code", "source": "y = 2",
         "metadata": {"codestream": {"session": "ABCDEF", "cell_id": "c2", "version": 2}}},
        {"id": "n4", "cell_type": "code", "source": "z",
         "metadata": {"codestream": {"session": "OTHERS", "cell_id": "c3", "version": 1}}},
    ]}
    copies = model.pulled_copies(notebook, "abcdef")
    assert set(copies) == {"c1", "c2"} and copies["c1"][0].index == 1
    assert copies["c1"][0].source == "x = 1  # my note"
    assert model.cell_status({"cell_id": "c1", "version": 2}, copies.get("c1")) == model.UPDATED
    assert model.cell_status({"cell_id": "c2", "version": 2}, copies.get("c2")) == model.PULLED
    assert model.cell_status({"cell_id": "c3", "version": 1}, copies.get("c3")) == model.NEW
    diff = model.source_diff("x = 1  # my note", "x = 10", version_from=1, version_to=2)
    assert "-x = 1  # my note" in diff and "+x = 10" in diff and "your copy (v1)" in diff

    positions = model.position_options(notebook)
    assert list(positions.values()) == ["end", "after:n1", "after:n2", "after:n3", "after:n4"]
    assert model.notebook_options(["b.ipynb"], ["a.ipynb", "b.ipynb"]) == {
        "b.ipynb  (open)": "b.ipynb", "a.ipynb": "a.ipynb"}


@pytest.mark.parametrize("code", ["unreachable", "timeout", "unauthorized", "session_not_found", "bad_response"])
def test_every_contract_test_error_has_plain_words(code):
    text = model.plain_error(code, "server words", url="http://t:1/", session_code="ABCDEF")
    assert text != "server words" and len(text) > 30
    assert model.plain_error("something_else", "server words") == "server words"


class MarkupScan(HTMLParser):
    """Which elements and attributes a browser would build from some HTML, and its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attributes: set[str] = set()
        self.text = ""
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attributes.update(name for name, _ in attrs)

    def handle_data(self, data):
        self.text += data


@pytest.mark.parametrize("source", [XSS, "<script>alert(1)</script>", "<b onclick=alert(1)>x</b>"])
def test_previews_show_markup_as_text(source):
    for html in (code_html(source), markdown_html(source), markdown_html(f"# Title\n\n{source}"),
                 cell_preview_html({"cell_type": "raw", "source": source}), diff_html(f"+{source}")):
        scan = MarkupScan(html)
        assert not scan.tags & {"img", "script", "b"}, scan.tags
        assert not [a for a in scan.attributes if a.startswith("on")], scan.attributes
        assert source in scan.text
    assert "<h1>Title</h1>" in markdown_html("# Title")
    assert "<strong>bold</strong>" in markdown_html("**bold**")


# -- against real servers ---------------------------------------------------------------------
async def test_connect_form_save_and_test_connection(cs_teacher, dashboard, student):
    session = create_session(cs_teacher.client())
    await dashboard.load()
    assert not dashboard.configured and dashboard.connection == "not_configured"

    dashboard.param.update(teacher_url="ftp://example.org/", session_code="ABCDEF", student_key="k" * 20)
    assert not await dashboard.save_config()
    assert dashboard.form_ok is False and "http://" in dashboard.form_message

    dashboard.param.update(teacher_url=cs_teacher.url, session_code=session["code"].lower(),
                           student_key="wrong-key-wrong-key")
    dashboard.param.trigger("save")
    await dashboard.settle()
    assert dashboard.form_ok and dashboard.configured and dashboard.has_key
    assert dashboard.student_key == "" and dashboard.session_code == session["code"]
    dashboard.param.trigger("test")
    await dashboard.settle()
    assert dashboard.form_ok is False
    assert dashboard.form_message == model.plain_error("unauthorized")

    dashboard.param.update(student_key=session["student_key"])
    assert await dashboard.save_config()
    publish(cs_teacher.client(), session["code"], "c1", "print(1)", 1)
    assert await dashboard.test_connection()
    assert dashboard.form_message == f"Connected to session {session['code']} at {cs_teacher.url}: 1 cell published."

    dashboard.param.update(session_code="ZZZZZZ")
    assert await dashboard.save_config()  # the key stays stored server-side
    assert not await dashboard.test_connection()
    assert "no session ZZZZZZ" in dashboard.form_message

    closed = f"http://127.0.0.1:{free_port()}/"
    dashboard.param.update(teacher_url=closed, session_code=session["code"])
    assert await dashboard.save_config()
    assert not await dashboard.test_connection()
    assert dashboard.form_message == model.plain_error("unreachable", url=closed)

    # a fresh dashboard (another tab) reads the stored configuration, never the key
    other = StudentDashboard(ServerClient(student.url, student.token))
    try:
        await other.load()
        assert other.configured and other.has_key and other.teacher_url == closed
        assert other.student_key == ""
    finally:
        await other.aclose()


async def test_feed_follows_events_with_toasts_and_pulls_where_asked(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Loops")
    code = session["code"]
    write_notebook(student.root_dir, "lesson.ipynb", [("markdown", "# My notes"), ("code", "a = 1")])
    write_notebook(student.root_dir, "other.ipynb", [("code", "b = 2")])
    write_notebook(student.root_dir, "zz-open.ipynb", [("code", "c = 3")])
    client = student.client()
    r = client.post("api/sessions", json={"path": "zz-open.ipynb", "type": "notebook",
                                          "name": "zz-open.ipynb", "kernel": {"name": "python3"}})
    assert r.status_code == 201, r.text

    await connect(dashboard, cs_teacher, session)
    await dashboard.start()
    await until(dashboard, lambda: dashboard.connection == "connected", "the relay to open")
    assert dashboard.session_title == "Loops" and dashboard.cells == []
    # notebooks open in JupyterLab come first
    # then a new notebook, on offer at once
    assert list(dashboard.param.target_notebook.objects.values()) == [
        "zz-open.ipynb", "lesson.ipynb", "other.ipynb", f"new:codestream-{code.lower()}.ipynb"]

    publish(teacher, code, "second", "for i in range(3):\n    print(i)", 2)
    publish(teacher, code, "first", "## Loops\nA *loop* repeats.", 1, "markdown")
    await until(dashboard, lambda: len(dashboard.cells) == 2, "both published cells")
    assert [c["cell_id"] for c in dashboard.cells] == ["first", "second"]  # the teacher's order
    await until(dashboard, lambda: len(dashboard.notices) == 2, "two toasts")
    assert all(kind == "info" and "New cell from the teacher" in text for kind, text in dashboard.notices)

    dashboard.target_notebook = "lesson.ipynb"
    await dashboard.settle()
    assert [status for _, status in dashboard.feed()] == [model.NEW, model.NEW]
    lesson = notebook_cells(student, "lesson.ipynb")
    after_first = f"after:{lesson[0]['id']}"
    assert after_first in dashboard.param.position.objects.values()

    # pull "second" at the end, then "first" after the student's first cell
    dashboard.selected_cell_id = "second"
    await dashboard.settle()
    dashboard.param.trigger("pull")
    await dashboard.settle()
    assert dashboard.pull_ok, dashboard.pull_message
    dashboard.selected_cell_id = "first"
    await dashboard.settle()
    dashboard.position = after_first
    dashboard.param.trigger("pull")
    await dashboard.settle()
    assert dashboard.pull_ok and "as cell 2" in dashboard.pull_message

    cells = notebook_cells(student, "lesson.ipynb")
    assert [source_of(c) for c in cells] == [
        "# My notes", "## Loops\nA *loop* repeats.", "a = 1", "for i in range(3):\n    print(i)"]
    # the copies remember the teacher's numbering ("Cell 1"), so they keep their name once withdrawn
    assert cells[1]["metadata"]["codestream"] == {"session": code, "cell_id": "first", "version": 1, "number": 1}
    assert cells[3]["metadata"]["codestream"] == {"session": code, "cell_id": "second", "version": 1, "number": 2}
    assert cells[1]["cell_type"] == "markdown"
    assert [status for _, status in dashboard.feed()] == [model.PULLED, model.PULLED]
    assert notebook_cells(student, "other.ipynb")[0]["source"] == "b = 2"

    # the detail view renders the markdown cell, escaped and highlighted
    detail = dashboard._detail_view()
    assert "<em>loop</em>" in detail[1].object

    teacher.delete(f"codestream/api/sessions/{code}/cells/second")
    await until(dashboard, lambda: [c["cell_id"] for c in dashboard.cells] == ["first"], "the withdrawn cell to go")
    assert dashboard.notices[-1][1] == ("The teacher withdrew Cell 2. What you pulled of it stays in your"
                                        " notebook.")
    # what the student pulled of it stays listed, marked, with its number; their notebook is untouched
    assert [(c["cell_id"], status) for c, status in dashboard.feed()] == [
        ("first", model.PULLED), ("second", model.WITHDRAWN)]
    withdrawn = dashboard.feed()[1][0]
    assert withdrawn["number"] == 2 and withdrawn["source"] == "for i in range(3):\n    print(i)"
    assert len(notebook_cells(student, "lesson.ipynb")) == 4
    feed_html = "\n".join(getattr(item[0], "object", "") or "" for item in dashboard._feed_view()[1:])
    assert "withdrawn by the teacher" in feed_html and "Cell 2" in feed_html and "Nothing published" not in feed_html

    teacher.delete(f"codestream/api/sessions/{code}")
    # a normal end of a lesson: a grey light and a plain notice, not a red error
    await until(dashboard, lambda: dashboard.connection == "ended", "the light to show the ended session")
    assert dashboard.notices[-1][0] == "info"
    assert "ended this session" in dashboard.connection_message and dashboard.cells == []


async def pulled_then_edited(cs_teacher, dashboard, student) -> tuple:
    """The student pulled the teacher's "area" cell into work.ipynb, then edited and saved it."""
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    write_notebook(student.root_dir, "work.ipynb", [("code", "import math")])
    publish(teacher, code, "area", "r = 2\narea = 3.14 * r * r", 1)
    await connect(dashboard, cs_teacher, session)
    await dashboard.start()
    await until(dashboard, lambda: dashboard.connection == "connected", "the relay to open")
    dashboard.target_notebook = "work.ipynb"
    dashboard.selected_cell_id = "area"
    await dashboard.settle()
    assert await dashboard.pull_selected()

    # the student edits the pulled copy and saves
    client = student.client()
    nb = client.get("api/contents/work.ipynb", params={"content": 1}).json()["content"]
    nb["cells"][1]["source"] = "r = 5  # my radius\narea = 3.14 * r * r"
    assert client.put("api/contents/work.ipynb",
                      json={"type": "notebook", "format": "json", "content": nb}).status_code == 200
    return teacher, code


async def test_pulling_an_update_keeps_the_edited_copy_and_shows_the_diff(cs_teacher, dashboard, student):
    teacher, code = await pulled_then_edited(cs_teacher, dashboard, student)

    publish(teacher, code, "area", "import math\nr = 2\narea = math.pi * r ** 2", 1)
    await until(dashboard, lambda: dashboard.cells and dashboard.cells[0]["version"] == 2, "version 2")
    await until(dashboard, lambda: any("updated" in text for _, text in dashboard.notices), "the update toast")
    dashboard.selected_cell_id = None
    dashboard.selected_cell_id = "area"  # re-reads the notebook, with the student's edit
    await dashboard.settle()
    assert dashboard.feed()[0][1] == model.UPDATED
    diff = dashboard.selected_diff()
    assert "-r = 5  # my radius" in diff and "+area = math.pi * r ** 2" in diff
    detail = dashboard._detail_view()
    assert any("cs-diff-pane" in (pane.css_classes or []) for pane in detail)

    result = await dashboard.pull_selected()
    assert result["index"] == 2 and result["previous_index"] == 1
    assert "earlier copy (cell 2) is kept" in dashboard.pull_message
    cells = notebook_cells(student, "work.ipynb")
    assert [source_of(c) for c in cells] == [
        "import math", "r = 5  # my radius\narea = 3.14 * r * r", "import math\nr = 2\narea = math.pi * r ** 2"]
    assert [c["metadata"].get("codestream", {}).get("version") for c in cells] == [None, 1, 2]
    assert dashboard.feed()[0][1] == model.PULLED and dashboard.selected_diff() is None


async def test_listener_reconnects_with_last_event_id_and_stops_with_the_session(cs_teacher,
                                                                                 cs_jupyter_server_factory):
    teacher = cs_teacher.client()
    student = cs_jupyter_server_factory("student")  # this test stops and restarts it
    session = create_session(teacher)
    board = StudentDashboard(ServerClient(student.url, student.token))
    await connect(board, cs_teacher, session)
    await board.start()
    await until(board, lambda: board.connection == "connected", "the relay to open")

    student.stop()  # the student's own server goes away: the light says so
    await until(board, lambda: board.connection == "reconnecting", "the light to show the drop")
    publish(teacher, session["code"], "missed", "print('published while away')", 1)
    # same port again, so the dashboard's client finds it
    student.process = None
    student.start()
    await until(board, lambda: board.connection == "connected", "the relay to come back", timeout=60)
    await until(board, lambda: [c["cell_id"] for c in board.cells] == ["missed"], "the missed cell")

    listener = board._listener
    board.on_session_destroyed(None)  # what Panel calls when the browser tab closes
    await asyncio.gather(listener, return_exceptions=True)
    assert listener.done() and board.client._client.is_closed


async def test_a_rejected_token_turns_the_light_red_with_what_to_do(student):
    board = StudentDashboard(ServerClient(student.url, "not-the-jupyter-token"))
    try:
        view = board.__panel__()  # the page exists before the first load, as when served
        await board.start()
        await board.settle()
        assert board.connection == "error"
        assert board.connection_message == model.plain_error("forbidden")
        assert "cs-light" in view[0].object and 'data-state="error"' in view[0].object
    finally:
        await board.aclose()


async def test_the_light_shows_when_the_teacher_stops_answering_and_comes_back(cs_teacher, dashboard):
    """The dashboard's stream goes to the student's own server, which stays up: its relay tells
    the page when the teacher behind it stops answering (a TCP proxy cuts it here)."""
    teacher = cs_teacher.client()
    session = create_session(teacher)
    proxy = DroppableProxy(cs_teacher.port)
    try:
        await connect(dashboard, proxy, session)
        await dashboard.start()
        await until(dashboard, lambda: dashboard.connection == "connected", "the relay to open")

        proxy.drop()
        await until(dashboard, lambda: dashboard.connection == "reconnecting", "the light to show the teacher is gone")
        assert dashboard.connection_message.startswith(model.plain_error("unreachable", "", url=proxy.url))
        publish(teacher, session["code"], "later", "print('published while the teacher was away')", 1)

        proxy.restore()
        await until(dashboard, lambda: dashboard.connection == "connected", "the light to come back", timeout=60)
        await until(dashboard, lambda: [c["cell_id"] for c in dashboard.cells] == ["later"],
                    "the cell published meanwhile")
    finally:
        proxy.close()


async def test_the_diff_starts_from_the_students_newest_copy(cs_teacher, dashboard, student):
    """Every diff the detail view can render after an update compares with the copy as saved now."""
    teacher, code = await pulled_then_edited(cs_teacher, dashboard, student)

    rendered = []
    dashboard.param.watch(lambda _event: rendered.append(dashboard.selected_diff()), ["cells", "copies"])
    publish(teacher, code, "area", "import math\nr = 2\narea = math.pi * r ** 2", 1)
    await until(dashboard, lambda: dashboard.cells and dashboard.cells[0]["version"] == 2, "version 2")
    await dashboard.settle()
    diffs = [diff for diff in rendered if diff is not None]
    assert diffs, rendered
    assert all("-r = 5  # my radius" in diff for diff in diffs), diffs


async def test_join_link_and_messages_about_what_was_saved(cs_teacher, dashboard, student):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Joined")
    dashboard.join_link = session["join_link"]
    assert await dashboard.join_session()
    assert dashboard.join_link == "" and dashboard.configured and dashboard.has_key
    assert (dashboard.saved_teacher_url, dashboard.saved_session_code) == (cs_teacher.url, session["code"])
    # a refused save leaves the saved configuration; Test reports what it tested, not the form
    dashboard.teacher_url = "ftp://elsewhere/"
    assert not await dashboard.save_config()
    assert "not usable" in dashboard.form_message
    assert await dashboard.test_connection()
    assert session["code"] in dashboard.form_message and cs_teacher.url in dashboard.form_message
    assert "ftp" not in dashboard.form_message
    # which characters a session code may have
    dashboard.param.update(teacher_url=cs_teacher.url, session_code="ABC-0O")
    assert not await dashboard.save_config()
    assert "six letters and digits" in dashboard.form_message


async def test_a_teacher_never_reached_is_cannot_reach(dashboard, student):
    from jupyter_ext.pytest_plugin import free_port

    r = student.client().put("codestream/api/student/config", json={
        "teacher_url": f"http://127.0.0.1:{free_port()}/", "session_code": "ABC234", "student_key": "K-1"})
    assert r.status_code == 200
    await dashboard.start()
    await until(dashboard, lambda: dashboard.connection == "unreachable", "cannot reach")
    assert "Can't reach" in dashboard.connection_message
