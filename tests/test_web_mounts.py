"""The web API's route table (``jupyter_ext.web``) under every program that mounts it: the
teacher's Jupyter server (laptop), ``codestream relay``, and the hub service (through a hub
user's own server, which forwards the table's paths). Each route of the table gets its rows
here, so a route is written once and checked under all three mounts."""

import json

import nbformat
import pytest

from jupyter_ext.pytest_plugin import SSEReader
from jupyter_ext.testing.rest import create_session, publish
from jupyter_ext.web import forwarded_routes, route_table


def error_code(response):
    return response.json()["error"]["code"]


def test_every_route_of_the_table_is_forwarded_under_the_hub():
    table = {route.pattern for route in route_table() if route.forwarded}
    assert table and table == {route.pattern for route in forwarded_routes()}
    assert all(route.methods for route in route_table())


def test_every_program_mounts_the_table_and_no_route_of_its_own():
    """The Jupyter mount has every route but the hub's own; the relay only its reads; a hub
    user's server forwards every one; no other handler answers a table path anywhere."""
    from jupyter_ext.app import CodeStreamApp
    from jupyter_ext.handlers.web_mount import web_handlers
    from jupyter_ext.hub.singleuser import hub_handlers
    from jupyter_ext.web import mount

    patterns = [route.pattern for route in route_table()]
    laptop = CodeStreamApp()
    laptop.session_service = object()
    laptop.initialize_handlers()
    table_laptop = [spec[0] for spec in web_handlers(service=object())]
    assert table_laptop == [r.pattern for r in route_table() if not r.hub_only]
    outside = [spec[0] for spec in laptop.handlers if spec[0] not in table_laptop]
    assert not [p for p in outside if p.startswith(("codestream/api/sessions", "code_stream/"))
                and p not in ("code_stream/config/?", "code_stream/test/?")], outside
    relay = [spec[0] for spec in mount(object, relay_only=True)]
    assert relay == [r.pattern for r in route_table() if r.on_relay]
    forwarded = [spec[0] for spec in hub_handlers()]
    assert set(patterns) <= set(forwarded)


# -- the teacher's Jupyter server (laptop mode) ---------------------------------------------
@pytest.fixture
def laptop_session(cs_teacher):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Mounts")
    publish(teacher, session["code"], "c1", "a = 1", 1.0)
    publish(teacher, session["code"], "c2", "b = 2", 2.0)
    return cs_teacher, teacher, session


