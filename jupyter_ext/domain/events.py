"""The event model: a session's events, their names and ids, and one consumer's ordered queue.

Event ids are Redis stream ids (``<ms>-<seq>``) a client sends back as ``Last-Event-ID``; the
teacher's store, the relay and the student's upstream stream all speak these types, and the
dashboards compare event names with these constants. Framing them as ``text/event-stream``
is the SSE writer's business (``web/sse.py``).
"""

from __future__ import annotations

import re
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


@dataclass(frozen=True)
class Notice:
    """A comment line for one consumer's stream (``: text``): no id, no event name, never
    replayed. SSE clients ignore comments; the student dashboard reads its relay's state from them."""

    text: str
    name = ""  # not an event: nothing compares it with ``session_ended``


HEARTBEAT = Notice("heartbeat")
