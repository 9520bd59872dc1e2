"""Fan-out of session events to every listener in this process.

One blocking ``XREAD`` loop per session that has listeners (not one per listener), so a
thousand open event streams cost one Redis connection. A listener that resumes from a
``Last-Event-ID`` first gets what the stream kept after that id, then the live events,
with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from ..domain.events import STORE_REACHABLE, STORE_UNREACHABLE
from .sessions import EVENT_SESSION_ENDED, Event, SessionStore, stream_id_tuple

LISTENER_QUEUE_SIZE = 2048


class ListenerOverflow(Exception):
    """A listener fell too far behind; it should reconnect with its Last-Event-ID."""


@dataclass(frozen=True)
class Notice:
    """A comment line for one consumer's stream (``: text``): no id, no event name, never
    replayed. SSE clients ignore comments; the student dashboard reads its relay's state from them."""

    text: str
    name = ""  # not an event: nothing compares it with ``session_ended``

    def sse(self) -> str:
        return f": {self.text}\n\n"


class Listener:
    """One consumer's events, in order, bounded by ``LISTENER_QUEUE_SIZE``.

    A deque and one waiter future, not an ``asyncio.Queue`` read through ``wait_for``: with a
    thousand listeners every event wakes a thousand consumers, and ``wait_for`` (Python < 3.12)
    makes a task per call; this costs one future per wait and nothing when events are pending.
    """

    def __init__(self, code: str, after_id: str):
        self.code = code
        self.after_id = after_id  # also sets the parsed key the per-event comparisons use
        self.overflowed = False
        # Set by a consumer that can write an event at once (an SSE handler): used while the
        # consumer is parked with nothing pending, so the fan-out loop writes to every stream
        # without waking a task per stream. Returns False when it cannot (client gone or slow);
        # the event is then queued for the consumer as usual.
        self.sink: Callable[[Event], bool] | None = None
        self._pending: deque[Event | Notice] = deque()
        self._closed = False
        self._waiter: asyncio.Future | None = None

    @property
    def after_id(self) -> str:
        """The newest event id this consumer has (been) sent."""
        return self._after_id

    @after_id.setter
    def after_id(self, event_id: str) -> None:
        self._after_id = event_id
        self._after_key = stream_id_tuple(event_id)

    def deliver(self, event: Event) -> None:
        if self._closed:
            return
        if (self.sink is not None and self._waiter is not None and not self._pending
                and event.name != EVENT_SESSION_ENDED):
            key = event.sort_key()
            if key <= self._after_key:
                return  # already sent during replay
            if self.sink(event):
                self._after_id, self._after_key = event.id, key
                return
        if len(self._pending) >= LISTENER_QUEUE_SIZE:
            self.overflowed = True
            self.close()
            return
        self._pending.append(event)
        self._wake()

    def notice(self, text: str) -> None:
        """Queue a ``Notice`` for this consumer, in order with its events."""
        if self._closed:
            return
        if len(self._pending) >= LISTENER_QUEUE_SIZE:
            self.overflowed = True
            self.close()
            return
        self._pending.append(Notice(text))
        self._wake()

    def close(self) -> None:
        """Stream over: the consumer gets what is pending, then stops."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def next(self, timeout: float) -> Event | Notice | None:
        """The next new event (or notice), or ``None`` on timeout (time for a heartbeat).

        Raises ``StopAsyncIteration`` when the stream is over.
        """
        while True:
            if not self._pending:
                if self._closed:
                    if self.overflowed:
                        raise ListenerOverflow()
                    raise StopAsyncIteration
                loop = asyncio.get_running_loop()
                self._waiter = waiter = loop.create_future()
                timer = loop.call_later(timeout, _settle_waiter, waiter)
                try:
                    await waiter
                finally:
                    timer.cancel()
                    self._waiter = None
                if not self._pending and not self._closed:
                    return None
                continue
            event = self._pending.popleft()
            if isinstance(event, Notice):
                return event
            if event.name == EVENT_SESSION_ENDED:
                return event  # final, whatever its id (a local notice reuses the last one)
            key = event.sort_key()
            if key <= self._after_key:
                continue  # already sent during replay
            self._after_id, self._after_key = event.id, key
            return event


def _settle_waiter(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)


class EventHub:
    """Owns the per-session reader tasks; every task is kept and cancelled on ``close``."""

    def __init__(self, store: SessionStore, blocking_redis: Redis, *, block_ms: int = 10_000,
                 log: logging.Logger | None = None):
        self.store = store
        self.blocking_redis = blocking_redis
        self.block_ms = block_ms
        self.log = log or logging.getLogger(__name__)
        self._listeners: dict[str, set[Listener]] = {}
        self._readers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()  # every reader, including ones being cancelled
        self._closing = False

    def listener_count(self, code: str | None = None) -> int:
        if code is not None:
            return len(self._listeners.get(code, ()))
        return sum(len(group) for group in self._listeners.values())

    @asynccontextmanager
    async def listen(self, code: str, last_event_id: str | None = None):
        """Yield a ``Listener`` and the replay of events after ``last_event_id``.

        The listener is registered and the reader started *before* the replay is read, so
        an event published in between is in the replay or in the queue (and deduplicated).
        """
        cursor = await self.store.last_event_id(code)
        listener = Listener(code, last_event_id or cursor)
        self._listeners.setdefault(code, set()).add(listener)
        self._ensure_reader(code, cursor)
        try:
            replay = []
            if last_event_id:
                replay = await self.store.events_after(code, last_event_id)
                if replay:
                    listener.after_id = replay[-1].id
            yield listener, replay
        finally:
            group = self._listeners.get(code)
            if group is not None:
                group.discard(listener)
                if not group:
                    del self._listeners[code]
                    reader = self._readers.pop(code, None)
                    if reader is not None:
                        reader.cancel()

    def end_session(self, code: str) -> None:
        """Tell this process's listeners now, without waiting for Redis to deliver it."""
        for listener in list(self._listeners.get(code, ())):
            listener.deliver(Event(id=listener.after_id, name=EVENT_SESSION_ENDED,
                                   data={"session": code}))

    def _ensure_reader(self, code: str, cursor: str) -> None:
        task = self._readers.get(code)
        if (task is None or task.done()) and not self._closing:
            task = asyncio.get_running_loop().create_task(
                self._read_loop(code, cursor), name=f"codestream-events-{code}"
            )
            self._readers[code] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _read_loop(self, code: str, cursor: str) -> None:
        backoff = 0.1
        lost = False  # told to the listeners as a comment line when it changes (see _tell)
        while self._listeners.get(code):
            try:
                events = await self.store.read_events(self.blocking_redis, code, cursor, self.block_ms)
                backoff = 0.1
                if lost:
                    lost = self._tell(code, STORE_REACHABLE)
            except asyncio.CancelledError:
                raise
            except (RedisError, RedisClusterException, OSError) as exc:  # the cluster one is no RedisError
                if self._closing:
                    return
                self.log.warning("codestream: event reader for session %s lost Redis (%s); retrying",
                                 code, type(exc).__name__)
                if not lost:
                    lost = self._tell(code, STORE_UNREACHABLE)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not events:
                if not await self._session_alive(code):
                    self._close_all(code, ended=True)
                    return
                continue
            for event in events:
                cursor = event.id
                for listener in list(self._listeners.get(code, ())):
                    listener.deliver(event)

    def _tell(self, code: str, text: str) -> bool:
        """A comment line to every listener of ``code`` (a silent stall to Redis looks like a
        quiet lecture otherwise); True when it said Redis is lost."""
        for listener in list(self._listeners.get(code, ())):
            listener.notice(text)
        return text == STORE_UNREACHABLE

    async def _session_alive(self, code: str) -> bool:
        try:
            return await self.store.session_exists(code)
        except Exception:  # a store outage is not the end of a session
            return True

    def _close_all(self, code: str, ended: bool) -> None:
        for listener in list(self._listeners.get(code, ())):
            if ended:
                listener.deliver(Event(id=listener.after_id, name=EVENT_SESSION_ENDED,
                                       data={"session": code}))
            listener.close()

    async def close(self) -> None:
        self._closing = True
        readers = list(self._tasks)
        self._readers.clear()
        for listeners in self._listeners.values():
            for listener in listeners:
                listener.close()
        pending = set(readers)
        while pending:
            # Cancel again until done: redis-py can swallow a cancel that lands in its connection
            # handshake, and the reader would then sit out a whole XREAD BLOCK.
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.2)
        await asyncio.gather(*readers, return_exceptions=True)
