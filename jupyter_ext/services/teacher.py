"""The teacher-side service: what the teacher and read routes do, independent of HTTP."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging

from ..domain import (
    Cell,
    CellLimits,
    InvalidInput,
    InvalidUrl,
    SessionNotFound,
    StoreUnavailable,
    TooManyRequests,
    Unauthorized,
    validate_cell_input,
    validate_notebook_path,
    validate_title,
)
from ..domain.join import join_link
from ..domain.outputs import numbered
from ..domain.urls import normalize_teacher_url
from ..store import EmbeddedRedis, EventHub, SessionStore, make_clients
from ..store.pulls import PullLedger
from ..store.sessions import SessionRecord
from .ratelimit import FailureLimiter


class RedisProvider:
    """Connects lazily to the configured Redis, or starts the embedded one on first need."""

    def __init__(self, url: str | None, embedded: EmbeddedRedis | None, *, max_connections: int = 50,
                 socket_timeout: float = 5.0, block_ms: int = 10_000, stream_maxlen: int = 10_000,
                 blocking_max_connections: int | None = None, freeze_startup_objects: bool = True,
                 log: logging.Logger | None = None):
        self.url = url
        self.embedded = embedded
        self.max_connections = max_connections
        self.blocking_max_connections = blocking_max_connections  # XREAD pool; None: max_connections
        self.freeze_startup_objects = freeze_startup_objects
        self.socket_timeout = socket_timeout
        self.block_ms = block_ms
        self.stream_maxlen = stream_maxlen
        self.log = log or logging.getLogger(__name__)
        self._store: SessionStore | None = None
        self._hub: EventHub | None = None
        self._clients = ()
        self._lock = asyncio.Lock()

    def can_skip_start(self) -> bool:
        """An embedded Redis that never stored anything has nothing to read: don't start it."""
        return self.url is None and self.embedded is not None and not self.embedded.has_data()

    async def store(self, *, start: bool = True) -> SessionStore | None:
        if self._store is not None:
            return self._store
        if not start and self.can_skip_start():
            return None
        async with self._lock:
            if self._store is None:
                url = self.url
                if url is None:
                    if self.embedded is None:
                        raise StoreUnavailable("No Redis is configured on this server.")
                    try:
                        url = await self.embedded.start()
                    except RuntimeError as exc:
                        raise StoreUnavailable(str(exc)) from exc
                commands, blocking = make_clients(
                    url, max_connections=self.max_connections,
                    socket_timeout=self.socket_timeout, block_ms=self.block_ms,
                    blocking_max_connections=self.blocking_max_connections)
                self._clients = (commands, blocking)
                store = SessionStore(commands, stream_maxlen=self.stream_maxlen, log=self.log)
                self._hub = EventHub(store, blocking, block_ms=self.block_ms, log=self.log)
                self._store = store
                if self.freeze_startup_objects:
                    # The server is up by now: its ~10^5 start-up objects are no garbage, and each
                    # full collection walking them paused event fan-out by 0.1-0.2 s
                    # (bench/, docs/performance.md). Later objects are collected as before.
                    gc.freeze()
        return self._store

    async def hub(self) -> EventHub:
        await self.store()
        assert self._hub is not None
        return self._hub

    async def close(self) -> None:
        if self._hub is not None:
            await self._hub.close()
        for client in self._clients:
            await client.aclose()
        self._store = self._hub = None
        self._clients = ()
        if self.embedded is not None:
            await self.embedded.stop()


def validate_relay_url(raw: object) -> str:
    """``""`` (no relay) or a relay base URL, under the same policy as a teacher URL, normalised."""
    if raw is None or raw == "":
        return ""
    try:
        return normalize_teacher_url(raw)
    except InvalidUrl as exc:
        raise InvalidUrl(f"relay_url: {exc.message}") from None


def validate_pull_report(body: object) -> tuple[int, str]:
    """``{"version": int, "client": str (1-64 chars)}`` of a pull report."""
    if not isinstance(body, dict):
        raise InvalidInput("The body must be a JSON object.")
    version, client = body.get("version"), body.get("client")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput("'version' must be the version pulled (a whole number from 1).")
    if not isinstance(client, str) or not 1 <= len(client) <= 64:
        raise InvalidInput("'client' must be an opaque id of the student's server (1 to 64 characters).")
    return version, client


