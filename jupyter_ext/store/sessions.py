"""Sessions, published cells and the per-session event stream, on ``redis.asyncio``.

Every read is bounded by one session's own keys: listing a session costs O(its cells),
never a scan of the database.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections import OrderedDict

from redis.asyncio import Redis
from redis.exceptions import WatchError

from ..domain import (
    Cell,
    CellNotFound,
    Forbidden,
    SessionNotFound,
    Unauthorized,
    apply_publish,
    iso_timestamp,
    new_session_code,
    new_student_key,
)
from ..domain.cells import republished_version, retired_record
from ..domain.events import EVENT_PUBLISHED, EVENT_SESSION_ENDED, EVENT_UNPUBLISHED, EVENT_UPDATED
from . import keys
from .replication import wait_for_replicas
from .records import CellsState, SessionRecord, hash_key
from .stream import STUDENT_WINDOW_SECONDS, SessionStreams, translate_redis_errors
from .versions import queue_version

NOT_YOURS_MESSAGE = ("Session {code} belongs to another teacher; only the server (or hub user) that"
                     " started it can change it.")
WRONG_KEY_MESSAGE = "The student key is not valid for this session; ask your teacher for the current key."
CELLS_CACHE_SESSIONS = 64  # sessions whose parsed cells one process keeps (LRU)


def unpublished_data(code: str, cell: Cell) -> dict:
    data = {"session": code, "cell_id": cell.cell_id, "version": cell.version}
    if cell.number is not None:
        data["number"] = cell.number  # students' dashboards name the withdrawn cell
    return data


def outputs_changed(previous: Cell, cell: Cell) -> bool:
    return (previous.outputs or []) != (cell.outputs or []) or (previous.outputs is None) != (cell.outputs is None)


class SessionStore(SessionStreams):
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
    async def create_session(self, title: str = "", notebook_path: str | None = None,
                             code: str | None = None, owner: str | None = None) -> tuple[SessionRecord, str]:
        """Create a session with a fresh code (or the given one) belonging to ``owner``; returns
        it and its student key."""
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
            }
            # HSETNX on "code" claims the code atomically; the rest follows in the same slot.
            claimed = await self.redis.hsetnx(keys.session_key(candidate), "code", candidate)
            if claimed:
                await self.redis.hset(keys.session_key(candidate), mapping=fields)
                await self.redis.zadd(keys.SESSION_INDEX, {candidate: time.time()})
                if owner:
                    await self.redis.zadd(keys.owner_index(owner), {candidate: time.time()})
                record = SessionRecord(candidate, title, created, notebook_path or "", owner=owner or "")
                return record, student_key
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
    async def list_sessions(self, owner: str | None = None, *, codes: list[str] | None = None) -> list[dict]:
        """Live sessions, oldest first: all of them, only ``owner``'s (from its own index), or
        only those of ``codes`` (an index of the caller's, e.g. the sessions a hub user may
        join): O(listed sessions) every way."""
        index = keys.owner_index(owner) if owner else keys.SESSION_INDEX
        from_index = codes is None
        if from_index:
            codes = await self.redis.zrange(index, 0, -1)
        if not codes:
            return []
        since = time.time() - STUDENT_WINDOW_SECONDS
        async with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hgetall(keys.session_key(code))
                pipe.hlen(keys.cells_key(code))
                pipe.zcount(keys.students_key(code), since, "+inf")
            replies = await pipe.execute()
        sessions = []
        stale = []
        for i, code in enumerate(codes):
            fields, n_cells, n_students = replies[3 * i: 3 * i + 3]
            if not fields or "key_hash" not in fields:
                stale.append(code)
                continue
            record = self._record(fields)
            sessions.append({**record.public_dict(), "notebook_path": record.notebook_path,
                             "cells": n_cells, "students": n_students})
        if stale and from_index:
            await self.redis.zrem(index, *stale)
        return sessions

    @translate_redis_errors
    async def delete_session(self, code: str) -> None:
        fields = await self._session_fields(code)
        # The event goes out first, on its own, so blocked readers are served it before the
        # stream key disappears.
        await self._add_event(code, EVENT_SESSION_ENDED, {"session": code})
        await self.redis.delete(*keys.all_session_keys(code))
        await self.redis.zrem(keys.SESSION_INDEX, code)
        if fields.get("owner"):
            await self.redis.zrem(keys.owner_index(fields["owner"]), code)

    # -- owners (a server's user, or a hub user) ----------------------------------------
    @translate_redis_errors
    async def claim_session(self, code: str, owner: str) -> SessionRecord:
        """The session, when ``owner`` may change it: it is theirs, or it has no owner yet (made
        before owners existed), in which case it becomes theirs now, atomically (of two servers
        claiming at once one wins, the other gets ``Forbidden``). Someone else's: ``Forbidden``."""
        session_key = keys.session_key(code)
        fields = await self._session_fields(code)  # one round trip on the hot path (a publish)
        if fields.get("owner"):
            if fields["owner"] != owner:
                raise Forbidden(NOT_YOURS_MESSAGE.format(code=code))
            return self._record(fields)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(session_key)
                    fields = await pipe.hgetall(session_key)
                    if not fields or "key_hash" not in fields:
                        raise SessionNotFound(f"There is no live session {code}; check the code.")
                    current = fields.get("owner", "")
                    if current == owner:
                        return self._record(fields)
                    if current:
                        raise Forbidden(NOT_YOURS_MESSAGE.format(code=code))
                    pipe.multi()
                    pipe.hset(session_key, "owner", owner)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        await self.redis.zadd(keys.owner_index(owner), {code: time.time()})
        self.log.info("codestream: session %s (made without an owner) claimed by this server's user", code)
        return self._record({**fields, "owner": owner})

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

    @translate_redis_errors
    async def set_relay_url(self, code: str, relay_url: str) -> None:
        await self._session_fields(code)
        await self.redis.hset(keys.session_key(code), "relay_url", relay_url)

    # -- cells --------------------------------------------------------------------
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
