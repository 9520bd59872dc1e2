"""A session's event stream and who is present, on ``redis.asyncio`` (the part of
``SessionStore`` that the event fan-out reads and the heartbeat tick writes), and the one
translation of Redis failures into the contract's ``503 store_unavailable``."""

from __future__ import annotations

import functools
import json
import time

from redis.asyncio import Redis
from redis.exceptions import ClusterError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..domain import StoreUnavailable
from ..domain.events import Event
from . import keys

STUDENT_WINDOW_SECONDS = 60
# KEYS: session hash, students zset. ARGV: key hash, now, forget-before, client ids...
TOUCH_STUDENTS_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'key_hash')
if not current then return false end
if (current == ARGV[1] or ARGV[1] == '*') and #ARGV > 3 then
  for i = 4, #ARGV do redis.call('ZADD', KEYS[2], ARGV[2], ARGV[i]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
end
return current
"""
ANY_KEY = "*"  # touch_students for readers by identity (hub members): present whatever the key


def _parse_event(entry_id: str, fields: dict) -> Event:
    return Event(id=entry_id, name=fields.get("event", ""), data=json.loads(fields.get("data", "{}")),
                 audience=fields.get("to"))


def translate_redis_errors(func):
    """Redis being down is a 503 the teacher can act on, not a 500."""
    @functools.wraps(func)
    async def wrapper(*args, **kwargs):
        try:
            return await func(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError, ClusterError,
                RedisClusterException) as exc:  # the last two: no cluster node reachable, slots down
            raise StoreUnavailable(
                "Redis is not reachable; check that it is running (or restart the Jupyter server"
                " to restart the embedded one)."
            ) from exc

    return wrapper


class SessionStreams:
    """Events and presence of a session (mixed into ``SessionStore``: ``redis``, ``stream_maxlen``)."""

    # -- events -------------------------------------------------------------------
    def _queue_event(self, pipe, code: str, name: str, data: dict) -> None:
        pipe.xadd(keys.events_key(code), {"event": name, "data": json.dumps(data)},
                  maxlen=self.stream_maxlen, approximate=True)

    async def _add_event(self, code: str, name: str, data: dict) -> str:
        return await self.redis.xadd(keys.events_key(code), {"event": name, "data": json.dumps(data)},
                                     maxlen=self.stream_maxlen, approximate=True)

    @translate_redis_errors
    async def last_event_id(self, code: str) -> str:
        last = await self.redis.xrevrange(keys.events_key(code), count=1)
        return last[0][0] if last else "0-0"

    @translate_redis_errors
    async def events_after(self, code: str, after_id: str, count: int = 1000) -> list[Event]:
        """Events strictly after ``after_id`` still kept in the stream (for Last-Event-ID replay)."""
        entries = await self.redis.xrange(keys.events_key(code), min=f"({after_id}", max="+", count=count)
        return [_parse_event(entry_id, fields) for entry_id, fields in entries]

    async def read_events(self, redis: Redis, code: str, after_id: str, block_ms: int) -> list[Event]:
        """Block on the session's stream (on ``redis``, a connection whose timeout exceeds the block)."""
        reply = await redis.xread({keys.events_key(code): after_id}, block=block_ms, count=1000)
        events = []
        for _stream, entries in reply or []:
            events.extend(_parse_event(entry_id, fields) for entry_id, fields in entries)
        return events

    # -- students -----------------------------------------------------------------
    @translate_redis_errors
    async def touch_students(self, code: str, key_hash: str, client_ids: list[str]) -> str | None:
        """Mark ``client_ids`` present, in one script, only while ``key_hash`` is still the
        session's key; returns the session's current key hash (``None``: the session is gone).

        The event fan-out's heartbeat tick calls this once per session for all its streams; being
        one script, a rotation can never land between the check and the write. ``ANY_KEY``
        marks readers that hold no key (hub members by identity).
        """
        now = time.time()
        return await self.redis.eval(
            TOUCH_STUDENTS_SCRIPT, 2, keys.session_key(code), keys.students_key(code),
            key_hash, now, now - 10 * STUDENT_WINDOW_SECONDS, *client_ids)

    @translate_redis_errors
    async def touch_student(self, code: str, client_id: str) -> None:
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.session_key(code))
            pipe.zadd(keys.students_key(code), {client_id: now})
            pipe.zremrangebyscore(keys.students_key(code), "-inf", now - 10 * STUDENT_WINDOW_SECONDS)
            exists, *_ = await pipe.execute()
        if not exists:
            await self.redis.delete(keys.students_key(code))
