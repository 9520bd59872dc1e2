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
        body = await self.service.list_cells_json(code, student_key=key, client=self.request.remote_ip or "?",
                                                  with_pulls=key is None and self.pulls_visible())
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    def pulls_visible(self) -> bool:
        """Whether this reader may see who pulled what (the teacher only; see ReadRouteHandler)."""
        return False

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
        hub = await self.service.provider.hub()
        sse.start_event_stream(self)
        async with hub.listen(code, last_event_id) as (listener, replay):
            self._listener = listener
            if client_id:
                await self.service.touch_student(code, client_id)
            await sse.pump(self, listener, replay, heartbeat_seconds=self.heartbeat_seconds,
                           on_heartbeat=(lambda: self._touch_quietly(code, client_id)) if client_id else None,
                           sink=self._write_now)
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

    async def _touch_quietly(self, code: str, client_id: str) -> None:
        try:
            await self.service.touch_student(code, client_id)
        except Exception:  # a heartbeat must survive a Redis blip
            self.cs_log.debug("codestream: could not record student presence for %s", code)


class ReadRouteHandler(ReadRoutes, CodeStreamHandler):
    """Accepts the teacher's Jupyter auth, or the session's student key as a bearer token."""

    def pulls_visible(self) -> bool:
        return self.current_user is not None  # Jupyter-authenticated: the teacher

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
    @allow_unauthenticated
    async def get(self, code):
        await self.stream_events(code)


def read_handlers(**services) -> list[tuple]:
    return [
        (CELLS_ROUTE, CellsHandler, services),
        (CELL_ROUTE, CellHandler, services),
        (EVENTS_ROUTE, EventsHandler, services),
    ]
