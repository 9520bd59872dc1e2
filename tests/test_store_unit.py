"""SessionStore and EventFanout on fakeredis (pure unit tests; integration tests use a real Redis)."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from jupyter_ext.domain import CellNotFound, SessionNotFound
from jupyter_ext.store import EventFanout, SessionStore, keys


@pytest.fixture
def redis_client():
    server = fakeredis.FakeServer()
    return fakeredis.FakeAsyncRedis(server=server, decode_responses=True)


def clean(source, position, cell_type="code"):
    return {"source": source, "cell_type": cell_type, "position": position, "notebook_path": None}


async def test_keys_of_a_session_share_one_hash_tag(redis_client):
    store = SessionStore(redis_client)
    record, key = await store.create_session("T")
    await store.publish_cell(record.code, "a", clean("x", 0))
    session_keys = [k for k in keys.all_session_keys(record.code)]
    assert all(f"{{{record.code}}}" in k for k in session_keys)
    assert await store.check_student_key(record.code, key)
    assert not await store.check_student_key(record.code, key + "x")
    raw = await redis_client.hgetall(keys.session_key(record.code))
    assert key not in str(raw), "only the key's hash is stored"


async def test_publish_versions_and_events(redis_client):
    store = SessionStore(redis_client)
    record, _ = await store.create_session()
    code = record.code
    assert (await store.publish_cell(code, "a", clean("x", 1))).version == 1
    assert (await store.publish_cell(code, "a", clean("x", 1))).version == 1
    assert (await store.publish_cell(code, "a", clean("y", 1))).version == 2
    await store.publish_cell(code, "b", clean("z", 0))
    _, cells, last = await store.list_cells(code)
    assert [c.cell_id for c in cells] == ["b", "a"]
    events = await store.events_after(code, "0-0")
    assert [(e.name, e.data["cell_id"], e.data["version"]) for e in events] == [
        ("published", "a", 1), ("updated", "a", 2), ("published", "b", 1)]
    assert last == events[-1].id
    await store.unpublish_cell(code, "a")
    with pytest.raises(CellNotFound):
        await store.get_cell(code, "a")
    with pytest.raises(CellNotFound):
        await store.unpublish_cell(code, "a")


async def test_delete_removes_every_key(redis_client):
    store = SessionStore(redis_client)
    record, _ = await store.create_session()
    await store.publish_cell(record.code, "a", clean("x", 0))
    await store.touch_student(record.code, "s1")
    await store.delete_session(record.code)
    for key in keys.all_session_keys(record.code):
        assert not await redis_client.exists(key)
    assert await store.list_sessions() == []
    with pytest.raises(SessionNotFound):
        await store.list_cells(record.code)


async def test_list_sessions_counts_cells_and_recent_students(redis_client):
    store = SessionStore(redis_client)
    a, _ = await store.create_session("A")
    b, _ = await store.create_session("B")
    await store.publish_cell(a.code, "x", clean("1", 0))
    await store.touch_student(a.code, "s1")
    await store.touch_student(a.code, "s2")
    await redis_client.zadd(keys.students_key(a.code), {"old": 1.0})
    listed = {s["code"]: s for s in await store.list_sessions()}
    assert listed[a.code]["cells"] == 1 and listed[a.code]["students"] == 2
    assert listed[b.code]["cells"] == 0 and listed[b.code]["title"] == "B"


async def test_rotate_key_invalidates_the_old_one(redis_client):
    store = SessionStore(redis_client)
    record, old = await store.create_session()
    new = await store.rotate_key(record.code)
    assert not await store.check_student_key(record.code, old)
    assert await store.check_student_key(record.code, new)


async def test_hub_replays_then_streams_without_gap_or_duplicate(redis_client):
    store = SessionStore(redis_client)
    record, _ = await store.create_session()
    code = record.code
    await store.publish_cell(code, "a", clean("1", 0))
    first = (await store.events_after(code, "0-0"))[0].id
    await store.publish_cell(code, "b", clean("2", 1))
    hub = EventFanout(store, redis_client, block_ms=200)
    async with hub.listen(code, first) as (listener, replay):
        assert [e.data["cell_id"] for e in replay] == ["b"]
        await store.publish_cell(code, "c", clean("3", 2))
        event = await listener.next(timeout=5)
        assert event.data["cell_id"] == "c"
        assert await listener.next(timeout=0.3) is None  # nothing twice
        assert hub.listener_count(code) == 1
    assert hub.listener_count() == 0
    await hub.close()


async def test_hub_tells_listeners_when_a_session_ends(redis_client):
    store = SessionStore(redis_client)
    record, _ = await store.create_session()
    hub = EventFanout(store, redis_client, block_ms=100)
    async with hub.listen(record.code) as (listener, _replay):
        await store.delete_session(record.code)
        hub.end_session(record.code)
        event = await listener.next(timeout=5)
        assert event.name == "session_ended"
    await hub.close()
    await asyncio.sleep(0)


async def test_a_key_typed_in_lower_case_still_opens_its_session(redis_client):
    store = SessionStore(redis_client)
    record, key = await store.create_session()
    assert await store.check_student_key(record.code, f" {key.lower()} ")
    assert not await store.check_student_key(record.code, key.lower().replace("-", ""))
