"""The teacher dashboard's Viewer, driven through its parameters against a real Jupyter server."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import nbformat
import panel as pn
import pytest

from codestream_dash.common import preview_html
from codestream_dash.teacher import CellRow, TeacherDashboard, student_url_advice
from codestream_dash.teacher_cells import row_view_state
from jupyter_ext.clients import ServerClient
from jupyter_ext.domain import ALPHABET
from jupyter_ext.testing import SSEReader, save_like_jupyterlab, write_notebook

CODE_RE = re.compile(rf"^[{ALPHABET}]{{6}}$")
LESSON = "lessons/loops.ipynb"
LESSON_CELLS = [
    ("markdown", "# Loops\n<script>alert('x')</script>"),
    ("code", "for i in range(3):\n    print(i)"),
    ("code", "x = '<img src=x onerror=alert(1)>'"),
]


async def until(predicate, timeout: float = 10.0, what: str = "condition"):
    """Async test helper: wait until ``predicate()`` is truthy (the dashboard works in tasks)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def cell_ids(root: Path, path: str) -> list[str]:
    return [cell.id for cell in nbformat.read(str(root / path), as_version=4).cells]


@pytest.fixture
async def dashboard(cs_teacher):
    write_notebook(cs_teacher.root_dir, LESSON, LESSON_CELLS)
    dash = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    yield dash
    await dash.close()


async def open_lesson(dash: TeacherDashboard, path: str = LESSON) -> None:
    await dash.load()
    dash.notebook_path = path
    await dash.settle()


def published_cells(server, code: str) -> dict[str, dict]:
    r = server.client().get(f"codestream/api/sessions/{code}/cells")
    assert r.status_code == 200, r.text
    return {cell["cell_id"]: cell for cell in r.json()["cells"]}


def save_through_contents_api(server, path: str, edit) -> None:
    client = server.client()
    model = client.get(f"api/contents/{path}", params={"content": 1}).json()
    edit(model["content"]["cells"])
    save_like_jupyterlab(client, path, model["content"])


def test_student_url_advice():
    url, warning = student_url_advice("http://127.0.0.1:8888/lab-base/")
    assert url == "http://127.0.0.1:8888/lab-base/"
    assert "--ip" in warning and "relay" in warning and "127.0.0.1" in warning
    assert student_url_advice("http://localhost:9000/")[1]
    assert student_url_advice("http://[::1]:9000/")[1]
    assert student_url_advice("http://192.168.1.20:8888/") == ("http://192.168.1.20:8888/", "")
    # a server on all interfaces shows up under the host name: students get the LAN address
    assert student_url_advice("http://teacher-pc:8888/", local_hostname="teacher-pc",
                              lan_address="10.1.2.3") == ("http://10.1.2.3:8888/", "")
    assert student_url_advice("http://teacher-pc:8888/", local_hostname="other", lan_address="10.1.2.3") == (
        "http://teacher-pc:8888/", "")
    # a relay or reverse proxy set by the operator wins
    assert student_url_advice("http://127.0.0.1:8888/", "https://relay.school.example/cs/") == (
        "https://relay.school.example/cs/", "")


def test_cell_row_status_and_escaped_preview():
    row = CellRow(cell_id="a", source="<b>bold</b>\n" + "x\n" * 10, cell_type="markdown")
    assert row.status == "not published"
    assert "&lt;b&gt;" in row.preview and "<b>bold" not in row.preview and "more lines" in row.preview
    row.show_published({"version": 3, "source": row.source, "cell_type": "markdown"})
    assert row.published and row.status == "published v3"
    row.source = "changed"
    assert row.status == "changed since published (v3)" and row.changed
    row.show_published(None)
    assert not row.published and row.status == "not published"
    for cell_type in ("code", "markdown", "raw"):
        source = "<script>alert(1)</script>\n<img src=x onerror=alert(2)>"
        shown = preview_html(source, cell_type)
        assert "<script" not in shown.lower() and "<img" not in shown.lower()
        assert html.unescape(re.sub(r"<[^>]+>", "", shown)) == source  # escaped, not dropped


