"""Counts of present students only: a student's pulls and runs count while their server holds
(or held in the last 60 s) an event stream of the session, and stop counting when it leaves
(contract: "Counting students honestly").

Each client's contributions are indexed so that they can be taken out of the counts and put
back without a scan: ``client_cells`` (client -> the cells it pulled or ran, space-separated;
cell ids are ``[A-Za-z0-9_.-]``), ``pulls_by_client`` (``cell_id\\nclient`` -> the version its
pull counts at) beside the runs hash (``cell_id\\nclient`` -> its run), and ``counted``, the
clients whose contributions are in the counts now. The heartbeat tick settles each session once
per tick (``SETTLE``): a counted client no longer present is taken out, a present one not
counted is put back, and every changed cell's counts go to the teacher as ``pulled``/``runs``
events, as a report's would. A report from a present client that is not counted puts it back
first (``ADJUST`` inside the report scripts). Every key has the session's hash tag.
"""

from __future__ import annotations

import time

from redis.asyncio import Redis

from ..domain.events import AUDIENCE_TEACHER, EVENT_PULLED, EVENT_RUNS
from . import keys
from .stream import STUDENT_WINDOW_SECONDS, translate_redis_errors

# In these scripts ``KEYS`` is Lua's table of the key names the script is given (all of one
# session, with its hash tag), never the KEYS command; the only listing is HKEYS of that
# session's own ``client_cells`` hash, and nothing scans the database.
# Lua shared by the report scripts and SETTLE. ``K`` names the keys (all passed in KEYS):
# cells, counted, client_cells, pulls_by_client, pull_counts, runs, run_counts, events; ``A`` the
# events' arguments: code, maxlen, audience and the two event names. A settle tells each changed
# cell once, whoever moved: a key rotation (everyone out, then back) is a few events per cell.
RUNS_EVENT_DATA = """
local function cs_runs_data(K, code, cell_id)
  local cell = cell_id .. '\\n'
  local names = redis.call('HGET', K.run_counts, cell .. 'names') or ''
  local errors = {}
  local any = false
  for ename in string.gmatch(names, '%S+') do
    local n = tonumber(redis.call('HGET', K.run_counts, cell .. 'e:' .. ename) or '0')
    if n > 0 then errors[ename] = n; any = true end
  end
  local ok = tonumber(redis.call('HGET', K.run_counts, cell .. 'ok') or '0')
  local failed = tonumber(redis.call('HGET', K.run_counts, cell .. 'error') or '0')
  -- ids and codes are plain [A-Za-z0-9_.-]; cjson cannot tell an empty object from a list
  return '{"session": "' .. code .. '", "cell_id": "' .. cell_id .. '", "runs": {"ok": ' .. ok ..
    ', "error": ' .. failed .. ', "errors": ' .. (any and cjson.encode(errors) or '{}') .. '}}'
end
"""

ADJUST = RUNS_EVENT_DATA + """
-- put (delta 1) or take (delta -1) one client's pulls and runs in or out of the counts; the
-- cells whose counts changed are noted in ``changed`` (told once each by cs_tell)
local function cs_adjust(K, client, delta, changed)
  local cells = redis.call('HGET', K.client_cells, client)
  if delta > 0 then redis.call('SADD', K.counted, client) else redis.call('SREM', K.counted, client) end
  if not cells then return end
  for cell_id in string.gmatch(cells, '%S+') do
    local field = cell_id .. '\\n' .. client
    local version = redis.call('HGET', K.pulls_by_client, field)
    if version then
      redis.call('HINCRBY', K.pull_counts, cell_id .. '\\n' .. version, delta)
      changed.pulls[cell_id] = true
    end
    local run = redis.call('HGET', K.runs, field)
    if run then
      local state, ename = string.match(run, '^(%a+)\\n(.*)$')
      redis.call('HINCRBY', K.run_counts, cell_id .. '\\n' .. state, delta)
      if ename ~= '' then redis.call('HINCRBY', K.run_counts, cell_id .. '\\ne:' .. ename, delta) end
      changed.runs[cell_id] = true
    end
  end
end

-- the cell's pull counts per version (versions nobody is at left out), as a cell list has them
local function cs_pulls_data(K, code, cell_id)
  local cell = redis.call('HGET', K.cells, cell_id)
  local newest = cell and tonumber(string.match(cell, '"version":%s*(%d+)'))
  local head = '{"session": "' .. code .. '", "cell_id": "' .. cell_id .. '"'
  if not newest then return head .. '}' end  -- withdrawn meanwhile: the dashboard reads the list
  local pulls = {}
  for v = math.max(1, newest - 1000), newest do
    local n = tonumber(redis.call('HGET', K.pull_counts, cell_id .. '\\n' .. v) or '0')
    if n > 0 then pulls[tostring(v)] = n end
  end
  return head .. ', "pulls": ' .. cjson.encode(pulls) .. '}'
end

-- one teacher-only event per changed cell, each with the cell's new counts: ``runs`` and ``pulled``
local function cs_tell(K, A, changed)
  for cell_id in pairs(changed.pulls) do
    redis.call('XADD', K.events, 'MAXLEN', '~', A.maxlen, '*', 'event', A.pulled, 'to', A.audience,
               'data', cs_pulls_data(K, A.code, cell_id))
  end
  for cell_id in pairs(changed.runs) do
    redis.call('XADD', K.events, 'MAXLEN', '~', A.maxlen, '*', 'event', A.runs, 'to', A.audience,
               'data', cs_runs_data(K, A.code, cell_id))
  end
end

local function cs_note_cell(K, client, cell_id)
  local cells = redis.call('HGET', K.client_cells, client) or ''
  if not string.find(' ' .. cells .. ' ', ' ' .. cell_id .. ' ', 1, true) then
    redis.call('HSET', K.client_cells, client, (cells == '' and cell_id) or (cells .. ' ' .. cell_id))
  end
end
"""

