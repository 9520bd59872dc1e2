"""How students' runs of each published cell ended: the teacher's "stuck radar".

Two keys with the session's hash tag: each client's latest run per cell (``cell_id\\nclient`` →
``state\\nename``) and the counts (``cell_id\\nok``, ``cell_id\\nerror``, ``cell_id\\ne:<ename>``,
and ``cell_id\\nnames``, the enames seen, to render one cell's counts without a scan). One Lua
script moves a client's record and the counts together and, only when they changed, adds a
teacher-only ``runs`` event carrying the cell's new counts.

Counting is honest: a report counts only for a client that holds (or held in the last 60 s) an
event stream of the session (its presence in the students set); any other is accepted and dropped.
A client's runs stop counting when it leaves and count again when it comes back (attendance.py).
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from ..domain import CellNotFound, SessionNotFound
from ..domain.events import AUDIENCE_TEACHER, EVENT_PULLED, EVENT_RUNS
from ..domain.talkback import runs_summary
from . import keys
from .attendance import REPORT, report_keys
from .stream import STUDENT_WINDOW_SECONDS, translate_redis_errors

# KEYS: the ten of ``report_keys``
# ARGV: 1 cell id, 2 client, 3 state, 4 ename, 5 present since, 6 maxlen, 7 event, 8 audience, 9 code,
#       10 pulled event
RECORD_RUN = REPORT + """
local started = cs_report_start({code = ARGV[9], maxlen = ARGV[6], audience = ARGV[8], pulled = ARGV[10],
                                 runs = ARGV[7]}, ARGV[1], ARGV[2], ARGV[5])
if started ~= 1 then return started end
local cell = ARGV[1] .. '\\n'
local record = ARGV[3] .. '\\n' .. ARGV[4]
local old = redis.call('HGET', K.runs, cell .. ARGV[2])
if old == record then return 0 end
if old then
  local state, ename = string.match(old, '^(%a+)\\n(.*)$')
  redis.call('HINCRBY', K.run_counts, cell .. state, -1)
  if ename ~= '' then redis.call('HINCRBY', K.run_counts, cell .. 'e:' .. ename, -1) end
end
redis.call('HSET', K.runs, cell .. ARGV[2], record)
cs_note_cell(K, ARGV[2], ARGV[1])
redis.call('HINCRBY', K.run_counts, cell .. ARGV[3], 1)
local names = redis.call('HGET', K.run_counts, cell .. 'names') or ''
if ARGV[4] ~= '' then
  redis.call('HINCRBY', K.run_counts, cell .. 'e:' .. ARGV[4], 1)
  if not string.find(' ' .. names .. ' ', ' ' .. ARGV[4] .. ' ', 1, true) then
    names = (names == '' and ARGV[4]) or (names .. ' ' .. ARGV[4])
    redis.call('HSET', K.run_counts, cell .. 'names', names)
  end
end
redis.call('XADD', K.events, 'MAXLEN', '~', ARGV[6], '*', 'event', ARGV[7], 'to', ARGV[8],
           'data', cs_runs_data(K, ARGV[9], ARGV[1]))
return 1
"""


class RunLedger:
    def __init__(self, redis: Redis, *, stream_maxlen: int = 10_000):
        self.redis = redis
        self.stream_maxlen = stream_maxlen

    @translate_redis_errors
    async def record(self, code: str, cell_id: str, client: str, state: str, ename: str) -> bool:
        """``client``'s latest run of ``cell_id``; True when the counts changed (and were told)."""
        since = time.time() - STUDENT_WINDOW_SECONDS
        answer = await self.redis.eval(
            RECORD_RUN, 10, *report_keys(code),
            cell_id, client, state, ename, repr(since), str(self.stream_maxlen), EVENT_RUNS, AUDIENCE_TEACHER, code,
            EVENT_PULLED)
        if answer == -1:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if answer == -2:
            raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
        return answer == 1

    @translate_redis_errors
    async def counts(self, code: str) -> dict[str, dict]:
        """``{cell_id: {"ok", "error", "errors": {ename: n}}}`` of one session (one HGETALL)."""
        fields = await self.redis.hgetall(keys.run_counts_key(code))
        return runs_summary({f: v for f, v in fields.items() if not f.endswith("\nnames")})
