"""Event ids: the Redis stream ids (``<ms>-<seq>``) a client sends back as ``Last-Event-ID``."""

from __future__ import annotations

import re

from .errors import InvalidInput

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

# Comment lines an event stream of the teacher's server or a read relay carries when the
# process's reader loses Redis and when it has it back: the stream stays open and resumes
# where it was (nothing is lost: events stay in Redis), but its listener can tell why it is quiet.
STORE_UNREACHABLE = "codestream store-unreachable"
STORE_REACHABLE = "codestream store-reachable"
