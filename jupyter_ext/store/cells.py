"""A session's published cells: publish and unpublish (versions by the domain rule, one event
in the same transaction), and reads of them (the parsed state cached per newest event id).
Mixed into ``SessionStore`` (``redis``, ``wait_replicas``, ``_cells_cache``, ``_session_fields``,
``_record`` and the stream's ``_queue_event``)."""

from __future__ import annotations

import hmac
import json
import time

from redis.exceptions import WatchError

from ..domain import Cell, CellNotFound, SessionNotFound, Unauthorized, apply_publish, iso_timestamp
from ..domain.cells import republished_version, retired_record
from ..domain.events import EVENT_PUBLISHED, EVENT_UNPUBLISHED, EVENT_UPDATED
from . import keys
from .records import CellsState, SessionRecord, hash_key
from .replication import wait_for_replicas
from .stream import translate_redis_errors
from .versions import queue_version

WRONG_KEY_MESSAGE = "The student key is not valid for this session; ask your teacher for the current key."
CELLS_CACHE_SESSIONS = 64  # sessions whose parsed cells one process keeps (LRU)


def unpublished_data(code: str, cell: Cell) -> dict:
    data = {"session": code, "cell_id": cell.cell_id, "version": cell.version}
    if cell.number is not None:
        data["number"] = cell.number  # students' dashboards name the withdrawn cell
    return data


def outputs_changed(previous: Cell, cell: Cell) -> bool:
    return (previous.outputs or []) != (cell.outputs or []) or (previous.outputs is None) != (cell.outputs is None)


