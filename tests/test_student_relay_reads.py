"""Student servers read cells from the teacher's advertised read relay (the teacher still
writes through their own server), and fall back to the teacher's server when the relay fails
or refuses. Real teacher server, real ``codestream relay`` processes, a real student server."""

from __future__ import annotations

import json

import httpx
import pytest
from student_fixtures import configure

from jupyter_ext.clients.teacher import CLIENT_HEADER, TeacherClient, TeacherConnection
from jupyter_ext.domain import CodeStreamError
from jupyter_ext.domain.urls import parse_networks
from jupyter_ext.testing import SSEReader, create_session, publish, wait_until, write_notebook
from jupyter_ext.services.reads import RelayDirectory, SessionReader


def relay_reads(relay, code: str, suffix: str = "") -> int:
    """Answered GETs of this session's cell routes in the relay's access log (status, path)."""
    path = f"/codestream/api/sessions/{code}/cells{suffix}"
    return sum(1 for r in relay.log_records()
               if r.get("logger") == "codestream.relay.access" and r.get("method") == "GET"
               and r.get("path") == path and r.get("status") == 200)


def student_cells(student) -> dict:
    r = student.get("codestream/api/student/cells")
    assert r.status_code == 200, r.text
    return r.json()


def pull(student, cell_id: str, notebook_path: str) -> dict:
    r = student.post("codestream/api/student/pull", json={"cell_id": cell_id, "notebook_path": notebook_path})
    assert r.status_code == 200, r.text
    return r.json()


def pulled_sources(server, notebook_path: str) -> list[str]:
    r = server.client().get(f"api/contents/{notebook_path}")
    assert r.status_code == 200, r.text
    return [cell["source"] for cell in r.json()["content"]["cells"]
            if "codestream" in cell.get("metadata", {})]


def test_cell_list_and_pull_are_read_from_the_relay_then_from_the_teacher(
        cs_teacher, cs_module_redis, cs_student, cs_relay_factory):
    read_relay = cs_relay_factory(cs_module_redis.url)
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, relay_url=read_relay.url)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "intro", "print('hello')", 1)
    configure(student, cs_teacher.url, code, key)
    write_notebook(cs_student.root_dir, "relay-reads.ipynb", [("code", "x = 1")])

    # The first answer comes from the teacher's server and names the relay ...
    assert student.post("codestream/api/student/test").json()["ok"] is True
    assert relay_reads(read_relay, code) == 0
    # ... from then on the student's server reads the session's cells from the relay.
    listing = student_cells(student)
    assert [c["cell_id"] for c in listing["cells"]] == ["intro"]
    assert listing["relay_url"] == read_relay.url
    wait_until(lambda: relay_reads(read_relay, code) == 1, 10, what="the relay to serve the cell list")
    publish(teacher, code, "intro", "print('hello, relay')", 1)  # written on the teacher's server
    result = pull(student, "intro", "relay-reads.ipynb")
    assert result["version"] == 2
    wait_until(lambda: relay_reads(read_relay, code, "/intro") == 1, 10, what="the relay to serve the pull")
    assert pulled_sources(cs_student, "relay-reads.ipynb") == ["print('hello, relay')"]
    # The 1.x proxy routes read through the relay as well.
    r = student.get(f"code_stream/{code}/get-all-cell-ids/")
    assert r.status_code == 200 and r.json()["data"] == ["intro"], r.text
    wait_until(lambda: relay_reads(read_relay, code) == 2, 10, what="the relay to serve the 1.x list")

    # The relay goes away: the same calls are answered by the teacher's server.
    read_relay.stop()
    publish(teacher, code, "second", "y = 2", 2)
    listing = student_cells(student)
    assert [c["cell_id"] for c in listing["cells"]] == ["intro", "second"]
    pull(student, "second", "relay-reads.ipynb")
    assert pulled_sources(cs_student, "relay-reads.ipynb") == ["print('hello, relay')", "y = 2"]
    r = student.get(f"code_stream/{code}/get-cell/", params={"cell_id": "second"})
    assert r.status_code == 200 and r.json()["data"] == "y = 2", r.text
    assert relay_reads(read_relay, code) == 2 and relay_reads(read_relay, code, "/second") == 0