# The report scripts (store/pulls.py, store/runs.py) share their first ten keys (``report_keys``)
# and their start: the session and cell exist, the client is present, and a present client that is
# not counted (back after leaving) is put back first.
REPORT = ADJUST + """
local K = {cells = KEYS[2], events = KEYS[4], counted = KEYS[5], client_cells = KEYS[6],
           pulls_by_client = KEYS[7], pull_counts = KEYS[8], runs = KEYS[9], run_counts = KEYS[10]}

-- -1: no such session; -2: no such cell; 0: the client is not present (the report is dropped);
-- 1: go on
local function cs_report_start(A, cell_id, client, since)
  if redis.call('HEXISTS', KEYS[1], 'key_hash') == 0 then return -1 end
  if redis.call('HEXISTS', K.cells, cell_id) == 0 then return -2 end
  local seen = redis.call('ZSCORE', KEYS[3], client)
  if not seen or tonumber(seen) < tonumber(since) then return 0 end
  if redis.call('SISMEMBER', K.counted, client) == 0 then
    local changed = {pulls = {}, runs = {}}
    cs_adjust(K, client, 1, changed)
    cs_tell(K, A, changed)
  end
  return 1
end
"""

# KEYS: session, students, counted, client_cells, pulls_by_client, pull_counts, runs, run_counts, events,
#       cells
# ARGV: present since, maxlen, audience, code, pulled event, runs event
SETTLE = ADJUST + """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local K = {counted = KEYS[3], client_cells = KEYS[4], pulls_by_client = KEYS[5], pull_counts = KEYS[6],
           runs = KEYS[7], run_counts = KEYS[8], events = KEYS[9], cells = KEYS[10]}
local A = {code = ARGV[4], maxlen = ARGV[2], audience = ARGV[3], pulled = ARGV[5], runs = ARGV[6]}
local since = tonumber(ARGV[1])
local changed = {pulls = {}, runs = {}}
local moved = 0
for _, client in ipairs(redis.call('HKEYS', KEYS[4])) do
  local seen = redis.call('ZSCORE', KEYS[2], client)
  local present = seen and tonumber(seen) >= since
  local counted = redis.call('SISMEMBER', KEYS[3], client) == 1
  if present and not counted then
    cs_adjust(K, client, 1, changed)
    moved = moved + 1
  elseif counted and not present then
    cs_adjust(K, client, -1, changed)
    moved = moved + 1
  end
end
cs_tell(K, A, changed)
return moved
"""


def attendance_keys(code: str) -> list[str]:
    """counted, client_cells, pulls_by_client (the keys ``ADJUST`` needs besides the ledgers')."""
    return [keys.counted_key(code), keys.client_cells_key(code), keys.pulls_by_client_key(code)]


def report_keys(code: str) -> list[str]:
    """The first ten keys of a report script (``REPORT``)."""
    return [keys.session_key(code), keys.cells_key(code), keys.students_key(code), keys.events_key(code),
            *attendance_keys(code), keys.pull_counts_key(code), keys.runs_key(code), keys.run_counts_key(code)]


class Attendance:
    def __init__(self, redis: Redis, *, stream_maxlen: int = 10_000):
        self.redis = redis
        self.stream_maxlen = stream_maxlen

    @translate_redis_errors
    async def settle(self, code: str, now: float | None = None) -> int:
        """Take the clients that left out of ``code``'s counts and put back those that came
        back; how many moved (each changed cell told to the teacher). -1: no such session."""
        since = (time.time() if now is None else now) - STUDENT_WINDOW_SECONDS
        return await self.redis.eval(
            SETTLE, 10, keys.session_key(code), keys.students_key(code), *attendance_keys(code),
            keys.pull_counts_key(code), keys.runs_key(code), keys.run_counts_key(code), keys.events_key(code),
            keys.cells_key(code),
            repr(since), str(self.stream_maxlen), AUDIENCE_TEACHER, code, EVENT_PULLED, EVENT_RUNS)
