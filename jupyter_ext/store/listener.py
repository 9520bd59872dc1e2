"""One consumer's queue of a session's events (an SSE stream, a relay's upstream reader).

Kept out of the pure domain: it parks consumers on asyncio futures. The fan-out in
``store/events.py`` fills it; the SSE writer (``web/sse.py``) drains it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from ..domain.events import AUDIENCE_TEACHER, EVENT_SESSION_ENDED, HEARTBEAT, Event, Notice, stream_id_tuple

LISTENER_QUEUE_SIZE = 2048


class ListenerOverflow(Exception):
    """A listener fell too far behind; it should reconnect with its Last-Event-ID."""



class Listener:
    """One consumer's events, in order, bounded by ``LISTENER_QUEUE_SIZE``.

    A deque and one waiter future, not an ``asyncio.Queue`` read through ``wait_for``: with a
    thousand listeners every event wakes a thousand consumers, and ``wait_for`` (Python < 3.12)
    makes a task per call; this costs one future per wait and nothing when events are pending.
    """

    def __init__(self, code: str, after_id: str, *, key_hash: str | None = None,
                 client_id: str | None = None, teacher: bool = False):
        self.code = code
        self.after_id = after_id  # also sets the parsed key the per-event comparisons use
        self.overflowed = False
        # What the fan-out's heartbeat tick needs: the hash of the student key this stream was opened
        # with (None: the teacher's own auth, never revoked by a rotation) and the student server
        # it counts as present.
        self.key_hash = key_hash
        self.client_id = client_id
        # Who opened it, for the per-address stream cap (a remote address, or a hub user), and
        # what let its reader in when that can be withdrawn (a hub group membership): re-checked
        # at the fan-out's tick by its ``audit`` hook. Both set by the event fan-out.
        self.address: str | None = None
        self.grant: object = None
        # Teacher-authenticated streams get every event; others only the public ones and the
        # events addressed to their own client (``may_see``).
        self.teacher = teacher
        self._own_audience = f"{AUDIENCE_TEACHER}:{client_id}" if client_id else None
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

    def may_see(self, event: Event) -> bool:
        """One comparison per listener and event: public, teacher, or addressed to this client."""
        audience = event.audience
        return audience is None or self.teacher or audience == self._own_audience

    def deliver(self, event: Event) -> None:
        if self._closed or (event.audience is not None and not self.may_see(event)):
            return
        if (self.sink is not None and self._parked() and not self._pending
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

    def _parked(self) -> bool:
        waiter = self._waiter
        return waiter is not None and not waiter.done()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def heartbeat(self) -> None:
        """From the fan-out's tick: a parked stream gets its heartbeat comment written at once.

        A stream with events pending or bytes in flight is not idle, so it needs none.
        """
        if self.sink is not None and self._parked() and not self._pending and not self._closed:
            self.sink(HEARTBEAT)

    def pop(self) -> Event | Notice | None:
        """The next new event (or notice), ``None`` when nothing is pending.

        Raises ``StopAsyncIteration`` (or ``ListenerOverflow``) when the stream is over.
        Only the consumer calls it, awake: whatever it parked on is settled.
        """
        self._waiter = None
        while self._pending:
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
        if self._closed:
            if self.overflowed:
                raise ListenerOverflow()
            raise StopAsyncIteration
        return None

    def parked(self) -> asyncio.Future:
        """A future that settles when something is pending or the stream is over; awaited
        directly by the consumer (no coroutine layer, no timer: the fan-out's tick heartbeats)."""
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        return waiter

    async def next(self, timeout: float) -> Event | Notice | None:
        """The next new event (or notice), or ``None`` on timeout (time for a heartbeat): for
        consumers that keep their own heartbeat timer (the student server's streams).

        Raises ``StopAsyncIteration`` when the stream is over.
        """
        event = self.pop()
        if event is not None:
            return event
        waiter = self.parked()
        timer = asyncio.get_running_loop().call_later(timeout, _settle_waiter, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
        return self.pop()


def _settle_waiter(waiter: asyncio.Future) -> None:
    if not waiter.done():
        waiter.set_result(None)
