"""The cell a teacher shows the class ("Show"): one field of the session hash and a ``focus``
event, written together by one Lua script so a reader never sees one without the other."""

from __future__ import annotations

import json

from redis.asyncio import Redis

from ..domain import CellNotFound, SessionNotFound
from ..domain.events import EVENT_FOCUS
from . import keys
from .stream import translate_redis_errors

SET_FOCUS = """
if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return -1 end
if ARGV[1] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return -2 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'focus') else redis.call('HSET', KEYS[1], 'focus', ARGV[1]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[4], 'data', ARGV[2])
return 1
"""


@translate_redis_errors
async def set_focus(redis: Redis, code: str, cell_id: str | None, number: int | None, *,
                    stream_maxlen: int) -> None:
    """Focus ``cell_id`` (``None``: no cell) and tell every reader of the session."""
    data = json.dumps({"session": code, "cell_id": cell_id, "number": number})
    answer = await redis.eval(SET_FOCUS, 3, keys.session_key(code), keys.cells_key(code), keys.events_key(code),
                              cell_id or "", data, str(stream_maxlen), EVENT_FOCUS)
    if answer == -1:
        raise SessionNotFound(f"There is no live session {code}; check the code.")
    if answer == -2:
        raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