async def test_session_lifecycle_and_publish_switch(dashboard, cs_teacher):
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    assert LESSON in dash.param.notebook_path.objects
    assert [(r.cell_id, r.cell_type, r.index) for r in dash.rows] == [
        (ids[0], "markdown", 0), (ids[1], "code", 1), (ids[2], "code", 2)]
    assert all(r.status == "not published" for r in dash.rows)
    assert dash.reachability_warning and "--ip" in dash.reachability_warning  # the test server is loopback only

    dash.title = "Week 3"
    await dash.start_session()
    code, key = dash.session_code, dash.student_key
    assert CODE_RE.match(code) and key
    sessions = cs_teacher.client().get("codestream/api/sessions").json()["sessions"]
    assert [(s["code"], s["title"], s["notebook_path"]) for s in sessions] == [(code, "Week 3", LESSON)]

    # the switch is a parameter: flipping it publishes the saved source at its notebook position
    dash.row(ids[1]).wanted = True
    await dash.settle()
    cells = published_cells(cs_teacher, code)
    assert list(cells) == [ids[1]]
    assert cells[ids[1]]["source"] == LESSON_CELLS[1][1] and cells[ids[1]]["version"] == 1
    assert cells[ids[1]]["position"] == 1
    assert dash.row(ids[1]).status == "published v1"

    dash.row(ids[1]).wanted = False
    await dash.settle()
    assert published_cells(cs_teacher, code) == {}
    assert dash.row(ids[1]).status == "not published"

    new_key = None
    await dash.rotate_key()
    new_key = dash.student_key
    assert new_key and new_key != key
    old = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    assert old.get(f"codestream/api/sessions/{code}/cells").status_code == 401
    new = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {new_key}"})
    assert new.get(f"codestream/api/sessions/{code}/cells").status_code == 200

    await dash.end_session()
    assert dash.session_code == "" and dash.student_key == ""
    assert cs_teacher.client().get("codestream/api/sessions").json()["sessions"] == []
    # without a session the switch does not publish anything and goes back
    dash.row(ids[0]).wanted = True
    await dash.settle()
    assert dash.row(ids[0]).wanted is False and not dash.row(ids[0]).published


def record_requests(dash: TeacherDashboard) -> list[str]:
    """Every request the dashboard's client sends from now on, as "METHOD path" (its event stream aside)."""
    sent: list[str] = []

    async def hook(request):
        if not request.url.path.endswith("/events"):
            sent.append(f"{request.method} {request.url.path}")

    dash.client._client.event_hooks["request"].append(hook)
    return sent


async def test_one_request_per_flip_and_none_for_its_own_event(dashboard, cs_teacher):
    """A flip is one PUT (or DELETE): no re-read before it, none when its own event comes back."""
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    await until(lambda: dash.streams_opened, what="the event stream open")
    await dash.settle()  # the reads a fresh stream makes
    sent = record_requests(dash)
    before = dash.last_event_id
    dash.row(ids[1]).wanted = True  # the switch
    await dash.settle()
    await until(lambda: dash.last_event_id != before, what="the published event of our own PUT")
    await asyncio.sleep(0.3)  # anything the event would start would have started by now
    await dash.settle()
    assert sent == [f"PUT /codestream/api/sessions/{dash.session_code}/cells/{ids[1]}"]
    row = dash.row(ids[1])
    assert row.wanted and row.published and row.published_version == 1

    sent.clear()
    before = dash.last_event_id
    row.wanted = False
    await dash.settle()
    await until(lambda: dash.last_event_id != before, what="the unpublished event")
    await asyncio.sleep(0.3)
    await dash.settle()
    assert sent == [f"DELETE /codestream/api/sessions/{dash.session_code}/cells/{ids[1]}"]
    assert not row.published and not row.wanted

    # flipped on, off, on while the first PUT is in flight: the answers converge with few requests
    sent.clear()
    row.wanted = True
    row.wanted = False
    row.wanted = True
    await dash.settle()
    assert row.published and row.wanted and 1 <= len(sent) <= 3, sent
    assert ids[1] in published_cells(cs_teacher, dash.session_code)


