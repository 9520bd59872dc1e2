"""Real single-user servers under the real hub: teacher routes forwarded to the codestream
service as the server's hub user, students joining by hub identity, publish on save acting on
one's own sessions only, and no Redis credential anywhere near a server where students run code.
"""

import json
from pathlib import Path

import pytest

from jupyter_ext.pytest_plugin import SSEReader, wait_until
from jupyter_ext.testing import save_like_jupyterlab


def error_code(response):
    return response.json()["error"]["code"]


def notebook(cells):
    return {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": cell_id, "cell_type": "code", "source": source, "metadata": {},
                   "outputs": [], "execution_count": None} for cell_id, source in cells]}}


@pytest.fixture(scope="module")
def servers(cs_hub):
    cs_hub.start_servers("teacher1", "teacher2", "student1", "outsider")
    return cs_hub


@pytest.fixture(scope="module")
def lesson(servers):
    """teacher1's session for the algebra group, with cell c1 from lesson.ipynb."""
    teacher = servers.server("teacher1")
    assert teacher.put("api/contents/lesson.ipynb", json=notebook([("c1", "a = 1"), ("c2", "b = 2")])).status_code in (200, 201)
    response = teacher.post("codestream/api/sessions", json={"title": "Lesson", "group": "algebra",
                                                             "notebook_path": "lesson.ipynb"})
    assert response.status_code == 201, response.text
    session = response.json()
    publish = teacher.put(f"codestream/api/sessions/{session['code']}/cells/c1",
                          json={"source": "a = 1", "cell_type": "code", "position": 1,
                                "notebook_path": "lesson.ipynb"})
    assert publish.status_code == 200, publish.text
    return session


def test_the_teacher_works_through_their_own_server(servers, lesson):
    teacher = servers.server("teacher1")
    code = lesson["code"]
    assert lesson["join_link"].endswith(f"/hub/user-redirect/codestream-student/?session={code}")
    listed = teacher.get("codestream/api/sessions").json()["sessions"]
    assert code in {s["code"] for s in listed}
    cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"]) for c in cells] == [("c1", "a = 1")]
    me = teacher.get("codestream/api/hub/me").json()
    assert me == {"name": "teacher1", "groups": ["algebra", "teachers"], "teacher": True}


def test_no_other_server_touches_the_session(servers, lesson):
    code = lesson["code"]
    for user in ("teacher2", "student1", "outsider"):
        other = servers.server(user)
        assert code not in {s["code"] for s in other.get("codestream/api/sessions").json()["sessions"]}
        for method, path, body in [
            ("DELETE", f"codestream/api/sessions/{code}", None),
            ("POST", f"codestream/api/sessions/{code}/key", None),
            ("PUT", f"codestream/api/sessions/{code}/cells/c1",
             {"source": "import os; os.system('id')", "cell_type": "code", "position": 1}),
            ("DELETE", f"codestream/api/sessions/{code}/cells/c1", None),
        ]:
            response = other.request(method, path, json=body)
            # "not yours" is answered like "no such session" (tests/test_hub_hardening.py)
            assert response.status_code == 404 and error_code(response) == "session_not_found", (user, method, path)
    assert servers.server("student1").post("codestream/api/sessions", json={}).status_code == 403
    teacher = servers.server("teacher1")
    unknown = teacher.post("codestream/api/sessions", json={"group": "no-such-course"})
    assert unknown.status_code == 400 and error_code(unknown) == "unknown_group"
    not_mine = teacher.post("codestream/api/sessions", json={"group": "geometry"})
    assert not_mine.status_code == 403 and error_code(not_mine) == "forbidden"
    cells = servers.server("teacher1").get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"], c["version"]) for c in cells] == [("c1", "a = 1", 1)]


def test_another_users_server_is_closed_to_ones_token(servers):
    """The hub itself keeps servers apart: student1's token does not open teacher1's server."""
    response = servers.server("teacher1", as_user="student1").get("codestream/api/sessions")
    assert response.status_code in (403, 302)