def test_a_relay_that_refuses_is_overruled_by_the_teacher(cs_teacher, cs_redis, cs_student, cs_relay_factory):
    """A relay on the wrong Redis answers 404 session_not_found (and would refuse the key):
    the teacher's server is the authority, so cells, pulls and events still work."""
    wrong_relay = cs_relay_factory(cs_redis.url)  # an empty Redis: no session there
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, relay_url=wrong_relay.url)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "a", "1", 1)
    configure(student, cs_teacher.url, code, key)
    write_notebook(cs_student.root_dir, "refused.ipynb", [("code", "x = 1")])

    student_cells(student)  # learns the relay
    listing = student_cells(student)  # asks the relay (404), then the teacher
    assert [c["cell_id"] for c in listing["cells"]] == ["a"]
    refused = lambda: [r for r in wrong_relay.log_records()  # noqa: E731
                       if r.get("logger") == "codestream.relay.access" and r.get("status") == 404]
    wait_until(lambda: len(refused()) >= 1, 10, what="the relay to have refused a read")
    assert pull(student, "a", "refused.ipynb")["cell_id"] == "a"

    reader = SSEReader(f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers())
    try:
        assert reader.status == 200, reader.body
        publish(teacher, code, "b", "2", 2)
        events = reader.wait_for(1)
        assert [(e["event"], json.loads(e["data"])["cell_id"]) for e in events] == [("published", "b")]
        assert any(r.get("path") == f"/codestream/api/sessions/{code}/events" for r in refused())
    finally:
        reader.close()


def test_a_relay_shutting_down_is_left_at_once_with_last_event_id(
        cs_teacher, cs_module_redis, cs_relay_factory, cs_jupyter_server_factory):
    """A relay that stops ends its streams without ``session_ended``: the student's server
    resumes at once (here its backoff is a minute, longer than the test waits) from the last
    event id, on the teacher's server since the relay is gone, and misses nothing."""
    read_relay = cs_relay_factory(cs_module_redis.url)
    slow = cs_jupyter_server_factory("slow-backoff-student", args=[
        "--CodeStreamApp.upstream_backoff_initial=60", "--CodeStreamApp.upstream_backoff_max=60",
        "--CodeStreamApp.heartbeat_seconds=1"])
    teacher, student = cs_teacher.client(), slow.client()
    session = create_session(teacher, relay_url=read_relay.url)
    code = session["code"]
    configure(student, cs_teacher.url, code, session["student_key"])
    reader = SSEReader(f"{slow.url}codestream/api/student/events", slow.auth_headers())
    try:
        assert reader.status == 200, reader.body
        wait_until(lambda: read_relay.client().get("readyz").json()["open_streams"] == 1, 20,
                   what="the stream to be read from the relay")
        publish(teacher, code, "a", "1", 1)
        reader.wait_for(1)
        read_relay.stop()
        publish(teacher, code, "b", "2", 2)
        events = reader.wait_for(2, timeout=20)
        assert [(e["event"], json.loads(e["data"])["cell_id"]) for e in events] == [
            ("published", "a"), ("published", "b")]
        assert len({e["id"] for e in events}) == 2
    finally:
        reader.close()


# -- the read order, through httpx.MockTransport (no network) --------------------------------
KEY = "s3cret-student-key-123456"
TEACHER = TeacherConnection("http://10.0.0.5:8888/", "ABCDEF", KEY)
CELL = {"cell_id": "c1", "cell_type": "code", "source": "x = 1", "version": 1, "position": 1.0,
        "updated": "2025-01-01T00:00:00.000+00:00"}


def listing(relay_url: str | None) -> dict:
    return {"session": "ABCDEF", "title": "", "cells": [CELL], "last_event_id": "1-0",
            **({"relay_url": relay_url} if relay_url else {})}


