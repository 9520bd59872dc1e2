"""Fan-out of session events to every listener in this process.

One blocking ``XREAD`` loop per session that has listeners (not one per listener), so a
thousand open event streams cost one Redis connection. A listener that resumes from a
``Last-Event-ID`` first gets what the stream kept after that id, then the live events,
with no gap and no duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from ..domain.events import EVENT_SESSION_ENDED, Event, Listener
from .sessions import SessionStore


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
        while self._listeners.get(code):
            try:
                events = await self.store.read_events(self.blocking_redis, code, cursor, self.block_ms)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except (RedisError, RedisClusterException, OSError) as exc:  # the cluster one is no RedisError
                if self._closing:
                    return
                self.log.warning("codestream: event reader for session %s lost Redis (%s); retrying",
                                 code, type(exc).__name__)
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