async def test_switch_publishes_what_was_saved_when_the_teacher_comes_back(dashboard, cs_teacher):
    """Saving an unpublished cell sends no event: the dashboard re-reads the notebook when its
    window gets focus (the teacher comes back from the notebook), and a flip waits for that read."""
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    root = pn.panel(dash).get_root()
    try:
        save_through_contents_api(cs_teacher, LESSON, lambda cells: cells[2].update(source="x = 'saved later'"))
        (cell_list,) = dash._cell_lists
        cell_list.window_focus = 1  # what the browser sends on window focus
        dash.row(ids[2]).wanted = True  # the click that follows it
        await dash.settle()
        assert published_cells(cs_teacher, dash.session_code)[ids[2]]["source"] == "x = 'saved later'"
    finally:
        pn.panel(dash)._cleanup(root)


async def test_publish_on_save_reaches_the_dashboard_through_events(dashboard, cs_teacher):
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    code = dash.session_code
    await dash.set_published(ids[1], True)
    assert dash.row(ids[1]).published_version == 1

    # the teacher saves in JupyterLab: the server republishes; the dashboard hears of it by event
    save_through_contents_api(cs_teacher, LESSON,
                              lambda cells: cells[1].update(source="for i in range(10):\n    print(i)"))
    await until(lambda: dash.row(ids[1]).published_version == 2, what="v2 on the dashboard")
    assert dash.row(ids[1]).status == "published v2"
    assert "range" in dash.row(ids[1]).preview and "10" in dash.row(ids[1]).preview
    assert published_cells(cs_teacher, code)[ids[1]]["version"] == 2

    # a publish made elsewhere (another dashboard tab, a 1.x client) shows up the same way
    r = cs_teacher.client().put(f"codestream/api/sessions/{code}/cells/{ids[0]}",
                                json={"source": LESSON_CELLS[0][1], "cell_type": "markdown", "position": 0})
    assert r.status_code == 200
    await until(lambda: dash.row(ids[0]).published, what="cell published elsewhere")
    assert dash.row(ids[0]).status == "published v1"

    # a file changed behind Jupyter's back (no save event): the status says it differs
    nb = nbformat.read(str(cs_teacher.root_dir / LESSON), as_version=4)
    nb.cells[0].source = "# Loops, edited outside Jupyter"
    nbformat.write(nb, str(cs_teacher.root_dir / LESSON))
    await dash.refresh_cells()
    assert dash.row(ids[0]).status == "changed since published (v1)"

    # the session ended elsewhere: the dashboard hears it and forgets the session
    assert cs_teacher.client().delete(f"codestream/api/sessions/{code}").status_code == 204
    await until(lambda: dash.session_code == "", what="session_ended")
    assert all(not row.published for row in dash.rows)


async def test_publish_all_and_unpublish_all_with_progress(cs_teacher):
    path = "big.ipynb"
    write_notebook(cs_teacher.root_dir, path, [("code", f"value_{i} = {i}") for i in range(30)])
    dash = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await open_lesson(dash, path)
        await dash.start_session()
        seen = []
        dash.param.watch(lambda event: seen.append(event.new), "progress")
        dash.publish_all_cells = True  # the button
        await dash.settle()
        cells = published_cells(cs_teacher, dash.session_code)
        assert len(cells) == 30 and {c["version"] for c in cells.values()} == {1}
        assert [c["position"] for c in sorted(cells.values(), key=lambda c: c["position"])] == list(range(30))
        assert dash.progress == dash.progress_total == 30 and seen[-1] == 30 and len(seen) >= 30
        assert all(row.status == "published v1" for row in dash.rows) and not dash.busy

        await dash.unpublish_all()
        assert published_cells(cs_teacher, dash.session_code) == {}
        assert all(row.status == "not published" for row in dash.rows)
    finally:
        await dash.close()