def mock_reader(relay_answer, *, relay_url: str = "http://10.0.0.9:9000/", networks=()):
    """A reader whose teacher (10.0.0.5) advertises ``relay_url``; the relay answers with
    ``relay_answer(request)``. Returns the reader and the list of requests sent."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request):
        seen.append(request)
        if request.url.host == "10.0.0.5":
            if request.url.path.endswith("/cells"):
                return httpx.Response(200, json=listing(relay_url))
            return httpx.Response(200, json=CELL)
        return relay_answer(request)

    client = TeacherClient(transport=httpx.MockTransport(handler), client_id="client-1",
                           allowed_networks=parse_networks(networks))
    return SessionReader(client, RelayDirectory()), seen


def hosts(requests: list[httpx.Request]) -> list[str]:
    return [r.url.host for r in requests]


async def test_reads_go_to_the_learned_relay_with_the_same_key_and_client_header():
    reader, seen = mock_reader(lambda r: httpx.Response(200, json=CELL if r.url.path.endswith("/c1")
                                                        else listing("http://10.0.0.9:9000/")))
    await reader.list_cells(TEACHER)  # unknown relay: the teacher answers and names it
    await reader.list_cells(TEACHER)
    assert (await reader.get_cell(TEACHER, "c1"))["source"] == "x = 1"
    assert hosts(seen) == ["10.0.0.5", "10.0.0.9", "10.0.0.9"]
    assert [r.url.path for r in seen[1:]] == ["/codestream/api/sessions/ABCDEF/cells",
                                              "/codestream/api/sessions/ABCDEF/cells/c1"]
    assert all(r.headers["Authorization"] == f"Bearer {KEY}" and r.headers[CLIENT_HEADER] == "client-1"
               for r in seen)
    # the relay is known per (teacher, session): another session is asked of the teacher first
    other = TeacherConnection(TEACHER.teacher_url, "GHJKMN", KEY)
    await reader.get_cell(other, "c1")
    assert hosts(seen)[-1] == "10.0.0.5"
    await reader.teacher.aclose()


@pytest.mark.parametrize("answer", [
    lambda r: httpx.Response(503, json={"error": {"code": "relay_draining", "message": "bye"}}),
    lambda r: httpx.Response(500, text="oops"),
    lambda r: httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no"}}),
    lambda r: httpx.Response(404, json={"error": {"code": "session_not_found", "message": "no"}}),
    lambda r: httpx.Response(404, json={"error": {"code": "cell_not_found", "message": "no"}}),
    lambda r: httpx.Response(200, text="not json"),
    lambda r: httpx.Response(200, json={"cells": "nope", "cell_id": 3}),
    lambda r: httpx.Response(302, headers={"Location": "http://10.0.0.66/"}),
    lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused")),
    lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow")),
], ids=["draining", "500", "401", "404-session", "404-cell", "not-json", "malformed", "redirect-away",
        "unreachable", "timeout"])
async def test_any_relay_failure_falls_back_to_the_teacher(answer):
    reader, seen = mock_reader(answer)
    await reader.list_cells(TEACHER)
    assert [c["cell_id"] for c in (await reader.list_cells(TEACHER))["cells"]] == ["c1"]
    assert (await reader.get_cell(TEACHER, "c1"))["cell_id"] == "c1"
    assert hosts(seen) == ["10.0.0.5", "10.0.0.9", "10.0.0.5", "10.0.0.9", "10.0.0.5"]
    await reader.teacher.aclose()


async def test_the_teachers_answer_after_a_failed_relay_is_final():
    calls = []

    def handler(request: httpx.Request):
        calls.append(request.url.host)
        if request.url.host == "10.0.0.5" and len(calls) > 1:
            return httpx.Response(401, json={"error": {"code": "unauthorized", "message": "no"}})
        if request.url.host == "10.0.0.5":
            return httpx.Response(200, json=listing("http://10.0.0.9:9000/"))
        return httpx.Response(503, json={"error": {"code": "relay_draining", "message": "bye"}})

    reader = SessionReader(TeacherClient(transport=httpx.MockTransport(handler)), RelayDirectory())
    await reader.list_cells(TEACHER)
    with pytest.raises(CodeStreamError) as caught:
        await reader.get_cell(TEACHER, "c1")
    assert caught.value.code == "unauthorized" and KEY not in caught.value.message
    assert calls == ["10.0.0.5", "10.0.0.9", "10.0.0.5"]
    await reader.teacher.aclose()


@pytest.mark.parametrize("relay_url", [
    "http://172.16.0.9:9000/",  # outside the operator's allow-list
    "http://user:pw@10.0.0.9:9000/",  # against the URL policy
    "ftp://10.0.0.9/",
    "http://10.0.0.9:9000/?token=x",
    "http://10.0.0.5:8888/",  # the teacher itself
])
async def test_a_relay_url_the_policy_refuses_is_never_called(relay_url):
    reader, seen = mock_reader(lambda r: httpx.Response(200, json=listing(relay_url)),
                               relay_url=relay_url, networks=["10.0.0.0/8"])
    await reader.list_cells(TEACHER)
    await reader.list_cells(TEACHER)
    await reader.get_cell(TEACHER, "c1")
    assert hosts(seen) == ["10.0.0.5"] * 3
    await reader.teacher.aclose()


async def test_a_session_that_stops_advertising_a_relay_is_read_from_the_teacher():
    advertised = ["http://10.0.0.9:9000/"]

    def relay(request: httpx.Request):
        return httpx.Response(200, json=listing(advertised[0]))

    reader, seen = mock_reader(relay)
    await reader.list_cells(TEACHER)
    advertised[0] = None
    await reader.list_cells(TEACHER)  # the relay's own answer no longer names a relay
    await reader.get_cell(TEACHER, "c1")
    assert hosts(seen) == ["10.0.0.5", "10.0.0.9", "10.0.0.5"]
    await reader.teacher.aclose()
