"""The event model: a session's events, their names and ids, and one consumer's ordered queue.

Event ids are Redis stream ids (``<ms>-<seq>``) a client sends back as ``Last-Event-ID``; the
teacher's store, the relay and the student's upstream stream all speak these types, and the
dashboards compare event names with these constants. Framing them as ``text/event-stream``
is the SSE writer's business (``web/sse.py``).
"""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .errors import InvalidInput

EVENT_PUBLISHED = "published"
EVENT_UPDATED = "updated"
EVENT_UNPUBLISHED = "unpublished"
EVENT_SESSION_ENDED = "session_ended"
EVENT_FOCUS = "focus"  # the teacher shows a cell: {"cell_id" | null, "number"}
# What students did: only for teacher-authenticated streams (``hand_state`` also for the one
# raising client). The audience travels in the stream entry's ``to`` field (``Event.audience``),
# so the fan-out filters on a string, never by parsing an event's JSON.
EVENT_PULLED = "pulled"
EVENT_RUNS = "runs"
EVENT_HAND = "hand"
EVENT_HAND_STATE = "hand_state"
AUDIENCE_TEACHER = "t"  # ``to`` of a teacher-only event; ``t:<client>`` adds that client's streams
CELL_EVENTS = (EVENT_PUBLISHED, EVENT_UPDATED, EVENT_UNPUBLISHED)
LISTENER_QUEUE_SIZE = 2048

EVENT_ID_RE = re.compile(r"^([0-9]{1,20})-([0-9]{1,20})$")  # ASCII digits only (\d takes any script)
MAX_ID_PART = 2**64 - 1  # both halves of a Redis stream id are unsigned 64-bit


def validate_event_id(raw: object) -> str | None:
    """``None`` (nothing to resume) or a well-formed stream id; anything else is a 400, not a
    Redis error deep in the event stream.

    The very last id Redis could hold is refused too: nothing can follow it, and Redis rejects
    it as the exclusive start of a range.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    match = EVENT_ID_RE.match(raw.strip()) if isinstance(raw, str) else None
    if match is not None:
        ms, seq = int(match.group(1)), int(match.group(2))
        if ms <= MAX_ID_PART and seq <= MAX_ID_PART and (ms, seq) != (MAX_ID_PART, MAX_ID_PART):
            return raw.strip()
    raise InvalidInput("'Last-Event-ID' must be the id of an event this stream sent (like"
                       " 1700000000000-0); reconnect without it to start from now.")


# Comment lines the student's relay adds to its local event streams when its one upstream stream
# to the teacher is lost and when it is back (the contract's events are unchanged; SSE clients
# ignore comments). The student dashboard turns them into its connection light.
TEACHER_UNREACHABLE = "codestream teacher-unreachable"
TEACHER_REACHABLE = "codestream teacher-reachable"
# ... and when the teacher's stream broke a bound this server keeps (an event or a line over
# its size limit): the reason follows the prefix, for the dashboard to show.
TEACHER_STREAM_REFUSED = "codestream teacher-stream-refused"

# Comment lines an event stream of the teacher's server or a read relay carries when the
# process's reader loses Redis and when it has it back: the stream stays open and resumes
# where it was (nothing is lost: events stay in Redis), but its listener can tell why it is quiet.
STORE_UNREACHABLE = "codestream store-unreachable"
STORE_REACHABLE = "codestream store-reachable"


def stream_id_tuple(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Event:
    """One entry of a session's event stream, as the SSE route sends it."""

    id: str
    name: str
    data: dict
    audience: str | None = None  # None: every reader; else AUDIENCE_TEACHER[":" client]

    def sort_key(self) -> tuple[int, int]:
        """The id as a comparable pair, parsed once per event (not once per listener)."""
        key = self.__dict__.get("_sort_key")
        if key is None:
            key = self.__dict__["_sort_key"] = stream_id_tuple(self.id)
        return key

    def rendered(self, form: str, render: Callable[[Event], object]):
        """``render(self)``, kept on the event under ``form``: a writer's framing of it (its SSE
        text, its HTTP chunk) is computed once however many streams send it."""
        value = self.__dict__.get(form)
        if value is None:
            value = self.__dict__[form] = render(self)
        return value


class ListenerOverflow(Exception):
    """A listener fell too far behind; it should reconnect with its Last-Event-ID."""


@dataclass(frozen=True)
class Notice:
    """A comment line for one consumer's stream (``: text``): no id, no event name, never
    replayed. SSE clients ignore comments; the student dashboard reads its relay's state from them."""

    text: str
    name = ""  # not an event: nothing compares it with ``session_ended``


HEARTBEAT = Notice("heartbeat")


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
        # What the hub's heartbeat tick needs: the hash of the student key this stream was opened
        # with (None: the teacher's own auth, never revoked by a rotation) and the student server
        # it counts as present.
        self.key_hash = key_hash
        self.client_id = client_id
        # Who opened it, for the per-address stream cap (a remote address, or a hub user), and
        # what let its reader in when that can be withdrawn (a hub group membership): re-checked
        # at the hub's tick by its ``audit`` hook. Both set by the event hub.
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
        """From the hub's tick: a parked stream gets its heartbeat comment written at once.

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
        directly by the consumer (no coroutine layer, no timer: the hub's tick heartbeats)."""
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
