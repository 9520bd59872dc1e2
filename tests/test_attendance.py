"""Counting students honestly (contract): a student's pulls and runs count while their server
holds (or held in the last 60 s) an event stream of the session, stop counting when it leaves,
and count again when it comes back; the teacher hears each change as an event. On a real Redis
and a real Redis Cluster; the clock of the 60 s window is the store's ``now`` argument."""

from __future__ import annotations

import json
import time

import redis as sync_redis
from redis.asyncio import Redis

from jupyter_ext.domain.events import EVENT_PULLED, EVENT_RUNS
from jupyter_ext.store import SessionStore, keys
from jupyter_ext.store.connection import make_clients
from jupyter_ext.store.pulls import PullLedger
from jupyter_ext.store.runs import RunLedger
from jupyter_ext.store.stream import STUDENT_WINDOW_SECONDS
from jupyter_ext.testing import SSEReader, create_session, publish, wait_until


def clean(source: str, position: int = 0) -> dict:
    return {"source": source, "cell_type": "code", "position": position, "notebook_path": None}


async def counts(store: SessionStore, code: str) -> tuple[dict, dict]:
    return await PullLedger(store.redis).counts(code), await RunLedger(store.redis).counts(code)


async def told(store: SessionStore, code: str, after: str) -> list[tuple[str, dict]]:
    return [(e.name, json.loads(e.data) if isinstance(e.data, str) else e.data)
            for e in await store.events_after(code, after) if e.name in (EVENT_PULLED, EVENT_RUNS)]


async def a_class(store: SessionStore) -> str:
    """A session with two cells; alice and bob present, both pulled c1, alice's run failed, bob's passed."""
    record, _key = await store.create_session("Counting")
    code = record.code
    await store.publish_cell(code, "c1", clean("x = 1"))
    await store.publish_cell(code, "c2", clean("y = 2", 1))
    pulls, runs = PullLedger(store.redis), RunLedger(store.redis)
    for client in ("alice", "bob"):
        await store.touch_student(code, client)
        assert await pulls.record(code, "c1", 1, client)
    assert await runs.record(code, "c1", "alice", "error", "NameError")
    assert await runs.record(code, "c1", "bob", "ok", "")
    return code


async def test_who_leaves_stops_counting_and_who_comes_back_counts_again(cs_redis):
    raw = sync_redis.Redis.from_url(cs_redis.url, decode_responses=True)
    store = SessionStore(Redis.from_url(cs_redis.url, decode_responses=True))
    try:
        code = await a_class(store)
        both = ({"c1": {"1": 2}}, {"c1": {"ok": 1, "error": 1, "errors": {"NameError": 1}}})
        assert await counts(store, code) == both
        assert await store.settle_attendance(code) == 0  # everyone is present: nothing moves

        # alice's server left more than 60 s ago: her pull and her failed run stop counting
        raw.zadd(keys.students_key(code), {"alice": time.time() - STUDENT_WINDOW_SECONDS - 5})
        last = await store.last_event_id(code)
        assert await store.settle_attendance(code) == 1
        assert await counts(store, code) == ({"c1": {"1": 1}}, {"c1": {"ok": 1, "error": 0, "errors": {}}})
        # the teacher's dashboard hears it: each changed cell once, with its new counts
        events = await told(store, code, last)
        assert sorted(name for name, _ in events) == [EVENT_PULLED, EVENT_RUNS]
        assert dict(events)[EVENT_RUNS]["runs"] == {"ok": 1, "error": 0, "errors": {}}
        assert dict(events)[EVENT_PULLED]["pulls"] == {"1": 1}
        assert all(data["cell_id"] == "c1" and data["session"] == code for _, data in events)
        last = await store.last_event_id(code)
        assert await store.settle_attendance(code) == 0 and await told(store, code, last) == []  # once only

        # while away her reports are accepted and not counted
        assert not await RunLedger(store.redis).record(code, "c1", "alice", "ok", "")
        assert not await PullLedger(store.redis).record(code, "c2", 1, "alice")
        assert await counts(store, code) == ({"c1": {"1": 1}}, {"c1": {"ok": 1, "error": 0, "errors": {}}})

        # she comes back: counted again at the next tick, with what she had
        await store.touch_student(code, "alice")
        assert await store.settle_attendance(code) == 1
        assert await counts(store, code) == both

        # she leaves, comes back and reports before any tick: her report puts her back first
        raw.zadd(keys.students_key(code), {"alice": time.time() - STUDENT_WINDOW_SECONDS - 5})
        assert await store.settle_attendance(code) == 1
        await store.touch_student(code, "alice")
        assert await RunLedger(store.redis).record(code, "c1", "alice", "ok", "")
        assert await counts(store, code) == ({"c1": {"1": 2}}, {"c1": {"ok": 2, "error": 0, "errors": {}}})
        assert await store.settle_attendance(code) == 0

        # bob moves to version 2, then leaves: his count goes with him from the version he has
        await store.publish_cell(code, "c1", clean("x = 10"))
        assert await PullLedger(store.redis).record(code, "c1", 2, "bob")
        assert (await counts(store, code))[0] == {"c1": {"1": 1, "2": 1}}
        raw.zadd(keys.students_key(code), {"bob": time.time() - STUDENT_WINDOW_SECONDS - 5})
        assert await store.settle_attendance(code, now=time.time()) == 1
        assert await counts(store, code) == ({"c1": {"1": 1}}, {"c1": {"ok": 1, "error": 0, "errors": {}}})

        # a key rotation: nobody is present until they come back, then everyone counts again
        await store.rotate_key(code)
        last = await store.last_event_id(code)
        assert await store.settle_attendance(code) == 1  # alice (bob was out already)
        assert dict(await told(store, code, last))[EVENT_PULLED]["pulls"] == {}  # nobody at any version
        assert await counts(store, code) == ({}, {})
        for client in ("alice", "bob"):
            await store.touch_student(code, client)
        assert await store.settle_attendance(code) == 2
        assert await counts(store, code) == ({"c1": {"1": 1, "2": 1}}, {"c1": {"ok": 2, "error": 0, "errors": {}}})

        # the session's end takes the attendance keys with it
        await store.delete_session(code)
        assert raw.exists(keys.counted_key(code), keys.client_cells_key(code), keys.pulls_by_client_key(code)) == 0
        assert await store.settle_attendance(code) == -1
    finally:
        raw.close()
        await store.redis.aclose()


