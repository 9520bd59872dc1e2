"""Raised hands of a session: the teacher's help queue, in Redis.

Four keys with the session's hash tag (store/keys.py): the hands as raised (JSON, immutable),
their states and bookkeeping (one hash), the queue of open hands and the list of handled ones
(sorted sets scored by a per-session sequence, so "oldest first" is exact). Every change is one
Lua script that also adds its event (``hand`` teacher-only, ``hand_state`` to the teacher and
the raising client), so a reader never sees a state without its event, and the limits (one open
hand per client, a rate per client, a cap per session, closed hands) hold under any race.
"""

from __future__ import annotations

import json

from redis.asyncio import Redis

from ..domain import CellNotFound, Forbidden, SessionNotFound, TooManyRequests
from ..domain.events import AUDIENCE_TEACHER, EVENT_HAND, EVENT_HAND_STATE
from ..domain.talkback import HAND_LOWERED, HandNotFound, HandsClosed
from . import keys
from .stream import translate_redis_errors

LOWERED = """
local function lowered(id, client)
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[11], 'to', ARGV[9] .. ':' .. client,
    'data', '{"session": "' .. ARGV[10] .. '", "hand_id": "' .. id .. '", "state": "' .. ARGV[12] .. '"}')
end
local function forget(id, client)
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id, id .. ':c')
  if redis.call('HGET', KEYS[4], 'c:' .. client) == id then redis.call('HDEL', KEYS[4], 'c:' .. client) end
end
"""

# KEYS: session, cells, hands, states, queue, done, events
# ARGV: 1 hand id, 2 client, 3 hand JSON, 4 now ms, 5 cell id or '', 6 stream maxlen, 7 per minute,
#       8 max open, 9 teacher audience, 10 code, 11 hand_state event, 12 lowered, 13 hand event
RAISE = LOWERED + """
if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return {-1, 0} end
if redis.call('HEXISTS', KEYS[1], 'hands_closed') == 1 then return {-3, 0} end
if ARGV[5] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[5]) == 0 then return {-2, 0} end
local now = tonumber(ARGV[4])
local start, count = now, 0
local rate = redis.call('HGET', KEYS[4], 'r:' .. ARGV[2])
if rate then
  local s, c = string.match(rate, '^(%d+) (%d+)$')
  if s and now - tonumber(s) < 60000 then start, count = tonumber(s), tonumber(c) end
end
if count >= tonumber(ARGV[7]) then return {-4, start + 60000 - now} end
local previous = redis.call('HGET', KEYS[4], 'c:' .. ARGV[2])
if not previous and redis.call('ZCARD', KEYS[5]) >= tonumber(ARGV[8]) then return {-5, 0} end
redis.call('HSET', KEYS[4], 'r:' .. ARGV[2], start .. ' ' .. (count + 1))
if previous then
  forget(previous, ARGV[2])
  lowered(previous, ARGV[2])
end
local seq = redis.call('HINCRBY', KEYS[1], 'hand_seq', 1)
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[1], 'waiting', ARGV[1] .. ':c', ARGV[2], 'c:' .. ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[5], seq, ARGV[1])
local position = redis.call('ZRANK', KEYS[5], ARGV[1]) + 1
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[13], 'to', ARGV[9],
  'data', '{"position": ' .. position .. ', ' .. string.sub(ARGV[3], 2))
return {1, position}
"""

# KEYS: session, cells, hands, states, queue, done, events
# ARGV: 1 hand id, 2 new state, 3 max done, 6 maxlen, 9 audience, 10 code, 11 hand_state event
UPDATE = """
if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return -1 end
local client = redis.call('HGET', KEYS[4], ARGV[1] .. ':c')
if not client then return -2 end
local current = redis.call('HGET', KEYS[4], ARGV[1])
if current == 'done' then return 0 end
if ARGV[2] == 'done' then
  local score = redis.call('ZSCORE', KEYS[5], ARGV[1])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('ZADD', KEYS[6], score or 0, ARGV[1])
  if redis.call('HGET', KEYS[4], 'c:' .. client) == ARGV[1] then redis.call('HDEL', KEYS[4], 'c:' .. client) end
  while redis.call('ZCARD', KEYS[6]) > tonumber(ARGV[3]) do
    local oldest = redis.call('ZPOPMIN', KEYS[6])[1]
    redis.call('HDEL', KEYS[3], oldest)
    redis.call('HDEL', KEYS[4], oldest, oldest .. ':c')
  end
end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[11], 'to', ARGV[9] .. ':' .. client,
  'data', '{"session": "' .. ARGV[10] .. '", "hand_id": "' .. ARGV[1] .. '", "state": "' .. ARGV[2] .. '"}')
return 1
"""

# ARGV: 1 hand id, 2 requesting client or '' (the teacher), 6 maxlen, 9, 10, 11, 12 as RAISE
LOWER = LOWERED + """
if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return -1 end
local client = redis.call('HGET', KEYS[4], ARGV[1] .. ':c')
if not client then return -2 end
if ARGV[2] ~= '' and ARGV[2] ~= client then return -3 end
forget(ARGV[1], client)
lowered(ARGV[1], client)
return 1
"""

