"""The teacher dashboard's side of students talking back, driven through its parameters: the
hands queue, the runs line, Show, the lesson download (hands and runs against a fake of the
contract's routes, Show against a real server)."""

from __future__ import annotations

import json

import httpx
import nbformat

from codestream_dash.teacher import TeacherDashboard
from codestream_dash.teacher_hands_view import hand_html
from codestream_dash.teacher_rows import CellRow, pulls_text, runs_text
from jupyter_ext.clients import ServerClient
from jupyter_ext.testing import write_notebook

CODE = "ABC234"


def hand(hand_id: str, raised: str, **fields) -> dict:
    return {"hand_id": hand_id, "name": fields.pop("name", "Ada"), "cell_id": "c1", "number": 2, "source": "x",
            "outputs": [], "note": "", "raised": raised, "state": "waiting", **fields}


class FakeTeacherServer:
    """The contract's hands and notebook routes, as the teacher's own server answers them."""

    def __init__(self):
        self.hands = [hand("h2", "2026-01-01T10:02:00Z", name="Grace"), hand("h1", "2026-01-01T10:01:00Z"),
                      hand("h0", "2026-01-01T10:00:00Z", state="done")]
        self.requests: list[tuple[str, str, dict | None]] = []
        self.hands_open = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path
        self.requests.append((request.method, path, body))
        base = f"/codestream/api/sessions/{CODE}"
        if request.method == "GET" and path == f"{base}/hands":
            return httpx.Response(200, json={"hands": self.hands, "hands_open": self.hands_open})
        if request.method == "PATCH" and path.startswith(f"{base}/hands/"):
            found = next((h for h in self.hands if h["hand_id"] == path.rsplit("/", 1)[1]), None)
            if found is None:
                return httpx.Response(404, json={"error": {"code": "hand_not_found", "message": "No such hand."}})
            found["state"] = body["state"]
            return httpx.Response(200, json=found)
        if request.method == "POST" and path.endswith("/spotlight"):
            return httpx.Response(200, json={"cell_id": "spot-1", "version": 1})
        if request.method == "PATCH" and path == base:
            self.hands_open = body["hands_open"]
            return httpx.Response(200, json={"hands_open": self.hands_open})
        if request.method == "GET" and path == f"{base}/notebook":
            return httpx.Response(200, content=b'{"nbformat": 4}', headers={
                "content-type": "application/x-ipynb+json",
                "content-disposition": 'attachment; filename="Week 3: loops/../x.ipynb"'})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": path}})


def fake_dashboard() -> tuple[TeacherDashboard, FakeTeacherServer]:
    server = FakeTeacherServer()
    client = ServerClient("http://teacher.invalid/", "t", transport=httpx.MockTransport(server))
    dash = TeacherDashboard(client, server_url="http://teacher.invalid/")
    dash.session_code = CODE
    return dash, server


async def test_hands_queue_oldest_first_actions_and_events():
    dash, server = fake_dashboard()
    try:
        await dash.refresh_hands()
        assert [h["hand_id"] for h in dash.hands] == ["h1", "h2"]  # open ones, oldest first
        await dash.set_hand("h1", "helping")
        assert server.requests[-1] == ("PATCH", f"/codestream/api/sessions/{CODE}/hands/h1", {"state": "helping"})
        assert dash.hands[0]["state"] == "helping"
        await dash.set_hand("h1", "done")
        assert [h["hand_id"] for h in dash.hands] == ["h2"]

        # a hand arrives by event: queued at its place, a quiet notice, no request
        sent = len(server.requests)
        dash.on_event("hand", hand("h3", "2026-01-01T10:03:00Z", name="<b>Linus</b>", number=4))
        assert [h["hand_id"] for h in dash.hands] == ["h2", "h3"] and len(server.requests) == sent
        assert dash.notices[-1] == ("info", "<b>Linus</b> raised a hand on Cell 4.")
        # the same student raises again: one hand per student (it replaces the old one)
        dash.on_event("hand", hand("h3", "2026-01-01T10:03:00Z", name="<b>Linus</b>", note="again"))
        assert [h["note"] for h in dash.hands if h["hand_id"] == "h3"] == ["again"]
        dash.on_event("hand_state", {"hand_id": "h2", "state": "done"})  # lowered or done elsewhere
        assert [h["hand_id"] for h in dash.hands] == ["h3"]

        await dash.spotlight("h3")
        assert server.requests[-1][1].endswith("/hands/h3/spotlight") and server.requests[-1][2] == {
            "with_outputs": False}
        dash.spotlight_outputs = True
        await dash.spotlight("h3")
        assert server.requests[-1][2] == {"with_outputs": True}

        dash.toggle_hands = True  # "Close hands"
        await dash.settle()
        assert server.hands_open is False and dash.hands_open is False
        assert dash.param.toggle_hands.label == "Open hands"
    finally:
        await dash.close()


async def test_download_the_lesson_gives_a_safe_file_name():
    dash, _server = fake_dashboard()
    try:
        content, name = await dash.download_lesson()
        assert content == b'{"nbformat": 4}' and name.endswith(".ipynb") and "/" not in name
    finally:
        await dash.close()


