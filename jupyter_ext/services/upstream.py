"""The student's upstream: ONE event stream from the teacher (or its read relay), shared by
every local listener (the student dashboard, a second tab, ...).

``UpstreamEvents`` always knows where it stands in the teacher's stream (``cursor``, the id of
the last event it received), so a dropped upstream connection is resumed with
``Last-Event-ID: <cursor>`` after a backoff and nothing published during the drop is
missed. It keeps the last few events so a local listener that reconnects with its own
``Last-Event-ID`` is replayed from memory; one that asks for something older makes it
re-open its single upstream stream from that point. It stops when nobody listens.

When the teacher's session advertises a ``relay_url`` (read relays for a large lecture), the
stream is read from there; a failed attempt tries the other source next (relays and the
teacher's server serve the same event ids, so a resume works across them). A relay that is
shutting down ends its streams (or answers ``503 relay_draining``): the stream is resumed at
once with ``Last-Event-ID``, on another relay replica or the teacher's server.

Cell reads go the same way (``reads.SessionReader``): the advertised relay first, the teacher's
server on any failure there, its answer final (the teacher is the authority on keys and sessions).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections import deque
from contextlib import asynccontextmanager

from ..clients.sse import ServerSentEvent
from ..clients.teacher import TeacherClient, TeacherConnection
from ..domain import CodeStreamError, InvalidInput, SessionNotFound, TooManyRequests, Unauthorized
from ..domain.events import (
    EVENT_SESSION_ENDED,
    TEACHER_REACHABLE,
    TEACHER_STREAM_REFUSED,
    TEACHER_UNREACHABLE,
    Event,
    stream_id_tuple,
    validate_event_id,
)
from ..domain.jsonlimits import loads_bounded
from ..store.listener import Listener
from .reads import SessionReader

START_OF_STREAM = "0-0"


def valid_event_id(raw: str | None) -> str | None:
    """A Last-Event-ID worth sending upstream (a Redis stream id the teacher accepts), else None."""
    try:
        return validate_event_id(raw)
    except InvalidInput:
        return None


def _after(a: str, b: str) -> bool:
    return stream_id_tuple(a) > stream_id_tuple(b)


class UpstreamEvents:
    """One session's events, read once from the teacher, fanned out to this server's listeners."""

    def __init__(self, teacher: TeacherClient, connection: TeacherConnection, *,
                 backoff_initial: float = 0.5, backoff_max: float = 15.0, buffer_size: int = 1000,
                 buffer_bytes: int = 4 * 1024 * 1024, reader: SessionReader | None = None,
                 log: logging.Logger | None = None, on_event=None):
        self.teacher = teacher
        self.on_event = on_event  # sees every event first (the student's own hand states)
        self.connection = connection
        self.reader = reader or SessionReader(teacher, log=log)
        self._sources = [connection]  # where the stream is read: an advertised relay first, then the teacher
        self._source = 0
        self.code = connection.session_code or ""
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.log = log or logging.getLogger(__name__)
        self._listeners: set[Listener] = set()
        self._buffer: deque[Event] = deque()
        self._buffer_sizes: deque[int] = deque()  # each kept event's size on the wire
        self._buffered_bytes = 0
        self._buffer_size = max(1, buffer_size)
        self._buffer_bytes = max(1, buffer_bytes)
        self._horizon = START_OF_STREAM  # the buffer holds every event after this id up to _cursor
        self._cursor = START_OF_STREAM
        self._newest = START_OF_STREAM
        self._task: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # every upstream task, kept until it has ended
        self._lock = asyncio.Lock()
        self._closed = False
        self.upstream_lost = False  # told to every local listener as a comment line when it changes
        # why the teacher's stream was refused (an event over the client's bound ...), told to
        # every local listener until a good event or heartbeat arrives
        self.refused: str | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def listener_count(self) -> int:
        return len(self._listeners)

    @asynccontextmanager
    async def listen(self, last_event_id: str | None = None):
        """Yield ``(listener, replay)``: first send ``replay``, then the listener's events.

        Raises the upstream's error (``unauthorized``, ``session_not_found``, ``unreachable``
        ...) when the upstream stream has to start and its first connection fails.
        """
        async with self._lock:
            listener, replay = await self._join(valid_event_id(last_event_id))
            if self.upstream_lost:
                listener.notice(TEACHER_UNREACHABLE)
            if self.refused:
                listener.notice(f"{TEACHER_STREAM_REFUSED} {self.refused}")
        try:
            yield listener, replay
        finally:
            self._leave(listener)

    async def _join(self, after: str | None) -> tuple[Listener, list[Event]]:
        if self._closed:
            raise SessionNotFound("The session changed; reconnect to follow the new one.")
        if not self.running:
            start = await self._teacher_cursor()
            if after is not None:
                start = after
            self._reset(start)
            listener = self._add(Listener(self.code, start))
            try:
                await self._start(wait=True)
            except BaseException:
                self._listeners.discard(listener)
                raise
            return listener, []
        if after is None:
            return self._add(Listener(self.code, self._newest)), []
        if not _after(self._horizon, after):
            replay = [event for event in self._buffer if _after(event.id, after)]
            return self._add(Listener(self.code, replay[-1].id if replay else after)), replay
        # Older than anything kept: re-open the one upstream stream from there. Listeners that
        # already saw those events skip them by id, so nobody gets one twice.
        await self._stop_task()
        self._reset(after)
        listener = self._add(Listener(self.code, after))
        await self._start(wait=False)
        return listener, []

    def _add(self, listener: Listener) -> Listener:
        self._listeners.add(listener)
        return listener

    def _leave(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        if not self._listeners and self._task is not None:
            self._task.cancel()  # kept in self._tasks until it has finished
            self._task = None

    def _reset(self, cursor: str) -> None:
        self._buffer.clear()
        self._buffer_sizes.clear()
        self._buffered_bytes = 0
        self._horizon = self._cursor = cursor
        if _after(cursor, self._newest):
            self._newest = cursor

    async def _teacher_cursor(self) -> str:
        """Where the teacher's stream stands now (so even the first drop loses nothing), and
        whether the session's events are to be read from a relay."""
        listing = await self.reader.list_cells(self.connection)
        relay = self.reader.directory.relay_for(self.connection)
        self._sources = [self.connection] if relay is None else [relay, self.connection]
        self._source = 0
        return valid_event_id(listing.get("last_event_id")) or START_OF_STREAM

    async def _start(self, *, wait: bool) -> None:
        first: asyncio.Future = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(self._run(first), name=f"codestream-upstream-{self.code}")
        self._task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if wait:
            await asyncio.shield(first)

    async def _stop_task(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self, first: asyncio.Future) -> None:
        backoff = self.backoff_initial
        failures_in_row = 0
        ends_in_row = 0  # streams ended without an event in between (a relay shutting down: once)
        refusals = 0  # streams in a row that broke a bound: each waits longer before the next
        try:
            while self._listeners:
                source = self._sources[self._source]
                streaming = False
                try:
                    async with self.teacher.open_events(source, self._cursor, on_comment=self._comment) as events:
                        _settle(first)
                        streaming = True
                        if self.refused is None:
                            self._set_upstream_lost(False)
                        opened = time.monotonic()
                        backoff = min(self.backoff_initial * 2 ** refusals, self.backoff_max)
                        failures_in_row = 0
                        async for sse in events:
                            event = self._event_from(sse)
                            if event is not None:
                                ends_in_row = refusals = 0
                                self._clear_refusal()
                                if self._receive(event):
                                    return
                    if time.monotonic() - opened >= self.backoff_max:
                        ends_in_row = 0  # a long-lived stream ending is news, not a loop
                    ends_in_row += 1
                    self._source = 0  # the advertised relay first again: another replica answers
                    if ends_in_row == 1:
                        self.log.info("codestream: the event stream of %s ended; resuming at once",
                                      self.code)
                        continue
                    self.log.info("codestream: the teacher closed the event stream of %s; reconnecting",
                                  self.code)
                except asyncio.CancelledError:
                    raise
                except CodeStreamError as exc:
                    authoritative = source == self.connection  # a relay's refusal is not final
                    if authoritative and isinstance(exc, (Unauthorized, TooManyRequests, SessionNotFound)):
                        if _settle(first, exc):
                            return
                        self.log.warning("codestream: the teacher refused the event stream of %s (%s);"
                                         " closing it", self.code, exc.code)
                        if isinstance(exc, SessionNotFound):
                            self._deliver(Event(id=self._cursor, name=EVENT_SESSION_ENDED,
                                                data={"session": self.code}))
                        return
                    if streaming and exc.code == "bad_response":  # the stream itself broke a rule
                        refusals += 1
                        self._refuse(exc.message)
                    failures_in_row += 1
                    self._source = (self._source + 1) % len(self._sources)
                    if failures_in_row < len(self._sources):
                        continue  # try the other source at once
                    if _settle(first, exc):
                        return
                    self.log.warning("codestream: lost the teacher's event stream of %s (%s);"
                                     " retrying in %.1f s", self.code, exc.code, backoff)
                    self._set_upstream_lost(True)
                await asyncio.sleep(backoff * random.uniform(0.8, 1.0))
                backoff = min(backoff * 2, self.backoff_max)
                failures_in_row = 0
        finally:
            _settle(first, SessionNotFound("The event stream closed; reconnect."))
            if self._task is asyncio.current_task():
                self._task = None
                for listener in list(self._listeners):
                    listener.close()

    def _event_from(self, sse: ServerSentEvent) -> Event | None:
        event_id = valid_event_id(sse.id)
        try:
            data = loads_bounded(sse.data) if sse.data else {}
        except ValueError:  # JSONTooDeep too: a nested event is skipped like a malformed one
            data = None
        if not isinstance(data, dict) or (event_id is None and sse.event != EVENT_SESSION_ENDED):
            self.log.warning("codestream: skipped a malformed event from the teacher (session %s)", self.code)
            return None
        return Event(id=event_id or self._cursor, name=sse.event, data=data)

    def _receive(self, event: Event) -> bool:
        """Keep and fan out one upstream event; True when the session has ended."""
        if event.name == EVENT_SESSION_ENDED:
            self._deliver(event)
            return True
        if not _after(event.id, self._cursor):
            return False  # already had it
        self._cursor = event.id
        if _after(event.id, self._newest):
            self._newest = event.id
        self._keep(event)
        self._deliver(event)
        return False

    def _keep(self, event: Event) -> None:
        """Buffer ``event`` for replays, within ``buffer_size`` events and ``buffer_bytes``."""
        size = _wire_size(event)
        self._buffer.append(event)
        self._buffer_sizes.append(size)
        self._buffered_bytes += size
        while len(self._buffer) > self._buffer_size or (
                self._buffered_bytes > self._buffer_bytes and len(self._buffer) > 1):
            self._horizon = self._buffer.popleft().id
            self._buffered_bytes -= self._buffer_sizes.popleft()

    def _comment(self, text: str) -> None:
        """A heartbeat from the teacher: its stream is well-formed again."""
        if text == "heartbeat":
            self._clear_refusal()

    def _refuse(self, message: str) -> None:
        """The stream broke a bound: say so to every local listener (the dashboard shows it)."""
        self.refused = message
        self.log.warning("codestream: refused the teacher's event stream of %s: %s", self.code, message)
        self._set_upstream_lost(True)
        for listener in list(self._listeners):
            listener.notice(f"{TEACHER_STREAM_REFUSED} {message}")

    def _clear_refusal(self) -> None:
        if self.refused is not None:
            self.refused = None
            self._set_upstream_lost(False)

    def _set_upstream_lost(self, lost: bool) -> None:
        """Tell the local listeners (the dashboard's light) when the teacher stops or starts answering."""
        if lost == self.upstream_lost:
            return
        self.upstream_lost = lost
        for listener in list(self._listeners):
            listener.notice(TEACHER_UNREACHABLE if lost else TEACHER_REACHABLE)

    def _deliver(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)
        for listener in list(self._listeners):
            listener.deliver(event)

    async def close(self) -> None:
        """Stop the upstream stream and end every local listener's stream."""
        self._closed = True
        for listener in list(self._listeners):
            listener.close()
        self._task = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _wire_size(event: Event) -> int:
    """About what the event took on the wire (its data as JSON, its id and name)."""
    return len(json.dumps(event.data)) + len(event.id) + len(event.name)


def _settle(first: asyncio.Future, exc: BaseException | None = None) -> bool:
    """Report the first connection's outcome once; True if this call reported it."""
    if first.done():
        return False
    if exc is None:
        first.set_result(None)
    else:
        first.set_exception(exc)
        first.exception()  # mark retrieved: a listener that went away must not log it
    return True
