"""Fan-out of session events to every listener in this process.

One blocking ``XREAD`` loop per session that has listeners (not one per listener), so a
thousand open event streams cost one Redis connection. A listener that resumes from a
``Last-Event-ID`` first gets what the stream kept after that id, then the live events,
with no gap and no duplicate.

The fan-out also owns the streams' clock: one heartbeat tick for every stream of the process (not a
timer per stream), which per session checks the student key once, closes the streams opened with
a key that was rotated away (or of a session that ended), writes one batched presence update for
the rest, settles the session's counts (students who left stop counting: attendance.py), and
sends their heartbeat comment. And it enforces the stream caps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisClusterException, RedisError

from ..domain import TooManyStreams
from ..domain.events import EVENT_SESSION_ENDED, STORE_REACHABLE, STORE_UNREACHABLE, Event
from .listener import Listener
from .sessions import SessionStore
from .stream import ANY_KEY

DEFAULT_MAX_STREAMS = 10_000
DEFAULT_MAX_STREAMS_PER_SESSION = 2_000
DEFAULT_MAX_STREAMS_PER_ADDRESS = 64
STREAM_RETRY_AFTER_SECONDS = 30
_UNKNOWN = object()


class EventFanout:
    """Owns the per-session reader tasks; every task is kept and cancelled on ``close``."""

    def __init__(self, store: SessionStore, blocking_redis: Redis, *, block_ms: int = 10_000,
                 max_streams: int = DEFAULT_MAX_STREAMS,
                 max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION,
                 max_streams_per_address: int = DEFAULT_MAX_STREAMS_PER_ADDRESS,
                 heartbeat_seconds: float = 15.0, log: logging.Logger | None = None,
                 audit: Callable[[str, list[Listener]], Awaitable[Iterable[Listener]]] | None = None):
        self.store = store
        self.blocking_redis = blocking_redis
        self.block_ms = block_ms
        self.max_streams = max_streams
        self.max_streams_per_session = max_streams_per_session
        self.max_streams_per_address = max_streams_per_address
        # Re-checks the readers let in by a grant (hub group members) at each tick; returns the
        # listeners whose grant no longer holds, which are closed (see ``Listener.grant``).
        self.audit = audit
        self.heartbeat_seconds = heartbeat_seconds
        self.log = log or logging.getLogger(__name__)
        self._listeners: dict[str, set[Listener]] = {}
        self._count = 0
        self._per_address: dict[str, int] = {}
        self._readers: dict[str, asyncio.Task] = {}
        self._tasks: set[asyncio.Task] = set()  # every reader and the tick, including ones being cancelled
        self._tick: asyncio.Task | None = None
        self._closing = False

    def listener_count(self, code: str | None = None) -> int:
        if code is not None:
            return len(self._listeners.get(code, ()))
        return self._count

    def check_caps(self, code: str, address: str | None = None) -> None:
        """``TooManyStreams`` when one more stream would pass a cap; open streams are untouched.

        ``address`` is who opens it (a remote address, or a hub user): one machine holding the
        key can take at most ``max_streams_per_address`` places, never every one."""
        if address is not None and self._per_address.get(address, 0) >= self.max_streams_per_address:
            raise TooManyStreams(
                f"This client already has its maximum of {self.max_streams_per_address} event streams"
                f" on this server; close one or retry in {STREAM_RETRY_AFTER_SECONDS} seconds.")
        if self._count >= self.max_streams:
            raise TooManyStreams(
                f"This server already serves its maximum of {self.max_streams} event streams;"
                f" retry in {STREAM_RETRY_AFTER_SECONDS} seconds.")
        if len(self._listeners.get(code, ())) >= self.max_streams_per_session:
            raise TooManyStreams(
                f"This session already has its maximum of {self.max_streams_per_session} event"
                f" streams on this server; retry in {STREAM_RETRY_AFTER_SECONDS} seconds.")

    async def subscribe(self, code: str, last_event_id: str | None = None, *,
                        key_hash: str | None = None, client_id: str | None = None,
                        address: str | None = None, grant: object = None, teacher: bool = False
                        ) -> tuple[Listener, list[Event]]:
        """A registered ``Listener`` and the replay of events after ``last_event_id``; the
        caller must ``unsubscribe`` it (``listen`` is the same as a context manager).

        The listener is registered and the reader started *before* the replay is read, so
        an event published in between is in the replay or in the queue (and deduplicated).
        """
        self.check_caps(code, address)
        cursor = await self.store.last_event_id(code)
        self.check_caps(code, address)  # again: others may have joined while we waited for Redis
        listener = Listener(code, last_event_id or cursor, key_hash=key_hash, client_id=client_id,
                            teacher=teacher)
        listener.address, listener.grant = address, grant
        self._listeners.setdefault(code, set()).add(listener)
        self._count += 1
        if address is not None:
            self._per_address[address] = self._per_address.get(address, 0) + 1
        self._ensure_reader(code, cursor)
        self._ensure_tick()
        try:
            replay = []
            if last_event_id:
                replay = await self.store.events_after(code, last_event_id)
                if replay:
                    listener.after_id = replay[-1].id
                    replay = [event for event in replay if event.audience is None or listener.may_see(event)]
        except BaseException:
            self.unsubscribe(listener)
            raise
        return listener, replay

    def unsubscribe(self, listener: Listener) -> None:
        code = listener.code
        group = self._listeners.get(code)
        if group is None or listener not in group:
            return
        group.discard(listener)
        self._count -= 1
        address = listener.address
        if address is not None:
            left = self._per_address.get(address, 1) - 1
            if left > 0:
                self._per_address[address] = left
            else:
                self._per_address.pop(address, None)
        if not group:
            del self._listeners[code]
            reader = self._readers.pop(code, None)
            if reader is not None:
                reader.cancel()

    @asynccontextmanager
    async def listen(self, code: str, last_event_id: str | None = None, **who):
        """``subscribe`` as a context manager: yields ``(listener, replay)``."""
        listener, replay = await self.subscribe(code, last_event_id, **who)
        try:
            yield listener, replay
        finally:
            self.unsubscribe(listener)

    def revoke_keys_except(self, code: str, key_hash: str | None) -> int:
        """Close this process's streams of ``code`` opened with a student key other than
        ``key_hash`` (``None``: the session ended, close every student stream). Returns how many."""
        closed = 0
        for listener in list(self._listeners.get(code, ())):
            if listener.key_hash is not None and listener.key_hash != key_hash:
                listener.close()
                closed += 1
        return closed

    # -- the heartbeat tick ----------------------------------------------------------------
    def _ensure_tick(self) -> None:
        if (self._tick is None or self._tick.done()) and not self._closing:
            self._tick = task = asyncio.get_running_loop().create_task(
                self._tick_loop(), name="codestream-heartbeat")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _tick_loop(self) -> None:
        """Every ``heartbeat_seconds`` while streams are open: each session's key check, presence
        and heartbeats (``_tick_session``); one session's Redis trouble never stops the others."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while self._listeners and not self._closing:
            due = max(due + self.heartbeat_seconds, loop.time())  # a slow tick never stretches the next
            await asyncio.sleep(due - loop.time())
            for code in list(self._listeners):
                try:
                    await self._tick_session(code)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a Redis blip: heartbeats go on, presence waits a tick
                    self.log.debug("codestream: heartbeat tick of session %s: %s", code, type(exc).__name__)
                    self._heartbeat(code)

    async def _tick_session(self, code: str) -> None:
        listeners = self._listeners.get(code)
        if not listeners:
            return
        clients: dict[str, set[str]] = {}  # key hash -> client ids
        members: set[str] = set()  # readers by identity (hub members): no key to revoke
        for listener in listeners:
            if listener.key_hash is not None:
                clients.setdefault(listener.key_hash, set()).add(listener.client_id or "")
            elif listener.client_id:
                members.add(listener.client_id)
        if members and await self.store.touch_students(code, ANY_KEY, sorted(members)) is None:
            self._close_all(code, ended=True)
            return
        granted = [listener for listener in listeners if listener.grant is not None]
        if granted and self.audit is not None:
            for listener in await self.audit(code, granted):
                listener.close()  # its reader may no longer read: the stream ends, a reconnect is refused
        current: object = _UNKNOWN
        for key_hash, ids in clients.items():
            if current is not _UNKNOWN and key_hash != current:
                continue  # revoked below with the first group that told us the current key
            current = await self.store.touch_students(code, key_hash, sorted(i for i in ids if i))
            if current is None:  # the session is gone: every stream gets session_ended
                self._close_all(code, ended=True)
                return
            if current != key_hash:
                self.revoke_keys_except(code, current)
        await self.store.settle_attendance(code)  # who left stops counting, who came back counts again
        self._heartbeat(code)

    def _heartbeat(self, code: str) -> None:
        for listener in list(self._listeners.get(code, ())):
            listener.heartbeat()

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
                    listener.deliver(event)  # drops what this listener may not see (``Event.audience``)

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
        self._tick = None
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
