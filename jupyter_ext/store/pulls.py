"""Who pulled what: distinct student servers per cell version (each at the newest version it
pulled), kept per session.

Two keys per session, both with the session's hash tag (one Cluster slot, gone with the
session): a set of ``cell_id\\nversion\\nclient`` members and a hash of counts per
``cell_id\\nversion``. One Lua script adds a pull atomically and, only when that client had
not pulled that version yet, bumps the count and adds a ``pulled`` event to the session's
stream, which is how the teacher's dashboard hears of it without polling. No KEYS, no SCAN:
reading the counts is one HGETALL of the session's own hash. A client's pulls stop counting when
it leaves and count again when it comes back (attendance.py).
"""

from __future__ import annotations

import json
import time

from redis.asyncio import Redis

from ..domain import CellNotFound, SessionNotFound
from ..domain.events import AUDIENCE_TEACHER, EVENT_PULLED, EVENT_RUNS
from . import keys
from .attendance import REPORT, report_keys
from .stream import STUDENT_WINDOW_SECONDS, translate_redis_errors

# Honest counts: only a client present on an event stream of the session (in the students set
# within the window) is counted; a report from any other is accepted and dropped. A present
# client whose pulls were taken out of the counts when it left is put back first (attendance.py).
# KEYS: the ten of ``report_keys``, then 11 the pulled set
# ARGV: 1 cell id, 2 member, 3 count field, 4 data, 5 maxlen, 6 pulled event, 7 client,
#       8 present since, 9 audience, 10 version, 11 code, 12 runs event
RECORD_PULL = REPORT + """
local started = cs_report_start({code = ARGV[11], maxlen = ARGV[5], audience = ARGV[9], pulled = ARGV[6],
                                 runs = ARGV[12]}, ARGV[1], ARGV[7], ARGV[8])
if started ~= 1 then return started end
if redis.call('SADD', KEYS[11], ARGV[2]) == 0 then return 0 end
-- each student counted once, at the newest version they pulled: a pull of an older version than
-- one they have counts nothing; a newer one moves their count from the older version
local v = tonumber(ARGV[10])
local prefix, suffix = ARGV[1] .. '\\n', '\\n' .. ARGV[7]
local newest = tonumber(string.match(redis.call('HGET', K.cells, ARGV[1]), '"version":%s*(%d+)')) or v
for w = v + 1, math.min(newest, v + 1000) do
  if redis.call('SISMEMBER', KEYS[11], prefix .. w .. suffix) == 1 then return 0 end
end
for w = v - 1, math.max(1, v - 1000), -1 do
  if redis.call('SISMEMBER', KEYS[11], prefix .. w .. suffix) == 1 then
    redis.call('HINCRBY', K.pull_counts, prefix .. w, -1)
    break
  end
end
redis.call('HINCRBY', K.pull_counts, ARGV[3], 1)
redis.call('HSET', K.pulls_by_client, ARGV[1] .. '\\n' .. ARGV[7], ARGV[10])
cs_note_cell(K, ARGV[7], ARGV[1])
redis.call('XADD', K.events, 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[6], 'to', ARGV[9], 'data', ARGV[4])
return 1
"""


class PullLedger:
    def __init__(self, redis: Redis, *, stream_maxlen: int = 10_000):
        self.redis = redis
        self.stream_maxlen = stream_maxlen

    @translate_redis_errors
    async def record(self, code: str, cell_id: str, version: int, client: str) -> bool:
        """Count ``client``'s pull of ``cell_id`` at ``version``; True when it is a new one."""
        data = json.dumps({"session": code, "cell_id": cell_id, "version": version})
        answer = await self.redis.eval(
            RECORD_PULL, 11, *report_keys(code), keys.pulled_key(code),
            cell_id, f"{cell_id}\n{version}\n{client}", f"{cell_id}\n{version}", data,
            str(self.stream_maxlen), EVENT_PULLED, client, repr(time.time() - STUDENT_WINDOW_SECONDS),
            AUDIENCE_TEACHER, str(version), code, EVENT_RUNS)
        if answer == -1:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if answer == -2:
            raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
        return answer == 1

    @translate_redis_errors
    async def counts(self, code: str) -> dict[str, dict[str, int]]:
        """``{cell_id: {"<version>": distinct clients}}`` of one session."""
        found: dict[str, dict[str, int]] = {}
        for field, count in (await self.redis.hgetall(keys.pull_counts_key(code))).items():
            cell_id, _, version = field.rpartition("\n")
            if int(count) > 0:  # a version every student moved on from is no count
                found.setdefault(cell_id, {})[version] = int(count)
        return found