async def test_attendance_on_a_redis_cluster(cs_redis_cluster):
    """Every key of a settle has the session's hash tag: one slot, whichever node holds it."""
    commands, blocking = make_clients(cs_redis_cluster.url)
    store = SessionStore(commands)
    try:
        code = await a_class(store)
        assert len({keys.session_key(code).split("}")[0], keys.counted_key(code).split("}")[0],
                    keys.client_cells_key(code).split("}")[0], keys.pulls_by_client_key(code).split("}")[0]}) == 1
        assert await store.settle_attendance(code, now=time.time() + STUDENT_WINDOW_SECONDS + 5) == 2
        assert await counts(store, code) == ({}, {})
        assert await store.settle_attendance(code) == 2  # both still present by the real clock
        assert (await counts(store, code))[0] == {"c1": {"1": 2}}
        await store.delete_session(code)
    finally:
        await commands.aclose()
        await blocking.aclose()


def test_the_servers_heartbeat_takes_a_student_who_left_out_of_the_counts(cs_jupyter_server_factory, cs_redis):
    """End to end on a real teacher server (heartbeat every second): a student reports a pull and
    a run while its event stream is open; it closes the stream and is gone for over 60 s; the
    server's heartbeat tick takes both out of the cell list's counts and tells the teacher's
    stream, with the counts."""
    server = cs_jupyter_server_factory("attendance", env={"CODESTREAM_REDIS_URL": cs_redis.url},
                                       args=["--CodeStreamApp.heartbeat_seconds=1"])
    teacher = server.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "x = 1", 0)
    student = {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "laptop-9"}
    events = f"{server.url}codestream/api/sessions/{code}/events"
    watching = SSEReader(events, server.auth_headers())
    leaving = SSEReader(events, student)
    raw = sync_redis.Redis.from_url(cs_redis.url, decode_responses=True)
    try:
        as_student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
        base = f"codestream/api/sessions/{code}/cells/c1"
        assert as_student.post(f"{base}/pulled", json={"version": 1, "client": "laptop-9"}).status_code == 204
        assert as_student.post(f"{base}/runs", json={"version": 1, "client": "laptop-9", "state": "error",
                                                     "ename": "ZeroDivisionError"}).status_code == 204

        def cell() -> dict:
            return teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"][0]

        assert (cell()["pulls"], cell()["runs"]["error"]) == ({"1": 1}, 1)
        (client,) = raw.smembers(keys.counted_key(code))  # the server's opaque id of "laptop-9"
        leaving.close()
        assert leaving.ended.wait(10), "the student's stream did not end"

        def left_and_settled() -> bool:
            # the server marks a client present until a heartbeat finds its stream closed
            raw.zadd(keys.students_key(code), {client: time.time() - STUDENT_WINDOW_SECONDS - 5})
            return cell()["pulls"] == {}

        wait_until(left_and_settled, 30, interval=0.2, what="the count without the student who left")
        assert cell()["runs"] == {"ok": 0, "error": 0, "errors": {}}
        told_counts = [json.loads(e["data"]) for e in watching.events if e["event"] in ("pulled", "runs")]
        assert {"session": code, "cell_id": "c1", "pulls": {}} in told_counts
        assert {"session": code, "cell_id": "c1", "runs": {"ok": 0, "error": 0, "errors": {}}} in told_counts
    finally:
        raw.close()
        leaving.close()
        watching.close()