async def test_resumed_dashboard_finds_the_live_session(dashboard, cs_teacher):
    await open_lesson(dashboard)
    await dashboard.start_session()
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await dashboard.set_published(ids[0], True)

    again = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        # "Start session" is not offered while the live session may still be loading, nor after it is
        assert not again._offers_start(again.loaded, again.session_code)
        await again.load()
        await again.settle()
        assert again.loaded and not again._offers_start(again.loaded, again.session_code)
        # the teacher's server kept the key: the same key and join link, nothing to rotate
        assert again.session_code == dashboard.session_code and again.student_key == dashboard.student_key
        assert again.join_link == dashboard.join_link and again.join_link.endswith("#" + dashboard.student_key)
        assert again.notebook_path == LESSON and again.row(ids[0]).status == "published v1"
        again.rotate = True  # rotating asks first
        assert again.confirming == "rotate" and again.student_key == dashboard.student_key
        again.confirm = True
        await again.settle()
        assert again.student_key and again.student_key != dashboard.student_key
    finally:
        await again.close()


async def test_start_is_offered_once_loaded_without_a_live_session(dashboard):
    assert not dashboard._offers_start(dashboard.loaded, dashboard.session_code)
    await dashboard.load()
    assert dashboard.loaded and dashboard._offers_start(dashboard.loaded, dashboard.session_code)
    await dashboard.start_session()
    assert not dashboard._offers_start(dashboard.loaded, dashboard.session_code)


async def test_student_count(dashboard, cs_teacher):
    await open_lesson(dashboard)
    await dashboard.start_session()
    await dashboard.refresh_students()
    assert dashboard.students == 0
    reader = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{dashboard.session_code}/events",
                       {"Authorization": f"Bearer {dashboard.student_key}", "X-CodeStream-Client": "student-1"})
    try:
        await until(lambda: reader.status == 200)
        await dashboard.refresh_students()
        assert dashboard.students == 1
    finally:
        reader.close()


async def test_deleted_notebook_is_a_toast_and_the_dashboard_recovers(dashboard, cs_teacher):
    dash = dashboard
    await open_lesson(dash)
    await dash.start_session()
    (cs_teacher.root_dir / LESSON).unlink()
    await dash.refresh_cells()
    assert "gone" in dash.last_error and LESSON in dash.last_error
    assert dash.rows == [] and dash.notebook_path is None
    assert LESSON not in dash.param.notebook_path.objects

    write_notebook(cs_teacher.root_dir, LESSON, LESSON_CELLS)
    await dash.refresh_notebooks()
    dash.notebook_path = LESSON
    await dash.settle()
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await dash.set_published(ids[1], True)
    assert published_cells(cs_teacher, dash.session_code)[ids[1]]["version"] == 1


async def test_redis_down_is_a_toast_and_the_dashboard_recovers(dashboard, cs_teacher, cs_module_redis,
                                                               monkeypatch):
    import codestream_dash.teacher_base as teacher_state

    toasts = []
    monkeypatch.setattr(teacher_state, "notify", lambda kind, message, duration=0: toasts.append((kind, message)))
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    code = dash.session_code
    cs_module_redis.stop()
    try:
        dash.row(ids[1]).wanted = True
        await dash.settle()
        errors = [message for kind, message in toasts if kind == "error"]
        assert any("Redis" in m and "publish" in m for m in errors), errors
        assert dash.row(ids[1]).wanted is False  # the switch went back
    finally:
        cs_module_redis.start()
    toasts.clear()
    await dash.set_published(ids[1], True)
    assert not [m for kind, m in toasts if kind == "error" and "publish" in m], toasts
    assert published_cells(cs_teacher, code)[ids[1]]["version"] == 1
    assert dash.row(ids[1]).status == "published v1"
    # and the event stream follows again: a save republishes and the dashboard hears of it
    save_through_contents_api(cs_teacher, LESSON, lambda cells: cells[1].update(source="print('back')"))
    await until(lambda: dash.row(ids[1]).published_version == 2, timeout=30, what="events after Redis came back")