def test_a_student_joins_by_hub_identity_reads_and_pulls(servers, lesson):
    code = lesson["code"]
    student = servers.server("student1")
    joinable = student.get("codestream/api/student/sessions").json()["sessions"]
    assert {"code": code, "title": "Lesson", "teacher": "teacher1", "created": lesson["created"],
            "group": "algebra"} in joinable
    joined = student.put("codestream/api/student/config", json={"session_code": code.lower()})
    assert joined.status_code == 200, joined.text
    assert joined.json()["session_code"] == code and joined.json()["has_key"] is False
    cells = student.get("codestream/api/student/cells")
    assert cells.status_code == 200, cells.text
    assert [c["source"] for c in cells.json()["cells"]] == ["a = 1"]
    reader = SSEReader(f"{student.base_url}codestream/api/student/events", dict(student.headers))
    try:
        servers.server("teacher1").put(f"codestream/api/sessions/{code}/cells/c2",
                                       json={"source": "b = 2", "cell_type": "code", "position": 2})
        wait_until(lambda: ("published", "c2") in reader.cell_ids(), 20, what="the published event")
    finally:
        reader.close()
    student.put("api/contents/mine.ipynb", json=notebook([]))
    pulled = student.post("codestream/api/student/pull", json={"cell_id": "c2", "notebook_path": "mine.ipynb"})
    assert pulled.status_code == 200, pulled.text
    content = student.get("api/contents/mine.ipynb").json()["content"]
    assert [c["source"] for c in content["cells"]] == ["b = 2"]
    assert content["cells"][0]["metadata"]["codestream"]["session"] == code
    # the student's server reported the pull to the service by its hub identity: the teacher's
    # own server (forwarding to the service as the owner) shows the count, the student's does not
    teacher = servers.server("teacher1")

    def teacher_pulls():
        cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
        return {c["cell_id"]: c.get("pulls") for c in cells}

    wait_until(lambda: teacher_pulls().get("c2") == {"1": 1}, 20, what="the pull report")
    assert all("pulls" not in c for c in student.get(f"codestream/api/sessions/{code}/cells").json()["cells"])
    # a pull report sent to one's own server goes on to the service as this hub user
    forwarded = student.post(f"codestream/api/sessions/{code}/cells/c1/pulled",
                             json={"version": 1, "client": "another-server"})
    assert forwarded.status_code == 204, forwarded.text
    assert teacher_pulls()["c1"] == {"1": 1}
    refused = servers.server("outsider").post(f"codestream/api/sessions/{code}/cells/c1/pulled",
                                              json={"version": 1, "client": "nosy"})
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    assert teacher_pulls()["c1"] == {"1": 1}
    # the join link works in place of the code, too
    again = student.put("codestream/api/student/config", json={"join_link": lesson["join_link"]})
    assert again.status_code == 200 and again.json()["session_code"] == code
    # nothing of the hub token reached the student's config file
    config = json.loads((servers.workdir / "home" / "student1" / ".local" / "share" / "jupyter"
                         / "codestream" / "student.json").read_text())
    assert config["student_key"] is None


def test_outsiders_and_unknown_codes_cannot_join(servers, lesson):
    outsider = servers.server("outsider")
    response = outsider.put("codestream/api/student/config", json={"session_code": lesson["code"]})
    assert response.status_code == 403 and error_code(response) == "forbidden"
    assert outsider.get("codestream/api/student/config").status_code == 404  # nothing was saved
    assert lesson["code"] not in {s["code"] for s in outsider.get("codestream/api/student/sessions").json()["sessions"]}
    response = outsider.put("codestream/api/student/config", json={"session_code": "ZZZZZZ"})
    assert response.status_code == 404 and error_code(response) == "session_not_found"
    response = outsider.put("codestream/api/student/config", json={"session_code": "no!"})
    assert response.status_code == 400 and error_code(response) == "invalid_session_code"


def test_a_students_save_changes_nothing_of_the_teachers(servers, lesson):
    code = lesson["code"]
    student = servers.server("student1")
    saved = student.put("api/contents/lesson.ipynb", json=notebook([("c1", "import os; os.system('id')")]))
    assert saved.status_code in (200, 201)
    teacher = servers.server("teacher1")
    # the teacher's own save republishes (so the listener is live), the student's did nothing
    save_like_jupyterlab(teacher, "lesson.ipynb", notebook([("c1", "a = 10"), ("c2", "b = 2")])["content"])

    def teacher_cell():
        cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
        return {c["cell_id"]: c for c in cells}.get("c1")

    wait_until(lambda: teacher_cell()["source"] == "a = 10", 20, what="publish on the teacher's save")
    cell = teacher_cell()
    assert cell["version"] == 2  # one change: the teacher's; never the student's source
    assert "os.system" not in json.dumps(teacher.get(f"codestream/api/sessions/{code}/cells").json())


