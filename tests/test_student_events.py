"""The student's event relay: one upstream stream shared by every local listener, resumed
across a dropped connection with nothing missed (real teacher, real student, a TCP proxy)."""

from __future__ import annotations

import json

import pytest
from student_fixtures import DroppableProxy, configure

from jupyter_ext.domain.events import TEACHER_REACHABLE, TEACHER_UNREACHABLE
from jupyter_ext.testing import SSEReader, create_session, publish, wait_until


@pytest.fixture
def proxy(cs_teacher):
    proxy = DroppableProxy(cs_teacher.port)
    yield proxy
    proxy.close()


def events_url(student) -> str:
    return f"{student.url}codestream/api/student/events"


def cell_events(events: list[dict]) -> list[tuple[str, str]]:
    return [(e["event"], json.loads(e["data"])["cell_id"]) for e in events]


def test_relay_survives_a_dropped_upstream(cs_teacher, cs_student, proxy):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    configure(student, proxy.url, code, key)

    first = SSEReader(events_url(cs_student), cs_student.auth_headers())
    second = SSEReader(events_url(cs_student), cs_student.auth_headers())
    assert first.status == second.status == 200
    wait_until(lambda: first.comments and second.comments, 20, what="both streams connected")
    publish(teacher, code, "a", "1", 1)
    assert cell_events(first.wait_for(1)) == cell_events(second.wait_for(1)) == [("published", "a")]
    # one upstream stream for both listeners; the teacher counts one student server
    assert proxy.open_connections_to("/events") == 1
    sessions = teacher.get("codestream/api/sessions").json()["sessions"]
    assert next(s for s in sessions if s["code"] == code)["students"] == 1

    proxy.drop()
    publish(teacher, code, "b", "2", 2)
    publish(teacher, code, "c", "3", 3)
    publish(teacher, code, "a", "1!", 1)
    # the local streams stay open, and say (as a comment line) that the teacher stopped answering
    for reader in (first, second):
        wait_until(lambda: TEACHER_UNREACHABLE in reader.comment_lines, 20, what="the relay to tell of the drop")
    assert len(first.events) == len(second.events) == 1  # nothing can pass while it is down
    late = SSEReader(events_url(cs_student), cs_student.auth_headers())  # joins while it is down: told at once
    wait_until(lambda: TEACHER_UNREACHABLE in late.comment_lines, 20, what="a late listener to be told")
    late.close()
    proxy.restore()
    for reader in (first, second):
        wait_until(lambda: TEACHER_REACHABLE in reader.comment_lines, 30, what="the relay to tell it is back")
        lost_at = reader.comment_lines.index(TEACHER_UNREACHABLE)
        assert reader.comment_lines.index(TEACHER_REACHABLE) > lost_at

    expected = [("published", "a"), ("published", "b"), ("published", "c"), ("updated", "a")]
    for reader in (first, second):
        reader.wait_for(4)
    wait_until(lambda: proxy.requests_to("/events") >= 2, 20, what="the relay to reconnect")
    publish(teacher, code, "d", "4", 4)  # a live event after the reconnect: proves no duplicate came before it
    for reader in (first, second):
        reader.wait_for(5)
        assert cell_events(reader.events) == expected + [("published", "d")]
        ids = [e["id"] for e in reader.events]
        assert len(set(ids)) == len(ids)
    assert proxy.open_connections_to("/events") == 1

    # a local listener resuming from its Last-Event-ID is replayed from the relay's memory
    resumed = SSEReader(events_url(cs_student), {**cs_student.auth_headers(), "Last-Event-ID": first.events[0]["id"]})
    assert cell_events(resumed.wait_for(4)) == expected[1:] + [("published", "d")]
    # one older than anything the relay kept (it keeps 4 here) re-opens the single upstream from there
    upstream_requests = proxy.requests_to("/events")
    rewound = SSEReader(events_url(cs_student), {**cs_student.auth_headers(), "Last-Event-ID": "0-0"})
    assert cell_events(rewound.wait_for(5)) == expected + [("published", "d")]
    assert proxy.requests_to("/events") == upstream_requests + 1
    readers = (first, second, resumed, rewound)
    before = [len(reader.events) for reader in readers]
    publish(teacher, code, "e", "5", 5)
    for reader, count in zip(readers, before):
        events = cell_events(reader.wait_for(count + 1))
        assert events[-1] == ("published", "e") and events.count(("published", "e")) == 1
        ids = [e["id"] for e in reader.events]
        assert len(set(ids)) == len(ids)
    wait_until(lambda: proxy.open_connections_to("/events") == 1, 20, what="a single upstream stream")

    # nobody listens: the upstream stream closes
    for reader in (first, second, resumed, rewound):
        reader.close()
    wait_until(lambda: proxy.open_connections_to("/events") == 0, 30, what="the relay to stop")
    # and the next listener starts it again
    again = SSEReader(events_url(cs_student), cs_student.auth_headers())
    wait_until(lambda: again.comments, 20, what="stream open")
    publish(teacher, code, "f", "6", 6)
    assert cell_events(again.wait_for(1)) == [("published", "f")]
    again.close()


def test_relay_heartbeats_and_session_end(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    configure(student, cs_teacher.url, code, key)
    reader = SSEReader(events_url(cs_student), cs_student.auth_headers())
    wait_until(lambda: reader.comments >= 3, 20, what="heartbeats (every 1 s in these tests)")
    teacher.delete(f"codestream/api/sessions/{code}")
    assert reader.wait_for(1)[0]["event"] == "session_ended"
    assert reader.ended.wait(20), "the local stream ends with the session"


def test_relay_refuses_before_streaming(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    other = create_session(teacher)
    r = student.get("codestream/api/student/events")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_configured"
    configure(student, cs_teacher.url, session["code"], other["student_key"])
    reader = SSEReader(events_url(cs_student), cs_student.auth_headers())
    assert reader.status == 401 and json.loads(reader.body)["error"]["code"] == "unauthorized"
    configure(student, cs_teacher.url, "ZZZZZZ", other["student_key"])
    reader = SSEReader(events_url(cs_student), cs_student.auth_headers())
    assert reader.status == 404 and json.loads(reader.body)["error"]["code"] == "session_not_found"


def test_relay_reads_from_an_advertised_read_relay_and_falls_back(cs_teacher, cs_module_redis, cs_student,
                                                                    cs_relay_factory):
    """A session that advertises a read relay is streamed from there; when that relay goes
    away the student's server resumes on the teacher's own server and misses nothing."""
    read_relay = cs_relay_factory(cs_module_redis.url)
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, relay_url=read_relay.url)
    code, key = session["code"], session["student_key"]
    configure(student, cs_teacher.url, code, key)
    reader = SSEReader(events_url(cs_student), cs_student.auth_headers())
    wait_until(lambda: read_relay.client().get("readyz").json()["open_streams"] == 1, 20,
               what="the stream to be read from the relay")
    publish(teacher, code, "a", "1", 1)
    reader.wait_for(1)
    read_relay.stop()  # ends its streams, as a relay replica that is shut down does
    publish(teacher, code, "b", "2", 2)
    publish(teacher, code, "c", "3", 3)
    assert cell_events(reader.wait_for(3)) == [("published", "a"), ("published", "b"), ("published", "c")]
    publish(teacher, code, "d", "4", 4)
    assert cell_events(reader.wait_for(4))[-1] == ("published", "d")
    assert len(reader.events) == 4
    reader.close()