async def test_rejected_token_says_what_to_do(cs_teacher):
    dash = TeacherDashboard(ServerClient(cs_teacher.url, "not-the-token"), server_url=cs_teacher.url)
    try:
        await dash.load()
        assert "token" in dash.last_error and "launcher" in dash.last_error
        await dash.start_session()
        assert dash.session_code == ""
    finally:
        await dash.close()


async def test_view_renders_escaped_cells_and_the_session_bar(dashboard, cs_teacher):
    dash = dashboard
    await open_lesson(dash)
    await dash.start_session()
    root = pn.panel(dash).get_root()
    try:
        # what the browser renders: each HTML model's text (unescaped once), and the rows' HTML
        rendered = "\n".join(html.unescape(model.text) for model in root.references()
                              if isinstance(getattr(model, "text", None), str))
        assert f"<div class='cs-session-code'>{dash.session_code}</div>" in rendered
        # the session bar is slim (the projector view has the big code), from the panes' stylesheet
        sheets = "\n".join(str(sheet) for model in root.references()
                            for sheet in (getattr(model, "stylesheets", None) or []))
        assert ".cs-session-code" in sheets and "font-size: 44px" in sheets and "monospace" in sheets
        assert "href='?view=projector'" in rendered and "target='_blank'" in rendered
        assert dash.student_url in rendered and dash.student_key in rendered
        assert "--ip" in rendered  # the loopback warning
        (cell_list,) = dash._cell_lists
        assert [r["cell_id"] for r in cell_list.rows] == [row.cell_id for row in dash.rows]
        rows_html = "\n".join(r["html"] for r in cell_list.rows)
        assert "&lt;/" in rows_html and "<script" not in rows_html.lower() and "<img" not in rows_html.lower()
        assert rows_html.count("not published") == 3
        assert all(not r["published"] and not r["disabled"] for r in cell_list.rows)

        # a switch flipped in the browser arrives as ``toggle`` and publishes
        cell_list.toggle = {"cell_id": dash.rows[1].cell_id, "published": True, "n": 1}
        await dash.settle()
        assert dash.rows[1].status == "published v1"
        await until(lambda: cell_list.rows[1]["published"] and "published v1" in cell_list.rows[1]["html"])
        assert published_cells(cs_teacher, dash.session_code)[dash.rows[1].cell_id]["version"] == 1
    finally:
        pn.panel(dash)._cleanup(root)


async def test_toasts_are_plain_text(cs_teacher, monkeypatch):
    """Toast messages are HTML in the page; a file name must not become markup."""
    import codestream_dash.teacher_base as teacher_state

    shown = []
    monkeypatch.setattr(teacher_state, "notify", lambda kind, message, duration=0: shown.append(message))
    path = "<img src=x onerror=alert(1)>.ipynb"
    write_notebook(cs_teacher.root_dir, path, [("code", "1")])
    dash = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await open_lesson(dash, path)
        assert len(dash.rows) == 1
        (cs_teacher.root_dir / path).unlink()
        await dash.refresh_cells()
        assert path in dash.last_error
        assert shown and "&lt;img src=x onerror=alert(1)&gt;.ipynb" in shown[-1] and "<img" not in shown[-1]
    finally:
        await dash.close()