SET_OPEN = """
if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return -1 end
if ARGV[1] == '1' then redis.call('HDEL', KEYS[1], 'hands_closed') else redis.call('HSET', KEYS[1], 'hands_closed', '1') end
return 1
"""


class HandQueue:
    """One session's hands; ``code`` errors are the contract's."""

    def __init__(self, redis: Redis, *, stream_maxlen: int = 10_000):
        self.redis = redis
        self.stream_maxlen = stream_maxlen

    def _keys(self, code: str) -> list[str]:
        return [keys.session_key(code), keys.cells_key(code), keys.hands_key(code), keys.hand_states_key(code),
                keys.hand_queue_key(code), keys.hands_done_key(code), keys.events_key(code)]

    def _argv(self, code: str, hand_id: str, second: str, third: str = "") -> list[str]:
        """The script's ARGV: 1-3 per call, 6 and 9-13 shared (4, 5, 7, 8 only RAISE uses)."""
        return [hand_id, second, third, "", "", str(self.stream_maxlen), "", "", AUDIENCE_TEACHER, code,
                EVENT_HAND_STATE, HAND_LOWERED, EVENT_HAND]

    @translate_redis_errors
    async def raise_hand(self, code: str, client: str, hand: dict, *, now_ms: int, per_minute: int,
                         max_open: int) -> int:
        """Queue ``hand`` (its fields as listed) for ``client`` (opaque); returns its position."""
        argv = self._argv(code, hand["hand_id"], client, json.dumps(hand))
        argv[3], argv[4], argv[6], argv[7] = str(now_ms), hand["cell_id"] or "", str(per_minute), str(max_open)
        answer, extra = await self.redis.eval(RAISE, 7, *self._keys(code), *argv)
        if answer == -1:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if answer == -2:
            raise CellNotFound(f"Cell {hand['cell_id']} is not published in session {code}.")
        if answer == -3:
            raise HandsClosed("The teacher has closed hands for now; ask again when they open them.")
        if answer == -4:
            error = TooManyRequests(f"At most {per_minute} hands a minute; wait a little and ask again.")
            error.retry_after = max(1, int(extra) // 1000 + 1)
            raise error
        if answer == -5:
            raise TooManyRequests(f"The queue already holds {max_open} open hands; wait for the teacher.")
        return int(extra)

    @translate_redis_errors
    async def update(self, code: str, hand_id: str, state: str, *, max_done: int) -> None:
        answer = await self.redis.eval(UPDATE, 7, *self._keys(code), *self._argv(code, hand_id, state, str(max_done)))
        self._check(code, hand_id, answer)

    @translate_redis_errors
    async def lower(self, code: str, hand_id: str, client: str | None) -> None:
        """Withdraw a hand: the teacher (``client=None``) or the client that raised it."""
        answer = await self.redis.eval(LOWER, 7, *self._keys(code), *self._argv(code, hand_id, client or ""))
        self._check(code, hand_id, answer)

    @staticmethod
    def _check(code: str, hand_id: str, answer: int) -> None:
        if answer == -1:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if answer == -2:
            raise HandNotFound(f"There is no hand {hand_id} in session {code}.")
        if answer == -3:
            raise Forbidden("Only the teacher or the student who raised a hand can lower it.")

    @translate_redis_errors
    async def hands(self, code: str, ids: list[str] | None = None) -> list[dict]:
        """Every hand (or those of ``ids``): open ones first, each group oldest first."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.session_key(code))
            pipe.zrange(keys.hand_queue_key(code), 0, -1)
            pipe.zrange(keys.hands_done_key(code), 0, -1)
            exists, open_ids, done_ids = await pipe.execute()
        if not exists:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        order = open_ids + done_ids
        if ids is not None:
            wanted = set(ids)
            order = [i for i in order if i in wanted]
        if not order:
            return []
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.hands_key(code), order)
            pipe.hmget(keys.hand_states_key(code), order)
            raws, states = await pipe.execute()
        positions = {hand_id: rank for rank, hand_id in enumerate(open_ids, start=1)}
        found = []
        for hand_id, raw, state in zip(order, raws, states):
            if raw is None:
                continue
            hand = json.loads(raw)
            hand["state"] = state or "waiting"
            hand["position"] = positions.get(hand_id)
            found.append(hand)
        return found

    @translate_redis_errors
    async def hand(self, code: str, hand_id: str) -> dict:
        found = await self.hands(code, [hand_id])
        if not found:
            raise HandNotFound(f"There is no hand {hand_id} in session {code}.")
        return found[0]

    @translate_redis_errors
    async def set_open(self, code: str, hands_open: bool) -> None:
        if await self.redis.eval(SET_OPEN, 1, keys.session_key(code), "1" if hands_open else "0") == -1:
            raise SessionNotFound(f"There is no live session {code}; check the code.")

    @translate_redis_errors
    async def is_open(self, code: str) -> bool:
        return not await self.redis.hexists(keys.session_key(code), "hands_closed")
