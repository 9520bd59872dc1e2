"""Teacher-only events (contract v3): ``pulled``, ``runs``, ``hand`` and ``hand_state`` reach
teacher-authenticated streams only (``hand_state`` also the raising client's), live and in a
``Last-Event-ID`` replay, on the teacher's server and on a read relay."""

from __future__ import annotations

import json

from jupyter_ext.domain.events import AUDIENCE_TEACHER, Event
from jupyter_ext.store.listener import Listener
from jupyter_ext.pytest_plugin import SSEReader, create_session, publish

STUDENT_ACTIVITY = {"pulled", "runs", "hand", "hand_state"}


def test_a_listener_sees_public_events_its_own_and_the_teachers_only_as_teacher():
    public = Event("1-0", "published", {})
    teacher_only = Event("2-0", "runs", {}, audience=AUDIENCE_TEACHER)
    mine = Event("3-0", "hand_state", {}, audience=f"{AUDIENCE_TEACHER}:me")
    theirs = Event("4-0", "hand_state", {}, audience=f"{AUDIENCE_TEACHER}:them")
    student, teacher = Listener("C", "0-0", client_id="me"), Listener("C", "0-0", teacher=True)
    anonymous = Listener("C", "0-0")
    for event in (public, teacher_only, mine, theirs):
        for listener in (student, teacher, anonymous):
            listener.deliver(event)
    assert [e.id for e in student._pending] == ["1-0", "3-0"]
    assert [e.id for e in teacher._pending] == ["1-0", "2-0", "3-0", "4-0"]
    assert [e.id for e in anonymous._pending] == ["1-0"]


def student_activity(teacher, student, code):
    """A pull, a run, a hand raised and handled by client "s1" (present on a stream)."""
    assert student.post(f"codestream/api/sessions/{code}/cells/c1/pulled",
                        json={"version": 1, "client": "s1"}).status_code == 204
    assert student.post(f"codestream/api/sessions/{code}/cells/c1/runs",
                        json={"version": 1, "client": "s1", "state": "error", "ename": "KeyError"}).status_code == 204
    hand = student.post(f"codestream/api/sessions/{code}/hands", json={"client": "s1", "source": "secret code"})
    assert hand.status_code == 201
    hand_id = hand.json()["hand_id"]
    assert teacher.patch(f"codestream/api/sessions/{code}/hands/{hand_id}", json={"state": "done"}).status_code == 200
    publish(teacher, code, "c2", "after", 2.0)
    return hand_id


def test_student_streams_never_carry_another_students_activity(cs_teacher, cs_module_redis, cs_relay_factory):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "x = 1", 1.0)
    base = f"{cs_teacher.url}codestream/api/sessions/{code}/events"
    as_client = {"s1": {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "s1"},
                 "s2": {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "s2"}}
    live = {"teacher": SSEReader(base, cs_teacher.auth_headers()),
            "s1": SSEReader(base, as_client["s1"]), "s2": SSEReader(base, as_client["s2"])}
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    try:
        hand_id = student_activity(teacher, student, code)
        for reader in live.values():  # every stream gets the publish that follows the activity
            reader.wait_for(1)
            while not any(e["event"] == "published" for e in reader.events):
                reader.wait_for(len(reader.events) + 1)
        assert STUDENT_ACTIVITY <= {e["event"] for e in live["teacher"].events}
        assert {e["event"] for e in live["s2"].events} == {"published"}
        # the raising client hears its own hand's state, nothing else
        assert {e["event"] for e in live["s1"].events} == {"hand_state", "published"}
        assert all(json.loads(e["data"])["hand_id"] == hand_id for e in live["s1"].events if e["event"] == "hand_state")
    finally:
        for reader in live.values():
            reader.close()

    # a replay from the start is filtered the same way
    replayed = {who: SSEReader(base, {**headers, "Last-Event-ID": "0-0"}) for who, headers in as_client.items()}
    replayed["teacher"] = SSEReader(base, {**cs_teacher.auth_headers(), "Last-Event-ID": "0-0"})
    try:
        for reader in replayed.values():
            reader.wait_for(2)
        publish(teacher, code, "c3", "end", 3.0)
        for reader in replayed.values():
            while not any(json.loads(e["data"]).get("cell_id") == "c3" for e in reader.events):
                reader.wait_for(len(reader.events) + 1)
        assert STUDENT_ACTIVITY <= {e["event"] for e in replayed["teacher"].events}
        assert {e["event"] for e in replayed["s2"].events} == {"published"}
        assert {e["event"] for e in replayed["s1"].events} == {"published", "hand_state"}
    finally:
        for reader in replayed.values():
            reader.close()

    # a read relay over the same Redis filters too
    relay = cs_relay_factory(cs_module_redis.url)
    from_relay = SSEReader(f"{relay.url}codestream/api/sessions/{code}/events",
                           {**as_client["s2"], "Last-Event-ID": "0-0"})
    try:
        publish(teacher, code, "c4", "relay", 4.0)
        while not any(json.loads(e["data"]).get("cell_id") == "c4" for e in from_relay.events):
            from_relay.wait_for(len(from_relay.events) + 1)
        assert {e["event"] for e in from_relay.events} == {"published"}
    finally:
        from_relay.close()