def test_hand_html_escapes_everything_a_student_wrote():
    shown = hand_html({"hand_id": "h", "name": "<img src=x onerror=alert(1)>", "number": 2, "state": "waiting",
                       "note": "<script>alert(2)</script>", "source": "<svg onload=alert(3)>",
                       "outputs": [{"output_type": "error", "ename": "E", "evalue": "",
                                    "traceback": ["<img src=x onerror=alert(4)>"]},
                                   {"output_type": "display_data", "data": {
                                       "text/html": "<img src='/api/x'><a href='/lab'>go</a><b>ok</b>",
                                       "text/markdown": "[x](javascript:alert(5))"}}]}, 1)
    assert "<img" not in shown.replace("&lt;img", "") and "<script" not in shown and "<svg" not in shown
    assert "<a " not in shown and "onerror=" not in shown.replace("onerror=alert(1)&gt;", "").replace(
        "onerror=alert(4)&gt;", "")
    assert "<b>ok</b>" in shown  # harmless HTML of an output stays HTML


def test_runs_and_pulls_lines():
    assert runs_text({}) == "" and runs_text({"ok": 0, "error": 0}) == ""
    assert runs_text({"ok": 14, "error": 4, "errors": {"TypeError": 1, "NameError": 3}}) == (
        "18 ran it · 4 errors (NameError 3, TypeError 1)")
    assert runs_text({"ok": 1, "error": 1, "errors": {"<b>E</b>": 1}}) == "2 ran it · 1 error (<b>E</b> 1)"
    assert pulls_text({"2": 5, "1": 3}, 2) == "5 students have v2 · v1: 3"
    assert pulls_text({"1": 1}, 1) == "1 student has v1"
    row = CellRow(cell_id="c", source="x")
    row.show_published({"version": 1, "source": "x", "cell_type": "code",
                        "runs": {"ok": 1, "error": 1, "errors": {"<img src=x>": 1}}})
    assert "2 ran it · 1 error (&lt;img src=x&gt; 1)" in row.html and "<img" not in row.html


async def test_runs_events_update_the_row_live(cs_teacher):
    path = write_notebook(cs_teacher.root_dir, "runs.ipynb", [("code", "print(x)")])
    cell_id = nbformat.read(str(path), as_version=4).cells[0].id
    dash = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await dash.load()
        dash.notebook_path = "runs.ipynb"
        await dash.settle()
        await dash.start_session()
        await dash.set_published(cell_id, True)
        row = dash.row(cell_id)
        # an event that carries the counts: shown with no request
        dash.on_event("runs", {"cell_id": cell_id, "runs": {"ok": 17, "error": 1, "errors": {"NameError": 1}}})
        assert "18 ran it · 1 error (NameError 1)" in row.html
        dash.on_event("pulled", {"cell_id": cell_id, "pulls": {"1": 3}})  # a student left: the new counts
        assert row.pulls == {"1": 3} and "3 students have v1" in row.html

        # Show: one PUT …/focus; the row is marked, and the focus event of another tab moves it
        await dash.show_to_class(cell_id)
        assert dash.focus == cell_id and row.focused
        listed = cs_teacher.client().get(f"codestream/api/sessions/{dash.session_code}/cells").json()
        assert listed["focus"] == cell_id
        dash.on_event("focus", {"cell_id": None, "number": None})
        assert dash.focus is None and not row.focused
    finally:
        await dash.close()


async def test_hands_end_to_end_on_a_real_server(cs_teacher):
    """A student raises a hand (student key): the queue gets it by event; Helping, Show to class
    and Close hands go to the real routes."""
    dash = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
    try:
        await dash.load()
        await dash.start_session()
        code = dash.session_code
        student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {dash.student_key}"})
        try:
            r = student.post(f"codestream/api/sessions/{code}/hands", json={
                "client": "laptop-7", "name": "<b>Ada</b>", "note": "stuck",
                "source": "print(x)", "outputs": [{"output_type": "error", "ename": "NameError",
                                                   "evalue": "x", "traceback": ["NameError: x"]}]})
            assert r.status_code == 201, r.text
            hand_id = r.json()["hand_id"]
            # read when the stream opened, or from the event if it was open already
            await until_true(lambda: [h["hand_id"] for h in dash.hands] == [hand_id], "the hand")
            assert dash.hands[0]["name"] == "<b>Ada</b>" and dash.hands[0]["source"] == "print(x)"
            # the stream is open now: the next hand comes by event, with a quiet notice
            r = student.post(f"codestream/api/sessions/{code}/hands", json={
                "client": "laptop-9", "name": "Grace", "source": "y = 1"})
            assert r.status_code == 201, r.text
            second = r.json()["hand_id"]
            await until_true(lambda: [h["hand_id"] for h in dash.hands] == [hand_id, second], "the hand event")
            assert ("info", "Grace raised a hand.") in dash.notices
            await dash.set_hand(second, "done")

            await dash.set_hand(hand_id, "helping")
            assert dash.hands[0]["state"] == "helping"
            listed = cs_teacher.client().get(f"codestream/api/sessions/{code}/hands").json()["hands"]
            assert listed[0]["state"] == "helping"

            await dash.spotlight(hand_id)
            cells = cs_teacher.client().get(f"codestream/api/sessions/{code}/cells").json()["cells"]
            assert [c["source"] for c in cells if c.get("origin") == "student"] == ["print(x)"]

            await dash.set_hands_open(False)
            again = TeacherDashboard(ServerClient(cs_teacher.url, cs_teacher.token), server_url=cs_teacher.url)
            try:  # a reload shows the switch as it is
                await again.load()
                assert again.hands_open is False and again.param.toggle_hands.label == "Open hands"
            finally:
                await again.close()
            r = student.post(f"codestream/api/sessions/{code}/hands", json={"client": "laptop-8", "source": "1"})
            assert r.status_code == 409 and r.json()["error"]["code"] == "hands_closed"

            await dash.set_hand(hand_id, "done")
            assert dash.hands == []
        finally:
            student.close()
    finally:
        await dash.close()


async def until_true(predicate, what: str, timeout: float = 15.0):
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
