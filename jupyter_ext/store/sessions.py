"""Sessions on ``redis.asyncio``: ``SessionStore``, the only class that knows the key layout,
made of its parts: a session's own record here, its owner, group and the session indexes
(store/owners.py), its cells (store/cells.py), its event stream and presence (store/stream.py).

Every read is bounded by one session's own keys or one index: listing a session costs O(its
cells), never a scan of the database.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict

from redis.asyncio import Redis

from ..domain import SessionNotFound, iso_timestamp, new_session_code, new_student_key
from ..domain.events import EVENT_SESSION_ENDED
from . import keys
from .attendance import Attendance
from .cells import SessionCells
from .owners import SessionOwners
from .records import CellsState, SessionRecord, hash_key
from .stream import SessionStreams, translate_redis_errors


class SessionStore(SessionCells, SessionOwners, SessionStreams):
    """All Redis access for sessions; the only class that knows the key layout."""

    def __init__(self, redis: Redis, *, stream_maxlen: int = 10_000, log: logging.Logger | None = None,
                 wait_replicas: int = 0, wait_timeout_ms: int = 1000):
        self.redis = redis
        self.stream_maxlen = stream_maxlen
        self.wait_replicas = wait_replicas  # > 0: a publish is acknowledged once on that many replicas
        self.wait_timeout_ms = wait_timeout_ms
        self.log = log or logging.getLogger(__name__)
        # code -> (newest event id, the cells' state as of it); see cells_state
        self._cells_cache: OrderedDict[str, tuple[str, CellsState]] = OrderedDict()

    # -- sessions -----------------------------------------------------------------
    @translate_redis_errors
    async def create_session(self, title: str = "", notebook_path: str | None = None, code: str | None = None,
                             owner: str | None = None, group: str | None = None,
                             relay_url: str = "") -> tuple[SessionRecord, str]:
        """Create a session with a fresh code (or the given one: ``ValueError`` when it exists)
        belonging to ``owner`` and limited to the course ``group`` (a hub group), both set in the
        same transaction as the session itself (see store/owners.py); returns it and its
        student key."""
        student_key = new_student_key()
        created = iso_timestamp(time.time())
        for _ in range(50):
            candidate = code or new_session_code()
            fields = {
                "code": candidate,
                "title": title,
                "created": created,
                "notebook_path": notebook_path or "",
                "key_hash": hash_key(student_key),
                **({"owner": owner} if owner else {}),
                **({"group": group} if group else {}),
                **({"relay_url": relay_url} if relay_url else {}),
            }
            if await self._create_owned(candidate, fields):
                return self._record(fields), student_key
            if code:
                raise ValueError("session exists")
        raise RuntimeError("could not find a free session code")

    async def _session_fields(self, code: str) -> dict:
        fields = await self.redis.hgetall(keys.session_key(code))
        if not fields or "key_hash" not in fields:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        return fields

    @staticmethod
    def _record(fields: dict) -> SessionRecord:
        return SessionRecord(
            code=fields["code"],
            title=fields.get("title", ""),
            created=fields.get("created", ""),
            notebook_path=fields.get("notebook_path", ""),
            relay_url=fields.get("relay_url", ""),
            owner=fields.get("owner", ""),
            focus=fields.get("focus") or None,
            group=fields.get("group", ""),
        )

    @translate_redis_errors
    async def get_session(self, code: str) -> SessionRecord:
        return self._record(await self._session_fields(code))

    @translate_redis_errors
    async def ping(self) -> None:
        """Round trip to Redis (a relay's readiness); ``StoreUnavailable`` when it is down."""
        await self.redis.ping()

    @translate_redis_errors
    async def session_exists(self, code: str) -> bool:
        return bool(await self.redis.exists(keys.session_key(code)))

    @translate_redis_errors
    async def delete_session(self, code: str) -> None:
        fields = await self._session_fields(code)
        # The event goes out first, on its own, so blocked readers are served it before the
        # stream key disappears.
        await self._add_event(code, EVENT_SESSION_ENDED, {"session": code})
        await self.redis.delete(*keys.all_session_keys(code))
        await self._unindex(code, fields.get("owner", ""), fields.get("group", ""))

    async def settle_attendance(self, code: str, now: float | None = None) -> int:
        """Counts of present students only: those who left out, those back in (attendance.py)."""
        return await Attendance(self.redis, stream_maxlen=self.stream_maxlen).settle(code, now)

    @translate_redis_errors
    async def rotate_key(self, code: str) -> str:
        """A new key; the old one fails at once, and nobody counts as present until they come
        back with the new one (streams of the old key are closed by the event fan-outs' next tick)."""
        await self._session_fields(code)
        student_key = new_student_key()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(keys.session_key(code), "key_hash", hash_key(student_key))
            pipe.delete(keys.students_key(code))
            await pipe.execute()
        return student_key

    @translate_redis_errors
    async def check_student_key(self, code: str, student_key: str) -> bool:
        """Constant-time comparison against the stored hash; an unknown session is False."""
        stored = await self.redis.hget(keys.session_key(code), "key_hash")
        if not stored:
            return False
        return hmac.compare_digest(stored, hash_key(student_key))

