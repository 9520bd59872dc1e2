"""Read routes: the only routes that accept a student key, and only for that key's session.

``ReadRoutes`` is the routes' whole behaviour (student-key authorization, cells, one cell, the
SSE loop) on any tornado ``RequestHandler``: the Jupyter handlers below mix it with
``CodeStreamHandler`` (and also accept the teacher's Jupyter auth); the standalone relay
(``jupyter_ext.relay``) mixes it with a plain tornado handler, where only the key authorizes.

The one cell route also carries the teacher's ``PUT``/``DELETE``, which stay Jupyter-only.
"""

from __future__ import annotations

import hashlib

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web

from ..domain import Unauthorized, normalize_session_code, validate_cell_id
from ..domain.events import validate_event_id
from ..store import ListenerOverflow
from ..store.sessions import EVENT_SESSION_ENDED, hash_key
from . import sse
from .base import CodeStreamHandler, bearer_credential
from .teacher import CELL, CODE, CellWriteMixin

CELLS_ROUTE = rf"codestream/api/sessions/{CODE}/cells/?"
CELL_ROUTE = rf"codestream/api/sessions/{CODE}/cells/{CELL}/?"
EVENTS_ROUTE = rf"codestream/api/sessions/{CODE}/events/?"


class ReadRoutes:
    """The read routes over ``self.service`` (a ``TeacherService``), for any tornado handler.

    The handler it is mixed into provides ``write_json`` and ``cs_log``; ``heartbeat_seconds``
    arrives through ``initialize(**services)`` like the service.
    """

    service = None
    heartbeat_seconds = sse.HEARTBEAT_SECONDS
    _listener = None

    async def authorize_read(self, code: str) -> str:
        """Who may read ``code``: here only the session's student key (``"student"``)."""
        return await self.authorize_student_key(code)

    async def authorize_student_key(self, code: str) -> str:
        key = bearer_credential(self)
        if not key:
            raise Unauthorized("Send the session's student key as 'Authorization: Bearer <key>'.")
        await self.service.check_student_key(code, key, client=self.request.remote_ip or "?")
        return "student"

    async def read_cells(self, code: str) -> None:
        code = normalize_session_code(code)
        key = self.unchecked_student_key()
        body = await self.service.list_cells_json(code, student_key=key, client=self.request.remote_ip or "?")
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    def unchecked_student_key(self) -> str | None:
        """The bearer key to check together with the read (the hot path's one round trip)."""
        key = bearer_credential(self)
        if not key:
            raise Unauthorized("Send the session's student key as 'Authorization: Bearer <key>'.")
        return key

    async def read_cell(self, code: str, cell_id: str) -> None:
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.authorize_read(code)
        cell = await self.service.get_cell(code, cell_id)
        self.write_json(cell.public_dict())

    def on_connection_close(self):
        if self._listener is not None:
            self._listener.close()
        super().on_connection_close()

    async def stream_events(self, code: str) -> None:
        """``text/event-stream`` of a session's events; ``Last-Event-ID`` replays what was missed.

        Ends on ``session_ended``, when the client goes, or when the process's event hub
        closes (shutdown): the client then resumes elsewhere with its ``Last-Event-ID``.
        """
        code = normalize_session_code(code)
        role = await self.authorize_read(code)
        await self.service.get_session_record(code)
        last_event_id = validate_event_id(
            self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", None))
        client_id = self._client_id() if role == "student" else None
        key_hash = hash_key(bearer_credential(self) or "") if role == "student" else None
        hub = await self.service.provider.hub()
        # Over a stream cap this raises ``TooManyStreams`` before any byte is written: a plain 503.
        listener, replay = await hub.subscribe(code, last_event_id, key_hash=key_hash, client_id=client_id)
        try:
            self._listener = listener
            sse.start_event_stream(self)
            if client_id:
                await self.service.touch_student(code, client_id, key_hash=key_hash)
            # No timer, no presence write per stream: the hub's tick does both for all of them.
            # The loop is inline (no pump/drain coroutine under this one): an open stream holds
            # as few frames as tornado lets it (see docs/performance.md).
            if await sse.send_opening(self, replay):
                listener.sink = self._write_now
                while True:
                    try:
                        event = listener.pop()
                    except (StopAsyncIteration, ListenerOverflow):
                        break
                    if event is None:
                        await listener.parked()
                    elif not await sse.send(self, event.sse()) or event.name == EVENT_SESSION_ENDED:
                        break
        finally:
            hub.unsubscribe(listener)
            self._listener = None
        if not self._finished:
            self.finish()

    def _write_now(self, event) -> bool:
        """The hub's fan-out loop writes a live event straight to this stream (see ``Listener.sink``)."""
        return sse.write_now(self, event)

    def _client_id(self) -> str:
        """Which student server this is: its own id header, else its address (never the key)."""
        given = self.request.headers.get("X-CodeStream-Client", "")[:64]
        raw = given or self.request.remote_ip or "?"
        return hashlib.sha256(raw.encode()).hexdigest()[:16]


class ReadRouteHandler(ReadRoutes, CodeStreamHandler):
    """Accepts the teacher's Jupyter auth, or the session's student key as a bearer token."""

    def unchecked_student_key(self) -> str | None:
        if self.current_user is not None:
            if not self.authorizer.is_authorized(self, self.current_user, "read", self.auth_resource):
                raise web.HTTPError(403)
            return None  # the teacher: no key to check
        return super().unchecked_student_key()

    async def authorize_read(self, code: str) -> str:
        if self.current_user is not None:
            if not self.authorizer.is_authorized(self, self.current_user, "read", self.auth_resource):
                raise web.HTTPError(403)
            return "teacher"
        return await self.authorize_student_key(code)

    def check_xsrf_cookie(self):
        # Student servers call these with a bearer key, never with cookies.
        if self.request.method in ("GET", "HEAD"):
            return None
        return super().check_xsrf_cookie()


class CellsHandler(ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code):
        await self.read_cells(code)


class CellHandler(CellWriteMixin, ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code, cell_id):
        await self.read_cell(code, cell_id)


class EventsHandler(ReadRouteHandler):
    get = allow_unauthenticated(ReadRoutes.stream_events)  # no coroutine layer of its own


def read_handlers(**services) -> list[tuple]:
    return [
        (CELLS_ROUTE, CellsHandler, services),
        (CELL_ROUTE, CellHandler, services),
        (EVENTS_ROUTE, EventsHandler, services),
    ]