async def test_code_or_code_and_output_per_cell_and_the_number(dashboard, cs_teacher):
    nb = nbformat.read(str(cs_teacher.root_dir / LESSON), as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="0\n1\n2\n")]
    nbformat.write(nb, str(cs_teacher.root_dir / LESSON))
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    row = dash.row(ids[1])
    assert row.outputs and not row.with_outputs
    row.wanted = True
    await dash.settle()
    cell = published_cells(cs_teacher, dash.session_code)[ids[1]]
    assert cell["number"] == 2 and "outputs" not in cell  # "code": the output stays home

    row.with_outputs = True  # "code + output": republished at once, same version
    await dash.settle()
    cell = published_cells(cs_teacher, dash.session_code)[ids[1]]
    assert cell["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "0\n1\n2\n"}]
    assert cell["version"] == 1 and row.status == "published v1 with output"

    # a reload of the dashboard shows the choice the server holds
    again = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await again.load()
        await again.settle()
        assert again.row(ids[1]).with_outputs and again.row(ids[1]).status == "published v1 with output"
    finally:
        await again.close()
    row.with_outputs = False
    await dash.settle()
    assert "outputs" not in published_cells(cs_teacher, dash.session_code)[ids[1]]
    # a markdown cell has no output choice
    states = {s["cell_id"]: s for s in (row_view_state(r, True) for r in dash.rows)}
    assert states[ids[0]]["can_output"] is False and states[ids[1]]["can_output"] is True
    assert states[ids[1]]["label"] == "Publish cell 2"


async def test_rows_show_who_has_the_cell_live(dashboard, cs_teacher):
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    await dash.set_published(ids[1], True)
    row = dash.row(ids[1])
    assert row.pulls == {} and "0 students have v1" in row.html
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {dash.student_key}"})
    report = f"codestream/api/sessions/{dash.session_code}/cells/{ids[1]}/pulled"
    # counted: students holding an event stream of the session (contract v3, honest counts)
    events = f"{cs_teacher.url}codestream/api/sessions/{dash.session_code}/events"
    streams = [await asyncio.to_thread(SSEReader, events, {"Authorization": f"Bearer {dash.student_key}",
                                                           "X-CodeStream-Client": client})
               for client in ("laptop-1", "laptop-2")]
    try:
        for client in ("laptop-1", "laptop-2"):
            assert student.post(report, json={"version": 1, "client": client}).status_code == 204
        # no polling: the "pulled" events make the dashboard re-read the counts
        await until(lambda: row.pulls == {"1": 2}, what="the counts from the pulled events")
        assert "2 students have v1" in row.html

        save_through_contents_api(cs_teacher, LESSON, lambda cells: cells[1].update(source="print('v2')"))
        await until(lambda: row.published_version == 2, what="v2")
        assert student.post(report, json={"version": 2, "client": "laptop-1"}).status_code == 204
        # each student once, at their newest version: laptop-1 moved from v1 to v2
        await until(lambda: row.pulls == {"1": 1, "2": 1}, what="a pull of v2")
        assert "1 student has v2 · v1: 1" in row.html
        # pulling the old version again (a second notebook) moves nobody back
        assert student.post(report, json={"version": 1, "client": "laptop-1"}).status_code == 204
        assert published_cells(cs_teacher, dash.session_code)[ids[1]]["pulls"] == {"1": 1, "2": 1}
    finally:
        for stream in streams:
            stream.close()


async def test_join_link_and_qr_code(dashboard, cs_teacher):
    from codestream_dash.join import JoinPanel, join_html

    dash = dashboard
    await open_lesson(dash)
    await dash.start_session()
    assert dash.join_link == f"{cs_teacher.url}codestream/join/{dash.session_code}#{dash.student_key}"
    shown = join_html(dash.join_link)
    assert "<svg" in shown and 'aria-label="QR code of the join link"' in shown
    # drawn at projector size, with a viewBox of the code's own size and no scaling transform:
    # all of the code shows, whatever width CSS gives it
    assert int(re.search(r'<svg [^>]*width="(\d+)"', shown).group(1)) >= 400
    assert re.search(r'viewBox="0 0 (\d+) \1"', shown) and "transform" not in shown
    assert html.escape(dash.join_link) in shown
    old = dash.join_link
    await dash.rotate_key()
    assert dash.join_link != old and dash.join_link.endswith(dash.student_key)
    # a resumed dashboard (a reload, a restart) shows the same link: the teacher's server kept the key
    again = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await again.load()
        assert again.join_link == dash.join_link and "<svg" in join_html(again.join_link)
    finally:
        await again.close()
    # kept in a private file of the teacher's server, never in Redis, never for a student
    kept = cs_teacher.data_dir / "codestream" / "session-keys.json"
    assert (kept.stat().st_mode & 0o777) == 0o600
    assert dash.student_key in kept.read_text()
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {dash.student_key}"})
    assert student.get("codestream/api/sessions").status_code in (401, 403)
    # the hub helper's links are shown as given
    hub = "https://hub.example/hub/user-redirect/codestream-student/?session=ABC234"
    assert "<svg" in join_html(hub) and JoinPanel(join_link=hub).join_link == hub
    assert "pick session ABC234" in join_html(hub, "ABC234") and "paste it" not in join_html(hub, "ABC234")
    key = dash.student_key
    assert any("New student key" in text for _kind, text in dash.notices)
    await dash.end_session()
    assert dash.join_link == "" and key not in kept.read_text()
    # a stale "New student key" notice does not outlive the session
    assert not any("New student key" in text for _kind, text in dash.notices)


async def test_end_session_and_unpublish_all_ask_first(dashboard, cs_teacher):
    dash = dashboard
    ids = cell_ids(cs_teacher.root_dir, LESSON)
    await open_lesson(dash)
    await dash.start_session()
    await dash.set_published(ids[1], True)
    dash.unpublish_all_cells = True  # the button only asks
    await dash.settle()
    assert dash.confirming == "unpublish_all" and ids[1] in published_cells(cs_teacher, dash.session_code)
    dash.cancel = True
    assert dash.confirming == ""
    dash.unpublish_all_cells = True
    dash.confirm = True
    await dash.settle()
    assert published_cells(cs_teacher, dash.session_code) == {} and dash.confirming == ""
    code = dash.session_code
    dash.end = True
    await dash.settle()
    assert dash.confirming == "end" and dash.session_code == code
    dash.confirm = True
    await dash.settle()
    assert dash.session_code == "" and cs_teacher.client().get("codestream/api/sessions").json()["sessions"] == []
    assert ("info", f"Session {code} ended.") in dash.notices


def test_the_demos_students_on_this_machine_get_a_note_not_a_warning(cs_teacher):
    env = {"CODESTREAM_SERVER_URL": "http://127.0.0.1:8888/", "CODESTREAM_TOKEN": "t",
           "CODESTREAM_STUDENTS_ON_THIS_MACHINE": "1"}
    dash = TeacherDashboard.from_environment(env)
    assert dash.reachability_warning == ""
    assert "Students on this computer reach http://127.0.0.1:8888/" in dash.reachability_note
    assert "--ip=0.0.0.0" in dash.reachability_note  # and what students elsewhere would need
    env.pop("CODESTREAM_STUDENTS_ON_THIS_MACHINE")
    assert "--ip" in TeacherDashboard.from_environment(env).reachability_warning


async def test_a_publish_refused_while_redis_fails_over_is_sent_again(monkeypatch):
    """A ``503 store_unavailable`` (a Redis restart or Cluster failover) is sent again by itself
    (issue 24): the teacher sees the cell published, not an error."""
    from codestream_dash import teacher_publish
    from codestream_dash.teacher_rows import CellRow
    from jupyter_ext.domain import StoreUnavailable

    class FailingOverServer:
        calls = 0

        async def publish_cell(self, code, cell_id, source, cell_type, position, notebook_path=None, **_):
            self.calls += 1
            if self.calls < 3:
                raise StoreUnavailable("Redis is not reachable.")
            return {"cell_id": cell_id, "version": 4}

        async def aclose(self):
            pass

    monkeypatch.setattr(teacher_publish, "STORE_RETRY_DELAYS", (0.0, 0.0, 0.0))
    server = FailingOverServer()
    dash = TeacherDashboard(server, server_url="http://127.0.0.1:1/")
    dash.session_code = "ABCDEF"
    row = CellRow(cell_id="c1", index=1, source="x = 1")
    await dash._publish_one(row, True)
    assert server.calls == 3 and row.published_version == 4
    server.calls = -10  # more refusals than retries: the error reaches the teacher
    with pytest.raises(StoreUnavailable):
        await dash._publish_one(row, True)
    await dash.close()