class TeacherService:
    def __init__(self, provider: RedisProvider, *, limits: CellLimits = CellLimits(),
                 limiter: FailureLimiter | None = None, relay_url: str = "", students_url: str = "",
                 log: logging.Logger | None = None):
        self.provider = provider
        self.limits = limits
        self.limiter = limiter or FailureLimiter()
        self.relay_url = validate_relay_url(relay_url)  # advertised to students of new sessions
        self.students_url = students_url  # the teacher URL in join links (services/join.py)
        self.log = log or logging.getLogger(__name__)

    async def _store(self, *, start: bool = True) -> SessionStore:
        store = await self.provider.store(start=start)
        if store is None:
            raise SessionNotFound("There is no live session with that code; check the code.")
        return store

    # -- teacher routes --------------------------------------------------------------
    async def create_session(self, body: dict) -> tuple[SessionRecord, str]:
        title = validate_title(body.get("title"))
        notebook_path = validate_notebook_path(body.get("notebook_path"))
        relay_url = validate_relay_url(body["relay_url"]) if "relay_url" in body else self.relay_url
        store = await self._store()
        record, key = await store.create_session(title, notebook_path)
        if relay_url:  # students then read from the relays; the teacher still writes here
            await store.set_relay_url(record.code, relay_url)
            record.relay_url = relay_url
        self.log.info("codestream: session %s created", record.code)
        return record, key

    async def ensure_session(self, code: str) -> SessionRecord:
        """1.x clients invent codes: a push to an unknown code creates that session."""
        store = await self._store()
        try:
            return await store.get_session(code)
        except SessionNotFound:
            try:
                record, _key = await store.create_session(code=code)
                self.log.info("codestream: session %s created by a 1.x client", code)
                return record
            except ValueError:
                return await store.get_session(code)

    async def list_sessions(self) -> list[dict]:
        store = await self.provider.store(start=False)
        sessions = await store.list_sessions() if store is not None else []
        return [{**session, "join_link": self.join_link(session["code"], None)} for session in sessions]

    def join_link(self, code: str, student_key: str | None) -> str:
        """The link a projector shows (contract: Join links); the key only when it is known."""
        return join_link(self.students_url, code, student_key)

    async def delete_session(self, code: str) -> None:
        store = await self._store(start=False)
        await store.delete_session(code)
        (await self.provider.hub()).end_session(code)
        self.log.info("codestream: session %s ended", code)

    async def rotate_key(self, code: str) -> str:
        key = await (await self._store(start=False)).rotate_key(code)
        self.log.info("codestream: student key of session %s rotated", code)
        return key

    async def publish_cell(self, code: str, cell_id: str, body: object) -> Cell:
        clean = validate_cell_input(body, self.limits)
        cell = await (await self._store(start=False)).publish_cell(code, cell_id, clean)
        self.log.debug("codestream: session %s cell %s at version %s", code, cell_id, cell.version)
        return cell

    async def unpublish_cell(self, code: str, cell_id: str) -> None:
        await (await self._store(start=False)).unpublish_cell(code, cell_id)

    # -- read routes -----------------------------------------------------------------
    async def check_student_key(self, code: str, student_key: str, client: str) -> None:
        """Raise unless ``student_key`` opens ``code``; failures are rate-limited per client."""
        if self.limiter.blocked(client):
            raise TooManyRequests("Too many wrong student keys from this address; wait a minute.")
        store = await self._store(start=False)
        if not await store.check_student_key(code, student_key):
            self.limiter.record_failure(client)
            if not await store.session_exists(code):  # a mistyped code, not a wrong key
                raise SessionNotFound("There is no live session with that code; check the code.")
            self.log.warning("codestream: rejected a student key for session %s from %s", code, client)
            raise Unauthorized("The student key is not valid for this session; ask your teacher for the current key.")

    async def list_cells_json(self, code: str, *, student_key: str | None = None, client: str = "?",
                              with_pulls: bool = False) -> str:
        """The cell-list route's body: one Redis round trip, the student key (when given) checked
        in the same read and rate-limited like ``check_student_key``; the cells rendered once per
        state of the session, not once per request."""
        if student_key is not None and self.limiter.blocked(client):
            raise TooManyRequests("Too many wrong student keys from this address; wait a minute.")
        store = await self._store(start=False)
        try:
            record, state, last_event_id = await store.cells_state(code, student_key=student_key)
        except (Unauthorized, SessionNotFound) as exc:
            if student_key is not None:
                self.limiter.record_failure(client)
                if isinstance(exc, Unauthorized):
                    self.log.warning("codestream: rejected a student key for session %s from %s", code, client)
            raise
        # ``with_pulls`` only for the teacher: a student's answer never says who pulled what
        cells_json = await self._teacher_cells_json(store, code, state.cells) if with_pulls else state.public_json()
        head = json.dumps({"session": record.code, "title": record.title})
        tail = json.dumps({"last_event_id": last_event_id,
                           **({"relay_url": record.relay_url} if record.relay_url else {})})
        return f'{head[:-1]}, "cells": {cells_json}, {tail[1:]}'

    async def list_cells(self, code: str) -> dict:
        record, cells, last_event_id = await (await self._store(start=False)).list_cells(code)
        return {
            "session": record.code,
            "title": record.title,
            "cells": [cell.public_dict(n) for cell, n in zip(cells, numbered(cells, lambda c: c.number))],
            "last_event_id": last_event_id,
            **({"relay_url": record.relay_url} if record.relay_url else {}),
        }

    async def get_session_record(self, code: str) -> SessionRecord:
        return await (await self._store(start=False)).get_session(code)

    async def get_cell(self, code: str, cell_id: str) -> Cell:
        return await (await self._store(start=False)).get_cell(code, cell_id)

    # -- who pulled what (teacher only) ---------------------------------------------
    async def _teacher_cells_json(self, store: SessionStore, code: str, cells: list[Cell]) -> str:
        """The teacher's view of the cells: each with ``pulls`` (distinct clients per version)."""
        counts = await PullLedger(store.redis).counts(code)
        numbers = numbered(cells, lambda c: c.number)
        return json.dumps([{**cell.public_dict(n), "pulls": counts.get(cell.cell_id, {})}
                           for cell, n in zip(cells, numbers)])

    async def record_pull(self, code: str, cell_id: str, body: dict) -> bool:
        """A student's server pulled ``cell_id`` (``POST …/cells/{cell_id}/pulled``)."""
        version, client = validate_pull_report(body)
        store = await self._store(start=False)
        cell = await store.get_cell(code, cell_id)
        if version > cell.version:
            raise InvalidInput(f"Cell {cell_id} has no version {version} yet.")
        opaque = hashlib.sha256(client.encode()).hexdigest()[:16]  # a fixed size, whatever was sent
        return await PullLedger(store.redis, stream_maxlen=store.stream_maxlen).record(code, cell_id, version, opaque)

    async def touch_student(self, code: str, client_id: str) -> None:
        await (await self._store(start=False)).touch_student(code, client_id)

    async def close(self) -> None:
        await self.provider.close()
