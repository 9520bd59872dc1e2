"""Unit tests of the event fan-out's stream internals: caps, the heartbeat tick's key check and
presence batch, and a parked listener's heartbeat and wake-ups. Pure: an in-memory stand-in
for the session store (the integration side is tests/test_stream_caps.py, on real servers)."""

from __future__ import annotations

import asyncio

import pytest

from jupyter_ext.domain import TooManyStreams
from jupyter_ext.domain.events import EVENT_SESSION_ENDED, HEARTBEAT, Event
from jupyter_ext.store.listener import Listener
from jupyter_ext.store import EventFanout


class MemoryStore:
    """What the hub asks of the store, in memory: key hashes and presence writes."""

    def __init__(self):
        self.key_hashes: dict[str, str] = {}
        self.touched: list[tuple[str, str, list[str]]] = []
        self.settled: list[str] = []

    async def last_event_id(self, code):
        return "0-0"

    async def events_after(self, code, after_id):
        return []

    async def read_events(self, redis, code, cursor, block_ms):
        await asyncio.sleep(3600)  # no events in these tests

    async def session_exists(self, code):
        return code in self.key_hashes

    async def touch_students(self, code, key_hash, client_ids):
        current = self.key_hashes.get(code)
        if current == key_hash:
            self.touched.append((code, key_hash, list(client_ids)))
        return current

    async def settle_attendance(self, code):
        self.settled.append(code)
        return 0


@pytest.fixture
async def hub():
    store = MemoryStore()
    hub = EventFanout(store, blocking_redis=None, max_streams=3, max_streams_per_session=2,
                   heartbeat_seconds=0.05)
    yield hub, store
    await hub.close()


async def test_caps_refuse_the_next_stream_and_a_closed_one_frees_its_place(hub):
    hub, store = hub
    a = (await hub.subscribe("AAAAAA"))[0]
    await hub.subscribe("AAAAAA")
    with pytest.raises(TooManyStreams) as refused:
        await hub.subscribe("AAAAAA")  # per session
    assert refused.value.status == 503 and refused.value.code == "too_many_streams"
    assert refused.value.retry_after > 0
    await hub.subscribe("BBBBBB")
    with pytest.raises(TooManyStreams):
        await hub.subscribe("CCCCCC")  # per process
    assert hub.listener_count() == 3 and hub.listener_count("AAAAAA") == 2
    hub.unsubscribe(a)
    hub.unsubscribe(a)  # twice is harmless
    assert hub.listener_count() == 2
    await hub.subscribe("CCCCCC")


async def test_tick_batches_presence_per_session_and_closes_a_rotated_key(hub):
    hub, store = hub
    store.key_hashes["AAAAAA"] = "old"
    old = [(await hub.subscribe("AAAAAA", key_hash="old", client_id=f"s{i}"))[0] for i in range(2)]
    teacher = (await hub.subscribe("BBBBBB"))[0]  # the teacher's own auth: no key, no presence
    store.key_hashes["BBBBBB"] = "other"
    for _ in range(100):
        if store.touched:
            break
        await asyncio.sleep(0.01)
    assert store.touched[0] == ("AAAAAA", "old", ["s0", "s1"]), "one write for the session's streams"
    for _ in range(100):
        if {"AAAAAA", "BBBBBB"} <= set(store.settled):
            break
        await asyncio.sleep(0.01)
    # each session's counts are settled every tick, also where only the teacher's stream is open
    assert {"AAAAAA", "BBBBBB"} <= set(store.settled)
    store.key_hashes["AAAAAA"] = "new"
    store.touched.clear()
    for _ in range(100):
        if all(listener._closed for listener in old):
            break
        await asyncio.sleep(0.01)
    assert all(listener._closed for listener in old), "the rotated-away key's streams are closed"
    assert store.touched == [], "nothing written for them"
    assert not teacher._closed


async def test_tick_ends_the_streams_of_a_session_that_is_gone(hub):
    hub, store = hub
    listener = (await hub.subscribe("AAAAAA", key_hash="k", client_id="s"))[0]  # no such session
    for _ in range(100):
        if listener._closed:
            break
        await asyncio.sleep(0.01)
    event = listener.pop()
    assert event.name == EVENT_SESSION_ENDED
    with pytest.raises(StopAsyncIteration):
        listener.pop()


async def test_a_parked_listener_takes_live_events_and_heartbeats_through_its_sink():
    written = []
    listener = Listener("AAAAAA", "1-0")
    listener.sink = lambda item: written.append(item) or True
    listener.heartbeat()
    assert written == [], "not parked: the consumer is busy, no heartbeat needed"
    waiter = listener.parked()
    listener.heartbeat()
    listener.deliver(Event("1-0", "published", {"cell_id": "a"}))  # already sent: skipped
    listener.deliver(Event("2-0", "published", {"cell_id": "b"}))
    assert [getattr(x, "id", x) for x in written] == [HEARTBEAT, "2-0"] and not waiter.done()
    listener.sink = lambda item: False  # a slow reader: the event is queued, the consumer woken
    listener.deliver(Event("3-0", "updated", {"cell_id": "b"}))
    assert waiter.done() and listener.pop().id == "3-0" and listener.pop() is None
    listener.close()
    with pytest.raises(StopAsyncIteration):
        listener.pop()


async def test_next_with_a_timer_still_serves_the_student_side():
    listener = Listener("AAAAAA", "0-0")
    assert await listener.next(timeout=0.01) is None  # time for a heartbeat
    listener.deliver(Event("1-0", "published", {"cell_id": "a"}))
    assert (await listener.next(timeout=1)).id == "1-0"
    listener.close()
    with pytest.raises(StopAsyncIteration):
        await listener.next(timeout=1)