def test_focus_on_the_teachers_server(laptop_session):
    server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    reader = SSEReader(f"{server.url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"Bearer {key}", "Last-Event-ID": "0-0"})
    try:
        shown = teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c2"})
        assert shown.status_code == 200, shown.text
        assert shown.json() == {"cell_id": "c2", "number": 2}
        assert student.get(f"codestream/api/sessions/{code}/cells").json()["focus"] == "c2"
        events = reader.wait_for(3)
        assert events[-1]["event"] == "focus" and json.loads(events[-1]["data"])["cell_id"] == "c2"
        # the student key reads the focus but never sets it
        refused = student.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c1"})
        assert refused.status_code == 403
        assert teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": None}).json() == \
            {"cell_id": None, "number": None}
        assert student.get(f"codestream/api/sessions/{code}/cells").json()["focus"] is None
    finally:
        reader.close()


@pytest.mark.parametrize("body, status, code", [
    ({"cell_id": "nope"}, 404, "cell_not_found"),
    ({}, 400, "invalid_input"),
    ({"cell_id": "../x"}, 400, None),
    ({"cell_id": 3}, 400, None),
])
def test_focus_refuses_bad_input_and_changes_nothing(laptop_session, body, status, code):
    server, teacher, session = laptop_session
    path = f"codestream/api/sessions/{session['code']}/focus"
    assert teacher.put(path, json={"cell_id": "c1"}).status_code == 200
    answer = teacher.put(path, json=body)
    assert answer.status_code == status, answer.text
    if code:
        assert error_code(answer) == code
    assert teacher.get(f"codestream/api/sessions/{session['code']}/cells").json()["focus"] == "c1"
    assert teacher.put("codestream/api/sessions/ZZZZZZ/focus", json={"cell_id": "c1"}).status_code == 404


def lesson_of(answer, code):
    """The downloaded lesson: a valid nbformat 4 notebook of the session's cells, as an attachment."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/x-ipynb+json")
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="')
    nb = nbformat.reads(answer.text, as_version=4)
    nbformat.validate(nb)
    assert all(cell.metadata["codestream"]["session"] == code for cell in nb.cells)
    return nb


def test_lesson_notebook_and_past_versions_on_the_teachers_server(laptop_session):
    server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "a = 10", 1.0)
    student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    for client in (teacher, student):
        nb = lesson_of(client.get(f"codestream/api/sessions/{code}/notebook"), code)
        assert [c.source for c in nb.cells] == ["a = 10", "b = 2"]
        assert nb.cells[0].metadata["codestream"]["version"] == 2
        assert client.get(f"codestream/api/sessions/{code}/cells/c1?version=1").json()["source"] == "a = 1"
    assert lesson_of(teacher.get(f"codestream/api/sessions/{code}/notebook"), code)  # the file name:
    assert 'filename="Mounts.ipynb"' in teacher.get(f"codestream/api/sessions/{code}/notebook").headers[
        "Content-Disposition"]
    stranger = server.client(auth=False, headers={"Authorization": "Bearer not-the-key"})
    assert stranger.get(f"codestream/api/sessions/{code}/notebook").status_code == 401
    assert teacher.get("codestream/api/sessions/ZZZZZZ/notebook").status_code == 404
    assert teacher.post(f"codestream/api/sessions/{code}/notebook").status_code == 405


def test_session_routes_on_the_teachers_server(cs_teacher):
    """Start, list, new key, hands switch and end: the teacher by Jupyter auth, the join link
    carrying the kept key; a student key opens none of them."""
    teacher = cs_teacher.client()
    created = teacher.post("codestream/api/sessions", json={"title": "Sessions route"})
    assert created.status_code == 201, created.text
    session = created.json()
    code, key = session["code"], session["student_key"]
    assert {"code", "student_key", "title", "created", "join_link"} <= set(session)
    assert session["join_link"].endswith(f"codestream/join/{code}#{key}")
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert listed[code]["join_link"] == session["join_link"]  # the kept key, for the session's life
    assert {"code", "title", "created", "cells", "students"} <= set(listed[code])

    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    for method, path in [("GET", "codestream/api/sessions"), ("POST", "codestream/api/sessions"),
                         ("DELETE", f"codestream/api/sessions/{code}"), ("PATCH", f"codestream/api/sessions/{code}"),
                         ("POST", f"codestream/api/sessions/{code}/key")]:
        refused = student.request(method, path, json={"hands_open": False} if method == "PATCH" else None)
        assert refused.status_code == 403 and error_code(refused) == "forbidden", (method, path, refused.text)

    rotated = teacher.post(f"codestream/api/sessions/{code}/key")
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["student_key"]
    assert new_key != key and rotated.json()["join_link"].endswith(f"#{new_key}")
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 401  # the old key, at once
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert listed[code]["join_link"].endswith(f"#{new_key}")

    switched = teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": False})
    assert switched.status_code == 200 and switched.json() == {"session": code, "hands_open": False}
    bad = teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": "no"})
    assert bad.status_code == 400 and error_code(bad) == "invalid_input"

    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    assert code not in {s["code"] for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    for method, path in [("DELETE", f"codestream/api/sessions/{code}"), ("POST", f"codestream/api/sessions/{code}/key"),
                         ("PATCH", f"codestream/api/sessions/{code}")]:
        gone = teacher.request(method, path, json={"hands_open": True} if method == "PATCH" else None)
        assert gone.status_code == 404 and error_code(gone) == "session_not_found", (method, path)
    assert teacher.delete("codestream/api/sessions/not-a-code").status_code == 400


def test_pull_reports_on_the_teachers_server(laptop_session):
    server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    path = f"codestream/api/sessions/{code}/cells/c1/pulled"
    assert student.post(path, json={"version": 1, "client": "laptop-9"}).status_code == 204
    ahead = student.post(path, json={"version": 2, "client": "laptop-9"})
    assert ahead.status_code == 400 and error_code(ahead) == "invalid_input"
    assert server.client(auth=False, headers={"Authorization": "Bearer wrong"}).post(
        path, json={"version": 1, "client": "x"}).status_code == 401
    missing = student.post(f"codestream/api/sessions/{code}/cells/nope/pulled", json={"version": 1, "client": "x"})
    assert missing.status_code == 404 and error_code(missing) == "cell_not_found"
    assert "pulls" in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"][0]
    assert "pulls" not in student.get(f"codestream/api/sessions/{code}/cells").json()["cells"][0]


def test_cell_routes_on_the_teachers_server(laptop_session):
    """Publish, read (teacher and key), stream, unpublish: the teacher by Jupyter auth writes,
    the key only reads, and sees no ``pulls``."""
    server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    reader = SSEReader(f"{server.url}codestream/api/sessions/{code}/events", {"Authorization": f"Bearer {key}"})
    try:
        put = teacher.put(f"codestream/api/sessions/{code}/cells/c3",
                          json={"source": "c = 3", "cell_type": "code", "position": 3.0})
        assert put.status_code == 200 and put.json()["version"] == 1, put.text
        listed = student.get(f"codestream/api/sessions/{code}/cells").json()
        assert [c["cell_id"] for c in listed["cells"]] == ["c1", "c2", "c3"] and "pulls" not in listed["cells"][0]
        assert "pulls" in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"][0]
        assert student.get(f"codestream/api/sessions/{code}/cells/c3").json()["source"] == "c = 3"
        refused = student.put(f"codestream/api/sessions/{code}/cells/c3",
                              json={"source": "evil", "cell_type": "code", "position": 3.0})
        assert refused.status_code == 403
        assert student.delete(f"codestream/api/sessions/{code}/cells/c3").status_code == 403
        assert teacher.delete(f"codestream/api/sessions/{code}/cells/c3").status_code == 204
        gone = student.get(f"codestream/api/sessions/{code}/cells/c3")
        assert gone.status_code == 404 and error_code(gone) == "cell_not_found"
        events = reader.wait_for(2)
        assert [e["event"] for e in events][-2:] == ["published", "unpublished"]
    finally:
        reader.close()


def test_1x_routes_on_the_teachers_server(cs_teacher):
    """The 1.x routes: a made-up code becomes this teacher's session on the first push; reads
    by the key; delete, cleanup and clear-all in the 1.x shapes."""
    teacher = cs_teacher.client()
    code = "AB0OL1"  # 1.x codes: any 6 of [A-Za-z0-9]
    push = teacher.post(f"code_stream/{code.lower()}/push-cell/", json={"cell_id": "p1", "cell_content": "x = 1",
                                                                       "cell_timestamp": "t1"})
    assert push.status_code == 200 and push.json()["status"] == "success" and push.json()["version"] == 1, push.text
    assert teacher.post(f"code_stream/{code}/update/", json={"cell_id": "p1", "cell_content": "x = 2"}).json()[
        "version"] == 2
    assert teacher.post(f"code_stream/{code}/push-cell/", json={"cell_id": "p2", "cell_content": "y"}).status_code == 200
    assert teacher.get(f"code_stream/{code}/get-all-cell-ids/").json() == {"status": "success", "data": ["p1", "p2"]}
    got = teacher.get(f"code_stream/{code}/get-cell/", params={"cell_id": "p1"}).json()
    assert got["status"] == "success" and got["data"] == "x = 2"
    bad = teacher.post(f"code_stream/{code}/push-cell/", json={"cell_id": "p3"})
    assert bad.status_code == 400 and bad.json()["status"] == "error" and "error" not in bad.json()
    unknown = teacher.post(f"code_stream/{code}/delete/", json={"cell_id": "nope"})
    assert unknown.status_code == 404 and unknown.json()["status"] == "error"
    assert teacher.post(f"code_stream/{code}/cleanup-orphan-cells/", json={"valid_cell_ids": ["p1"]}).json() == \
        {"status": "success", "deleted_count": 1}
    assert teacher.post(f"code_stream/{code}/delete/", json={"cell_id": "p1"}).json()["status"] == "success"
    assert teacher.get("code_stream/ZZZZZ9/get-all-cell-ids/").json() == {"status": "success", "data": []}
    assert teacher.post("code_stream/clear-all-redis/").json()["deleted_count"] >= 1
    assert code not in {s["code"] for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    stranger = cs_teacher.client(auth=False)
    refused = stranger.post(f"code_stream/{code}/push-cell/", json={"cell_id": "p1", "cell_content": "evil"})
    assert refused.status_code == 403 and refused.json()["status"] == "error"


# -- codestream relay -----------------------------------------------------------------------
def test_the_relay_serves_the_focus_in_reads_and_refuses_teacher_routes(laptop_session, cs_module_redis,
                                                                        cs_relay_factory):
    _server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    assert teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c1"}).status_code == 200
    relay = cs_relay_factory(cs_module_redis.url)
    student = relay.client(key)
    assert student.get(f"codestream/api/sessions/{code}/cells").json()["focus"] == "c1"
    refused = student.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "c2"})
    assert refused.status_code in (404, 405), refused.text  # not a relay route
    assert "error" in refused.json()


def test_the_relay_serves_the_lesson_notebook_and_past_versions(laptop_session, cs_module_redis, cs_relay_factory):
    _server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c2", "b = 20", 2.0)
    relay = cs_relay_factory(cs_module_redis.url)
    student = relay.client(key)
    nb = lesson_of(student.get(f"codestream/api/sessions/{code}/notebook"), code)
    assert [c.source for c in nb.cells] == ["a = 1", "b = 20"]
    assert student.get(f"codestream/api/sessions/{code}/cells/c2", params={"version": 1}).json()["source"] == "b = 2"
    gone = student.get(f"codestream/api/sessions/{code}/cells/c2", params={"version": 3})
    assert gone.status_code == 404 and error_code(gone) == "version_not_found"
    assert relay.client("wrong").get(f"codestream/api/sessions/{code}/notebook").status_code == 401


def test_the_relay_serves_no_session_route(laptop_session, cs_module_redis, cs_relay_factory):
    _server, _teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    student = cs_relay_factory(cs_module_redis.url).client(key)
    for method, path in [("GET", "codestream/api/sessions"), ("POST", "codestream/api/sessions"),
                         ("DELETE", f"codestream/api/sessions/{code}"), ("POST", f"codestream/api/sessions/{code}/key"),
                         ("POST", f"codestream/api/sessions/{code}/cells/c1/pulled"),
                         ("GET", f"code_stream/{code}/get-all-cell-ids/"), ("POST", f"code_stream/{code}/push-cell/")]:
        refused = student.request(method, path)
        assert refused.status_code in (404, 405) and "error" in refused.json(), (method, path, refused.text)
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 200  # the key still opens it


def test_the_relay_reads_cells_and_streams_but_never_writes(laptop_session, cs_module_redis, cs_relay_factory):
    _server, teacher, session = laptop_session
    code, key = session["code"], session["student_key"]
    relay = cs_relay_factory(cs_module_redis.url)
    student = relay.client(key)
    assert [c["cell_id"] for c in student.get(f"codestream/api/sessions/{code}/cells").json()["cells"]] == ["c1", "c2"]
    assert student.get(f"codestream/api/sessions/{code}/cells/c2").json()["source"] == "b = 2"
    for method in ("PUT", "DELETE"):
        refused = student.request(method, f"codestream/api/sessions/{code}/cells/c2",
                                  json={"source": "x", "cell_type": "code", "position": 1} if method == "PUT" else None)
        assert refused.status_code == 405 and error_code(refused) == "method_not_allowed", refused.text
    assert relay.client("wrong").get(f"codestream/api/sessions/{code}/cells").status_code == 401
    reader = SSEReader(f"{relay.url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"Bearer {key}", "Last-Event-ID": "0-0"})
    try:
        assert {e["event"] for e in reader.wait_for(2)} == {"published"}
    finally:
        reader.close()


# -- the hub service, through a hub user's own server -----------------------------------------
@pytest.fixture(scope="module")
def hub_session(cs_hub):
    cs_hub.start_servers("teacher1", "student1")
    teacher = cs_hub.server("teacher1")
    session = create_session(teacher, title="Mounts under the hub", group="algebra")
    publish(teacher, session["code"], "h1", "x = 1", 1.0)
    return cs_hub, session


def test_session_routes_under_the_hub(hub_session):
    """The session routes by hub identity, through the teacher's own server and on the service:
    group, teacher and the hub's join link in every view; another user's DELETE and new key are
    answered like "no such session" (a member's hands switch: 403); a student lists none."""
    hub, _session = hub_session
    teacher, student = hub.server("teacher1"), hub.server("student1")
    created = teacher.post("codestream/api/sessions", json={"title": "Hub sessions route", "group": "algebra"})
    assert created.status_code == 201, created.text
    session = created.json()
    code = session["code"]
    assert session["group"] == "algebra" and session["teacher"] == "teacher1" and session["student_key"]
    assert session["join_link"].endswith(f"/hub/user-redirect/codestream-student/?session={code}")
    for client in (teacher, hub.service("teacher1")):
        listed = {s["code"]: s for s in client.get("codestream/api/sessions").json()["sessions"]}
        assert listed[code]["group"] == "algebra" and listed[code]["teacher"] == "teacher1"
        assert listed[code]["join_link"] == session["join_link"]
    assert code not in {s["code"] for s in student.get("codestream/api/sessions").json()["sessions"]}
    assert student.post("codestream/api/sessions", json={}).status_code == 403

    for method, path in [("DELETE", f"codestream/api/sessions/{code}"), ("POST", f"codestream/api/sessions/{code}/key")]:
        hidden = student.request(method, path)
        assert hidden.status_code == 404 and error_code(hidden) == "session_not_found", (method, path)
    refused = student.patch(f"codestream/api/sessions/{code}", json={"hands_open": False})
    assert refused.status_code == 403 and error_code(refused) == "forbidden"

    rotated = teacher.post(f"codestream/api/sessions/{code}/key")
    assert rotated.status_code == 200 and set(rotated.json()) == {"student_key"}
    assert rotated.json()["student_key"] != session["student_key"]
    assert teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": True}).status_code == 200
    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    assert code not in {s["code"] for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    gone = teacher.delete(f"codestream/api/sessions/{code}")
    assert gone.status_code == 404 and error_code(gone) == "session_not_found"


def test_pull_reports_under_the_hub(hub_session):
    """A member's report counts the hub user (whatever client the body names), through the
    member's own server and on the service; an outsider's is refused."""
    hub, session = hub_session
    code = session["code"]
    from jupyter_ext.pytest_plugin import wait_until

    path = f"codestream/api/sessions/{code}/cells/h1/pulled"
    # counted: a hub user holding an event stream of the session (contract v3, honest counts)
    stream = SSEReader(f"{hub.url}services/codestream/codestream/api/sessions/{code}/events",
                       {"Authorization": f"token {hub.token_for('student1')}"})
    try:
        wait_until(lambda: stream.status == 200, 20, what="the member's stream")
        for client in (hub.server("student1"), hub.service("student1")):
            answer = client.post(path, json={"version": 1, "client": f"forged-{id(client)}"})
            assert answer.status_code == 204, answer.text
        assert hub.service("outsider").post(path, json={"version": 1, "client": "x"}).status_code in (403, 404)
        teacher = hub.server("teacher1")
        cells = {c["cell_id"]: c for c in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}
        assert cells["h1"]["pulls"] == {"1": 1}  # one hub user, however many clients it named
    finally:
        stream.close()


def test_cell_routes_under_the_hub(hub_session):
    """The owner writes through their own server; the owner's list names each cell's notebook;
    a member reads without ``pulls``; another user's writes are answered like "no such session"."""
    hub, session = hub_session
    code = session["code"]
    teacher, student = hub.server("teacher1"), hub.server("student1")
    put = teacher.put(f"codestream/api/sessions/{code}/cells/w1",
                      json={"source": "w = 1", "cell_type": "code", "position": 9.0, "notebook_path": "w.ipynb"})
    assert put.status_code == 200 and put.json()["version"] == 1, put.text
    own = {c["cell_id"]: c for c in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}
    assert own["w1"]["notebook_path"] == "w.ipynb" and "pulls" in own["w1"]
    member = hub.service("student1")
    read = {c["cell_id"]: c for c in member.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}
    assert "pulls" not in read["w1"] and "notebook_path" not in read["w1"]
    assert student.get(f"codestream/api/sessions/{code}/cells/w1").json()["source"] == "w = 1"
    for method in ("PUT", "DELETE"):
        hidden = student.request(method, f"codestream/api/sessions/{code}/cells/w1",
                                 json={"source": "x", "cell_type": "code", "position": 1} if method == "PUT" else None)
        assert hidden.status_code == 404 and error_code(hidden) == "session_not_found", (method, hidden.text)
    assert teacher.delete(f"codestream/api/sessions/{code}/cells/w1").status_code == 204
    assert member.get(f"codestream/api/sessions/{code}/cells/w1").status_code == 404


def test_1x_routes_under_the_hub(hub_session):
    """The 1.x routes by hub identity through one's own server: a made-up code becomes the
    pushing teacher's; another user's code is 403 to a push; a student cannot push."""
    hub, session = hub_session
    teacher, student = hub.server("teacher1"), hub.server("student1")
    code = "HUB1X0"
    push = teacher.post(f"code_stream/{code}/push-cell/", json={"cell_id": "q1", "cell_content": "q = 1"})
    assert push.status_code == 200 and push.json()["status"] == "success", push.text
    assert teacher.get(f"code_stream/{code}/get-all-cell-ids/").json()["data"] == ["q1"]
    assert teacher.get(f"code_stream/{code}/get-cell/", params={"cell_id": "q1"}).json()["data"] == "q = 1"
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert listed[code]["teacher"] == "teacher1"
    theirs = hub.server("teacher2").post(f"code_stream/{code}/push-cell/", json={"cell_id": "q1", "cell_content": "x"})
    assert theirs.status_code == 403 and theirs.json()["status"] == "error"
    assert student.post("code_stream/NEW1X0/push-cell/", json={"cell_id": "q1", "cell_content": "x"}).status_code == 403
    assert student.post(f"code_stream/{session['code']}/delete/", json={"cell_id": "h1"}).status_code == 403
    assert teacher.post(f"code_stream/{code}/cleanup-orphan-cells/", json={"valid_cell_ids": []}).json()[
        "deleted_count"] == 1
    assert student.post("code_stream/clear-all-redis/").json() == {"status": "success", "deleted_count": 0}
    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204


def test_focus_under_the_hub(hub_session):
    hub, session = hub_session
    code = session["code"]
    teacher, student = hub.server("teacher1"), hub.server("student1")
    shown = teacher.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": "h1"})
    assert shown.status_code == 200, shown.text
    assert shown.json() == {"cell_id": "h1", "number": 1}
    assert teacher.get(f"codestream/api/sessions/{code}/cells").json()["focus"] == "h1"
    # a member of the group reads it from the service by hub identity, and cannot set it
    assert hub.service("student1").get(f"codestream/api/sessions/{code}/cells").json()["focus"] == "h1"
    refused = student.put(f"codestream/api/sessions/{code}/focus", json={"cell_id": None})
    # a member of the course group reads the session anyway: "not yours" is a plain 403 for them
    # (for anyone else it is answered like "no such session": tests/test_hub_hardening.py)
    assert refused.status_code == 403 and error_code(refused) == "forbidden"
    assert teacher.get(f"codestream/api/sessions/{code}/cells").json()["focus"] == "h1"


def test_lesson_notebook_and_past_versions_under_the_hub(hub_session):
    hub, session = hub_session
    code = session["code"]
    teacher, member = hub.server("teacher1"), hub.service("student1")
    publish(teacher, code, "h2", "y = 1", 2.0)
    publish(teacher, code, "h2", "y = 2", 2.0)
    # the teacher through their own server (forwarded to the service), a member from the service
    for client in (teacher, member, hub.server("student1")):
        nb = lesson_of(client.get(f"codestream/api/sessions/{code}/notebook"), code)
        assert [c.source for c in nb.cells][-1] == "y = 2"
        assert client.get(f"codestream/api/sessions/{code}/cells/h2", params={"version": 1}).json()["source"] == \
            "y = 1"
    assert 'filename="Mounts under the hub.ipynb"' in teacher.get(
        f"codestream/api/sessions/{code}/notebook").headers["Content-Disposition"]
    gone = member.get(f"codestream/api/sessions/{code}/cells/h2", params={"version": 9})
    assert gone.status_code == 404 and error_code(gone) == "version_not_found"
    # not in the session's group: nothing
    assert hub.service("teacher2").get(f"codestream/api/sessions/{code}/notebook").status_code == 403


def test_hands_and_runs_under_the_hub(hub_session):
    """Every talkback route of the table under the hub: a member raises a hand by identity (the
    name is the hub user's, whatever the body says), the owner handles it; runs count hub users
    present on a stream; the session's hands switch; the member never reads the queue."""
    hub, session = hub_session
    code = session["code"]
    teacher, student = hub.server("teacher1"), hub.server("student1")
    hands_path = f"codestream/api/sessions/{code}/hands"
    member_stream = SSEReader(f"{hub.url}services/codestream/codestream/api/sessions/{code}/events",
                              {"Authorization": f"token {hub.token_for('student1')}", "Last-Event-ID": "0-0"})
    owner_stream = SSEReader(f"{hub.url}services/codestream/codestream/api/sessions/{code}/events",
                             {"Authorization": f"token {hub.token_for('teacher1')}", "Last-Event-ID": "0-0"})
    try:
        raised = student.post(hands_path, json={"source": "x = ?", "cell_id": "h1", "name": "Someone Else",
                                                "client": "forged"})
        assert raised.status_code == 201, raised.text
        hand_id = raised.json()["hand_id"]
        assert student.get(hands_path).status_code == 403
        (hand,) = teacher.get(hands_path).json()["hands"]
        assert hand["name"] == "student1" and hand["cell_id"] == "h1" and hand["number"] == 1
        assert teacher.patch(f"{hands_path}/{hand_id}", json={"state": "helping"}).json()["state"] == "helping"
        assert student.patch(f"{hands_path}/{hand_id}", json={"state": "done"}).status_code == 403
        shown = teacher.post(f"{hands_path}/{hand_id}/spotlight", json={})
        assert shown.status_code == 200, shown.text
        spot = hub.service("student1").get(f"codestream/api/sessions/{code}/cells/{shown.json()['cell_id']}").json()
        assert spot["origin"] == "student" and "student1" not in json.dumps(spot)
        assert student.delete(f"{hands_path}/{hand_id}").status_code == 204  # the raising hub user
        assert teacher.get(hands_path).json()["hands"] == []

        runs = f"codestream/api/sessions/{code}/cells/h1/runs"
        assert student.post(runs, json={"version": 1, "state": "error", "ename": "ValueError"}).status_code == 204
        assert student.post(runs, json={"version": 1, "state": "error", "ename": "ValueError",
                                        "client": "another-forged-id"}).status_code == 204  # still one user
        cells = {c["cell_id"]: c for c in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}
        assert cells["h1"]["runs"] == {"ok": 0, "error": 1, "errors": {"ValueError": 1}}
        assert "runs" not in hub.service("student1").get(f"codestream/api/sessions/{code}/cells").json()["cells"][0]

        assert teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": False}).status_code == 200
        assert student.patch(f"codestream/api/sessions/{code}", json={"hands_open": True}).status_code == 403
        closed = student.post(hands_path, json={"source": "y"})
        assert closed.status_code == 409 and error_code(closed) == "hands_closed"
        assert teacher.patch(f"codestream/api/sessions/{code}", json={"hands_open": True}).status_code == 200

        # the owner hears everything; the member only its own hand's states and the publishes
        from jupyter_ext.pytest_plugin import wait_until

        wait_until(lambda: {"hand", "hand_state", "runs"} <= {e["event"] for e in owner_stream.events}, 20,
                   what="the owner's events")
        wait_until(lambda: [e for e in member_stream.events if e["event"] == "hand_state"][1:], 20,
                   what="the member's own hand states")
        member_events = {e["event"] for e in member_stream.events}
        assert not {"hand", "runs", "pulled"} & member_events, member_events
    finally:
        member_stream.close()
        owner_stream.close()


def test_a_hub_students_own_server_raises_hands_and_reports_runs(hub_session):
    """The student's own routes under the hub: by hub identity through the hub client, no key."""
    from jupyter_ext.pytest_plugin import wait_until

    hub, session = hub_session
    code = session["code"]
    teacher, student = hub.server("teacher1"), hub.server("student1")
    assert student.put("codestream/api/student/config", json={"session_code": code}).status_code == 200
    own_stream = SSEReader(f"{student.base_url}codestream/api/student/events", dict(student.headers))
    try:
        pulled = {"session": code, "cell_id": "h1", "version": 1}
        nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"id": "mine", "cell_type": "code", "source": "x = 1 +", "metadata": {"codestream": pulled},
             "execution_count": 1, "outputs": [{"output_type": "error", "ename": "SyntaxError",
                                                "evalue": "invalid syntax", "traceback": ["secret"]}]}]}
        saved = student.put("api/contents/hub-runs.ipynb", json={"type": "notebook", "content": nb})
        assert saved.status_code in (200, 201), saved.text

        def h1_runs():
            cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
            return next(c["runs"] for c in cells if c["cell_id"] == "h1")

        wait_until(lambda: h1_runs()["errors"].get("SyntaxError") == 1, 30, what="the run from the hub student's save")
        raised = student.post("codestream/api/student/hands",
                              json={"notebook_path": "hub-runs.ipynb", "cell_id": "h1", "note": "help"})
        assert raised.status_code == 201, raised.text
        hands = teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"]
        mine = next(h for h in hands if h["hand_id"] == raised.json()["hand_id"])
        assert mine["name"] == "student1" and mine["source"] == "x = 1 +" and mine["cell_id"] == "h1"
        assert student.delete(f"codestream/api/student/hands/{mine['hand_id']}").status_code == 204
        assert all(h["hand_id"] != mine["hand_id"] for h in teacher.get(f"codestream/api/sessions/{code}/hands").json()["hands"])
    finally:
        own_stream.close()


def test_a_hub_student_turns_run_sharing_off_and_it_is_kept(hub_session):
    """Joining by hub identity keeps the student's own run-status choice (never a name: under the
    hub the name is the hub user's)."""
    hub, session = hub_session
    student = hub.server("student1")
    config = {"session_code": session["code"], "share_run_status": False, "name": "Someone Else"}
    off = student.put("codestream/api/student/config", json=config)
    assert off.status_code == 200, off.text
    assert off.json()["share_run_status"] is False and "name" not in off.json()
    assert student.get("codestream/api/student/config").json()["share_run_status"] is False
    on = student.put("codestream/api/student/config", json={"session_code": session["code"], "share_run_status": True})
    assert on.status_code == 200 and "share_run_status" not in on.json()  # shared: the default