class SessionCells:
    """Cells of a session (see the module docstring)."""

    @translate_redis_errors
    async def publish_cell(self, code: str, cell_id: str, clean: dict) -> Cell:
        """Store a cell; bump its version by the domain rule; emit ``published``/``updated``."""
        session_key, cells_key = keys.session_key(code), keys.cells_key(code)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(session_key, cells_key, keys.retired_key(code))
                    # HEXISTS, not EXISTS: a cluster pipeline that is watching drops the reply of
                    # EXISTS (split per slot), so the check would always pass there.
                    if not await pipe.hexists(session_key, "key_hash"):
                        raise SessionNotFound(f"There is no live session {code}; check the code.")
                    raw = await pipe.hget(cells_key, cell_id)
                    previous = Cell.from_dict(json.loads(raw)) if raw else None
                    cell = apply_publish(previous, cell_id, clean, iso_timestamp(time.time()))
                    retired = await self._retired_version(pipe, code, cell_id) if previous is None else None
                    if retired is not None:
                        cell.version = republished_version(retired, cell.source, cell.cell_type)
                    pipe.multi()
                    pipe.hset(cells_key, cell_id, json.dumps(cell.to_dict()))
                    queue_version(pipe, code, cell)  # its past versions, in the same MULTI
                    if retired is not None:
                        pipe.hdel(keys.retired_key(code), cell_id)
                    event = self._cell_event_name(previous, cell)
                    if event:
                        self._queue_event(pipe, code, event, self._cell_event_data(code, cell, previous))
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._replicated(code)
        return cell

    async def _replicated(self, code: str) -> None:
        """With ``wait_replicas``: return once that many replicas hold the change (a failover
        cannot lose it), else ``StoreUnavailable``, which the teacher retries."""
        if self.wait_replicas > 0:
            await wait_for_replicas(self.redis, code, self.wait_replicas, self.wait_timeout_ms)

    @staticmethod
    def _cell_event_name(previous: Cell | None, cell: Cell) -> str | None:
        if previous is None:
            return EVENT_PUBLISHED
        if (previous.version != cell.version or previous.position != cell.position
                or previous.number != cell.number or outputs_changed(previous, cell)):
            return EVENT_UPDATED
        return None

    @staticmethod
    def _cell_event_data(code: str, cell: Cell, previous: Cell | None = None) -> dict:
        data = {
            "session": code,
            "cell_id": cell.cell_id,
            "version": cell.version,
            "cell_type": cell.cell_type,
            "position": cell.position,
            "updated": cell.updated,
        }
        if cell.number is not None:
            data["number"] = cell.number
        if previous is not None and previous.version == cell.version:
            data["change"] = "position"
            if outputs_changed(previous, cell):
                data["change"] = "outputs"
                data["outputs_changed"] = True
        return data

    @translate_redis_errors
    async def unpublish_cell(self, code: str, cell_id: str) -> None:
        """Remove a cell and emit ``unpublished`` with the version it had, under the same WATCH
        as ``publish_cell``: a concurrent publish or unpublish of it makes this one retry (so two
        unpublishes give one event and one ``CellNotFound``, never a stale version)."""
        await self._session_fields(code)
        cells_key = keys.cells_key(code)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(cells_key)
                    raw = await pipe.hget(cells_key, cell_id)
                    if raw is None:
                        raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
                    cell = Cell.from_dict(json.loads(raw))
                    pipe.multi()
                    pipe.hdel(cells_key, cell_id)
                    self._queue_retire(pipe, code, cell)
                    self._queue_event(pipe, code, EVENT_UNPUBLISHED, unpublished_data(code, cell))
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self._replicated(code)

    # -- versions across an unpublish (contract v2 *Versions*) ----------------------------
    @staticmethod
    async def _retired_version(pipe, code: str, cell_id: str) -> dict | None:
        """What an unpublished ``cell_id`` left behind (read under the publish's WATCH)."""
        raw = await pipe.hget(keys.retired_key(code), cell_id)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    @staticmethod
    def _queue_retire(pipe, code: str, cell: Cell) -> None:
        """Remember the version an unpublished cell had, in the unpublish's transaction."""
        pipe.hset(keys.retired_key(code), cell.cell_id, json.dumps(retired_record(cell)))

    @translate_redis_errors
    async def list_cells(self, code: str) -> tuple[SessionRecord, list[Cell], str | None]:
        """The session, its cells in position order, and the newest event id (for resuming)."""
        record, state, last_id = await self.cells_state(code)
        return record, list(state.cells), last_id

    @translate_redis_errors
    async def cells_state(self, code: str, student_key: str | None = None
                          ) -> tuple[SessionRecord, CellsState, str | None]:
        """The session, the state of its cells, and the newest event id, in one round trip.

        Every public change of a session's cells adds an event in the same transaction, so the
        newest event id names one state of the cells: while it has not moved, the state parsed
        (and rendered) for it is reused and a read is one small reply (the hot path when a
        classroom re-lists after each event). With ``student_key``, the key is checked against
        the same read: ``Unauthorized`` when it does not open ``code``.
        """
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.session_key(code))
            pipe.xrevrange(keys.events_key(code), count=1)
            fields, last = await pipe.execute()
        if not fields or "key_hash" not in fields:
            self._cells_cache.pop(code, None)
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if student_key is not None and not hmac.compare_digest(fields["key_hash"], hash_key(student_key)):
            raise Unauthorized(WRONG_KEY_MESSAGE)
        last_id = last[0][0] if last else None
        cached = self._cells_cache.get(code)
        if cached is not None and last_id is not None and cached[0] == last_id:
            self._cells_cache.move_to_end(code)
            return self._record(fields), cached[1], last_id
        raw_cells = await self.redis.hvals(keys.cells_key(code))
        state = CellsState(sorted((Cell.from_dict(json.loads(raw)) for raw in raw_cells),
                                  key=lambda c: (c.position, c.cell_id)))
        if last_id is not None:
            # Read after the id, so this state is at least as new as it: never stale for it.
            self._cells_cache[code] = (last_id, state)
            self._cells_cache.move_to_end(code)
            while len(self._cells_cache) > CELLS_CACHE_SESSIONS:
                self._cells_cache.popitem(last=False)
        return self._record(fields), state, last_id

    @translate_redis_errors
    async def get_cell(self, code: str, cell_id: str) -> Cell:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.exists(keys.session_key(code))
            pipe.hget(keys.cells_key(code), cell_id)
            exists, raw = await pipe.execute()
        if not exists:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        if raw is None:
            raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
        cell = Cell.from_dict(json.loads(raw))
        if cell.number is None:
            cell.number = await self._rank(code, cell)
        return cell

    async def _rank(self, code: str, cell: Cell) -> int:
        """A cell published without a number shows as its rank among the published cells."""
        _record, state, _last = await self.cells_state(code)
        ids = [c.cell_id for c in state.cells]
        return ids.index(cell.cell_id) + 1 if cell.cell_id in ids else len(ids) + 1