def test_no_redis_credential_reaches_a_single_user_server(servers, lesson):
    import psutil

    pids = servers.user_pids()
    assert set(pids) >= {"teacher1", "student1", "outsider"}
    for user, pid in pids.items():
        process = psutil.Process(pid)
        for proc in [process, *process.children(recursive=True)]:  # the server and its kernels, dashboards
            environ = Path(f"/proc/{proc.pid}/environ").read_bytes()
            assert servers.redis_password.encode() not in environ, (user, proc.cmdline())
            assert b"CODESTREAM_REDIS_URL" not in environ and b"REDIS_URL" not in environ
            assert b"CODESTREAM_HUB_SERVICE_URL" in environ or proc.pid != pid
    # the check looks at the right thing: the service itself has the URL with the password
    service = next(child for child in psutil.Process(servers.process.pid).children(recursive=True)
                   if "hub-service" in child.cmdline())
    assert servers.redis_password.encode() in Path(f"/proc/{service.pid}/environ").read_bytes()
    for path in (servers.workdir / "home").rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert servers.redis_password.encode() not in path.read_bytes(), path


def test_no_credential_in_the_logs_so_far(servers, lesson):
    """The hub's log holds the hub's, the proxy's, the service's and every single-user server's
    output: no hub token, student key, password or Redis password in any of it."""
    servers.scanner.check_text("hub log", servers.log_text())  # the autouse check fails on a finding
    assert servers.redis_password not in servers.log_text()
    assert lesson["student_key"] not in servers.log_text()


async def test_the_hub_teacher_dashboard_shows_code_join_link_and_qr_not_url_or_key(servers):
    """The Viewer (no browser) on teacher2's real server through the hub's proxy: the session
    card has the code and the join panel: the join link and a QR code of exactly that link; no
    student URL, no student key, no reachability advice. A reloaded dashboard shows it again."""
    import html

    import panel as pn

    import re

    from codestream_dash.hub import GroupedServerClient, HubTeacherDashboard
    from codestream_dash.join import qr_svg

    base = f"{servers.url}user/teacher2/"

    def dashboard():
        return HubTeacherDashboard(GroupedServerClient(base, servers.token_for("teacher2")), server_url=base)

    def rendered(dash):
        root = pn.panel(dash).get_root()
        try:
            return "\n".join(html.unescape(model.text) for model in root.references()
                             if isinstance(getattr(model, "text", None), str))
        finally:
            pn.panel(dash)._cleanup(root)

    dash = dashboard()
    try:
        await dash.load()
        assert dash.hub_user == "teacher2" and "geometry" in dash.param.group.objects.values()
        if dash.session_code:  # a session left from an earlier test: end it first
            await dash.end_session()
        dash.group = "geometry"
        await dash.start_session()
        code = dash.session_code
        assert code and dash.student_key  # the service made a key (for guests); it is not shown
        servers.scanner.add(dash.student_key)
        assert dash.join_link == f"{servers.url}hub/user-redirect/codestream-student/?session={code}"
        text = rendered(dash)
        assert f"<div class='cs-session-code'>{code}</div>" in text
        assert html.escape(dash.join_link) in text or dash.join_link in text
        qr = qr_svg(dash.join_link)
        assert qr and qr in text  # the QR code of the join link itself
        width = int(re.search(r'<svg[^>]* width="(\d+)"', qr).group(1))
        assert width >= 400  # big enough for a projector
        # drawn whole: a viewBox of the code's own size and no scaling transform (which shows only a corner)
        assert re.search(r'viewBox="0 0 (\d+) \1"', qr) and "transform" not in qr
        assert dash.student_key not in text and "Student key" not in text
        assert base not in text and dash.student_url not in text and "--ip" not in text
        listed = {s["code"]: s for s in servers.server("teacher2").get("codestream/api/sessions").json()["sessions"]}
        assert listed[code]["group"] == "geometry"
        again = dashboard()  # a reload of the tab: the live session, its link and QR again
        try:
            await again.load()
            assert again.session_code == code and again.join_link == dash.join_link
            assert qr in rendered(again)
        finally:
            await again.close()
    finally:
        if dash.session_code:
            await dash.end_session()
        await dash.close()
