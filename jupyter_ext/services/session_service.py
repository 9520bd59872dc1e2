"""The session service: what every route of the web table does with sessions and cells,
independent of HTTP, in whichever program mounts the table (the Jupyter extension, a relay, the
hub service); ``RedisProvider`` opens the store it works on."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging

from ..domain import (
    Cell,
    CellLimits,
    CellNotFound,
    Forbidden,
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
from ..store import EmbeddedRedis, EventFanout, SessionStore, make_clients
from ..domain.talkback import EMPTY_RUNS
from ..store.pulls import PullLedger
from ..store.runs import RunLedger
from ..store.records import SessionRecord, hash_key
from ..store.owners import NOT_YOURS_MESSAGE
from .ratelimit import FailureLimiter
from .stream_caps import StreamCaps


class RedisProvider:
    """Connects lazily to the configured Redis, or starts the embedded one on first need."""

    def __init__(self, url: str | None, embedded: EmbeddedRedis | None, *, max_connections: int = 50,
                 socket_timeout: float = 5.0, block_ms: int = 10_000, stream_maxlen: int = 10_000,
                 blocking_max_connections: int | None = None, freeze_startup_objects: bool = True,
                 stream_caps: StreamCaps | None = None, log: logging.Logger | None = None,
                 wait_replicas: int = 0, wait_timeout_ms: int = 1000):
        self.url = url
        self.wait_replicas = wait_replicas  # see store/replication.py
        self.wait_timeout_ms = wait_timeout_ms
        self.embedded = embedded
        self.max_connections = max_connections
        self.blocking_max_connections = blocking_max_connections  # XREAD pool; None: max_connections
        self.freeze_startup_objects = freeze_startup_objects
        self.socket_timeout = socket_timeout
        self.block_ms = block_ms
        self.stream_maxlen = stream_maxlen
        self.stream_caps = stream_caps or StreamCaps()
        self.log = log or logging.getLogger(__name__)
        self._store: SessionStore | None = None
        self._fanout: EventFanout | None = None
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
                store = SessionStore(commands, stream_maxlen=self.stream_maxlen, log=self.log,
                                     wait_replicas=self.wait_replicas, wait_timeout_ms=self.wait_timeout_ms)
                self._fanout = EventFanout(store, blocking, block_ms=self.block_ms, log=self.log,
                                     **self.stream_caps.hub_options())
                self._store = store
                if self.freeze_startup_objects:
                    # The server is up by now: its start-up objects are no garbage, and each full
                    # collection walking them paused event fan-out (figures: docs/performance.md).
                    # Later objects are collected as before.
                    gc.freeze()
        return self._store

    async def fanout(self) -> EventFanout:
        await self.store()
        assert self._fanout is not None
        return self._fanout

    async def close(self) -> None:
        if self._fanout is not None:
            await self._fanout.close()
        for client in self._clients:
            await client.aclose()
        self._store = self._fanout = None
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


class SessionService:
    """Sessions, cells and reads over one store; who may call what is the mount's identity."""

    def __init__(self, provider: RedisProvider, *, limits: CellLimits = CellLimits(),
                 limiter: FailureLimiter | None = None, relay_url: str = "", students_url: str = "",
                 log: logging.Logger | None = None):
        self.provider = provider
        self.limits = limits
        self.limiter = limiter or FailureLimiter()
        self.relay_url = validate_relay_url(relay_url)  # advertised to students of new sessions
        self.students_url = students_url  # the teacher URL in join links (clients/local_network.py)
        self.log = log or logging.getLogger(__name__)

    async def _store(self, *, start: bool = True) -> SessionStore:
        store = await self.provider.store(start=start)
        if store is None:
            raise SessionNotFound("There is no live session with that code; check the code.")
        return store

    async def session_store(self) -> SessionStore:
        """The store, for the feature services over it (never starts an embedded Redis)."""
        return await self._store(start=False)

    # -- teacher routes --------------------------------------------------------------
    # ``owner`` is whose sessions these calls act on: this server's user id (no hub), the hub
    # user (hub service), or None for no owner check (a relay, which has no teacher routes).
    async def create_session(self, body: dict, owner: str | None = None,
                             group: str | None = None) -> tuple[SessionRecord, str]:
        """``group``: the course group (a hub group) the session is limited to (hub only)."""
        title = validate_title(body.get("title"))
        notebook_path = validate_notebook_path(body.get("notebook_path"))
        # with a relay URL students read from the relays; the teacher still writes here
        relay_url = validate_relay_url(body["relay_url"]) if "relay_url" in body else self.relay_url
        store = await self._store()
        record, key = await store.create_session(title, notebook_path, owner=owner, group=group,
                                                 relay_url=relay_url)
        self.log.info("codestream: session %s created", record.code)
        return record, key

    async def ensure_session(self, code: str, owner: str | None = None) -> SessionRecord:
        """1.x clients invent codes: a push to an unknown code creates that session (``owner``'s);
        a push to someone else's is ``Forbidden``."""
        store = await self._store()
        try:
            return await self._owned(store, code, owner)
        except SessionNotFound:
            record = await self.create_made_up_session(code, owner)
            return record if record is not None else await self._owned(store, code, owner)

    async def create_made_up_session(self, code: str, owner: str | None = None) -> SessionRecord | None:
        """A 1.x client's made-up ``code`` as ``owner``'s new session; None when it exists already
        (made meanwhile, by this owner or another)."""
        store = await self._store()
        try:
            record, _key = await store.create_session(code=code, owner=owner)
        except ValueError:
            return None
        self.log.info("codestream: session %s created by a 1.x client%s", code, f" of {owner}" if owner else "")
        return record

    async def list_sessions(self, owner: str | None = None) -> list[dict]:
        store = await self.provider.store(start=False)
        sessions = await store.list_sessions(owner) if store is not None else []
        return [{**session, "join_link": self.join_link(session["code"], None)} for session in sessions]

    def join_link(self, code: str, student_key: str | None) -> str:
        """The link a projector shows (contract: Join links); the key only when it is known."""
        return join_link(self.students_url, code, student_key)

    async def delete_session(self, code: str, owner: str | None = None) -> None:
        store = await self._store(start=False)
        await self._owned(store, code, owner)
        await store.delete_session(code)
        (await self.provider.fanout()).end_session(code)
        self.log.info("codestream: session %s ended", code)

    async def end_own_sessions(self, owner: str) -> int:
        """1.x ``clear-all-redis``: end every session of ``owner`` (and nothing else: 1.x wiped the
        whole database, which on a shared Redis would end another teacher's class)."""
        store = await self.provider.store(start=False)
        if store is None:
            return 0
        ended = 0
        for session in await store.list_sessions(owner):
            try:
                await self.delete_session(session["code"], owner=owner)
            except (SessionNotFound, Forbidden):  # ended (or claimed) meanwhile: not ours to count
                continue
            ended += 1
        return ended

    async def unpublish_all_but(self, code: str, keep: set[str], owner: str | None = None) -> int:
        """1.x ``cleanup-orphan-cells``: unpublish every cell of ``code`` not in ``keep``; a session
        that does not exist (yet) has nothing to clean up."""
        store = await self.provider.store(start=False)
        if store is None:
            return 0
        try:
            await self._owned(store, code, owner)
        except SessionNotFound:
            return 0
        _record, cells, _last = await store.list_cells(code)
        removed = 0
        for cell in cells:
            if cell.cell_id in keep:
                continue
            try:
                await store.unpublish_cell(code, cell.cell_id)
            except CellNotFound:  # unpublished meanwhile
                continue
            removed += 1
        return removed

    async def rotate_key(self, code: str, owner: str | None = None) -> str:
        store = await self._store(start=False)
        await self._owned(store, code, owner)
        key = await store.rotate_key(code)
        # This process's streams of the old key end now; other processes' (relays) at their tick.
        (await self.provider.fanout()).revoke_keys_except(code, hash_key(key))
        self.log.info("codestream: student key of session %s rotated", code)
        return key

    async def publish_cell(self, code: str, cell_id: str, body: object, owner: str | None = None) -> Cell:
        clean = validate_cell_input(body, self.limits)
        store = await self._store(start=False)
        await self._owned(store, code, owner)
        cell = await store.publish_cell(code, cell_id, clean)
        self.log.debug("codestream: session %s cell %s at version %s", code, cell_id, cell.version)
        return cell

    async def unpublish_cell(self, code: str, cell_id: str, owner: str | None = None) -> None:
        store = await self._store(start=False)
        await self._owned(store, code, owner)
        await store.unpublish_cell(code, cell_id)

    async def owned_session(self, code: str, owner: str | None) -> SessionRecord:
        """The session, if ``owner`` may change it (``SessionNotFound`` or ``Forbidden`` else)."""
        return await self._owned(await self._store(start=False), code, owner)

    @staticmethod
    async def _owned(store: SessionStore, code: str, owner: str | None) -> SessionRecord:
        """The session, if ``owner`` may change it (see ``SessionStore.claim_session``)."""
        if owner is None:
            return await store.get_session(code)
        return await store.claim_session(code, owner)

    @staticmethod
    def check_reader(record: SessionRecord, owner: str | None) -> None:
        """A teacher reads only their own sessions (and those made before owners existed)."""
        if owner is not None and record.owner and record.owner != owner:
            raise Forbidden(NOT_YOURS_MESSAGE.format(code=record.code))

    # -- read routes -----------------------------------------------------------------
    async def check_student_key(self, code: str, student_key: str, client: str) -> None:
        """Raise unless ``student_key`` opens ``code``. ``client`` is who is asking (an address,
        or the hub user under a hub): its wrong keys for this session are limited, a right key
        always passes (see ``FailureLimiter``)."""
        store = await self._store(start=False)
        if await store.check_student_key(code, student_key):
            return
        if not await store.session_exists(code):  # a mistyped code, not a wrong key
            await self._wrong_key(client, None)
            raise SessionNotFound("There is no live session with that code; check the code.")
        await self._wrong_key(client, code)
        raise Unauthorized("The student key is not valid for this session; ask your teacher for the current key.")

    async def _wrong_key(self, client: str, code: str | None) -> None:
        """Count a wrong key (or unknown code); beyond the limit, wait the penalty and refuse with 429."""
        if code is not None:
            self.log.warning("codestream: rejected a student key for session %s from %s", code, client)
        if self.limiter.record_failure(self.limiter.limit_key(client, code)):
            await asyncio.sleep(self.limiter.penalty_seconds)
            raise TooManyRequests("Too many wrong student keys for this session from here; check the"
                                  " key your teacher shows and try again in a minute.")

    async def list_cells_json(self, code: str, *, student_key: str | None = None, client: str = "?",
                              owner: str | None = None, with_pulls: bool = False, with_paths: bool = False) -> str:
        """The cell-list route's body: one Redis round trip, the student key (when given) checked
        in the same read and limited like ``check_student_key``; the cells rendered once per
        state of the session, not once per request."""
        store = await self._store(start=False)
        try:
            record, state, last_event_id = await store.cells_state(code, student_key=student_key)
        except (Unauthorized, SessionNotFound) as exc:
            if student_key is not None:
                await self._wrong_key(client, code if isinstance(exc, Unauthorized) else None)
            raise
        self.check_reader(record, owner)
        # ``with_pulls`` only for the teacher: a student's answer never says who pulled what
        cells_json = (await self._teacher_cells_json(store, code, state.cells, with_paths=with_paths) if with_pulls
                      else state.public_json())
        head = json.dumps({"session": record.code, "title": record.title})
        tail = json.dumps({"last_event_id": last_event_id, "focus": record.focus,
                           **({"relay_url": record.relay_url} if record.relay_url else {})})
        return f'{head[:-1]}, "cells": {cells_json}, {tail[1:]}'

    async def list_cells(self, code: str, owner: str | None = None) -> dict:
        record, cells, last_event_id = await (await self._store(start=False)).list_cells(code)
        self.check_reader(record, owner)
        return {
            "session": record.code,
            "title": record.title,
            "cells": [cell.public_dict(n) for cell, n in zip(cells, numbered(cells, lambda c: c.number))],
            "last_event_id": last_event_id,
            "focus": record.focus,
            **({"relay_url": record.relay_url} if record.relay_url else {}),
        }

    async def get_session_record(self, code: str) -> SessionRecord:
        return await (await self._store(start=False)).get_session(code)

    async def get_cell(self, code: str, cell_id: str) -> Cell:
        return await (await self._store(start=False)).get_cell(code, cell_id)

    # -- who pulled what (teacher only) ---------------------------------------------
    async def _teacher_cells_json(self, store: SessionStore, code: str, cells: list[Cell], *,
                                  with_paths: bool = False) -> str:
        """The teacher's view of the cells: each with ``pulls`` (distinct clients per version) and
        ``runs``; ``with_paths``: its ``notebook_path`` too (publish on save under the hub)."""
        counts = await PullLedger(store.redis).counts(code)
        runs = await RunLedger(store.redis).counts(code)
        numbers = numbered(cells, lambda c: c.number)
        return json.dumps([{**cell.public_dict(n), "pulls": counts.get(cell.cell_id, {}),
                            "runs": runs.get(cell.cell_id, EMPTY_RUNS),
                            **({"notebook_path": cell.notebook_path} if with_paths else {})}
                           for cell, n in zip(cells, numbers)])

    async def record_pull(self, code: str, cell_id: str, body: dict, hub_user_id: str | None = None) -> bool:
        """A student's server pulled ``cell_id`` (``POST …/cells/{cell_id}/pulled``); under the hub
        ``hub_user_id`` (the user's presence id) is the client, whatever the body says."""
        version, client = validate_pull_report(body)
        store = await self._store(start=False)
        cell = await store.get_cell(code, cell_id)
        if version > cell.version:
            raise InvalidInput(f"Cell {cell_id} has no version {version} yet.")
        opaque = hub_user_id or hashlib.sha256(client.encode()).hexdigest()[:16]  # a fixed size
        return await PullLedger(store.redis, stream_maxlen=store.stream_maxlen).record(code, cell_id, version, opaque)

    async def touch_student(self, code: str, client_id: str, *, key_hash: str | None = None) -> None:
        """Count ``client_id`` as present; with ``key_hash``, only while that is still the key."""
        store = await self._store(start=False)
        if key_hash is None:
            await store.touch_student(code, client_id)
        else:
            await store.touch_students(code, key_hash, [client_id])

    async def close(self) -> None:
        await self.provider.close()
