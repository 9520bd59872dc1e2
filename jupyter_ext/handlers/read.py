"""Read routes: the only routes that accept a student key, and only for that key's session.

The one cell route also carries the teacher's ``PUT``/``DELETE``, which stay Jupyter-only.
"""

from __future__ import annotations

import hashlib

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web

from ..domain import Unauthorized, normalize_session_code, validate_cell_id
from ..store import ListenerOverflow
from ..store.sessions import EVENT_SESSION_ENDED
from . import sse
from .base import CodeStreamHandler, bearer_credential
from .teacher import CELL, CODE, CellWriteMixin


class ReadRouteHandler(CodeStreamHandler):
    """Accepts the teacher's Jupyter auth, or the session's student key as a bearer token."""

    async def authorize_read(self, code: str) -> str:
        if self.current_user is not None:
            if not self.authorizer.is_authorized(self, self.current_user, "read", self.auth_resource):
                raise web.HTTPError(403)
            return "teacher"
        key = bearer_credential(self)
        if not key:
            raise Unauthorized("Send the session's student key as 'Authorization: Bearer <key>'.")
        await self.service.check_student_key(code, key, client=self.request.remote_ip or "?")
        return "student"

    def check_xsrf_cookie(self):
        # Student servers call these with a bearer key, never with cookies.
        if self.request.method in ("GET", "HEAD"):
            return None
        return super().check_xsrf_cookie()


class CellsHandler(ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code):
        code = normalize_session_code(code)
        await self.authorize_read(code)
        self.write_json(await self.service.list_cells(code))


class CellHandler(CellWriteMixin, ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.authorize_read(code)
        cell = await self.service.get_cell(code, cell_id)
        self.write_json(cell.public_dict())


class EventsHandler(ReadRouteHandler):
    """``text/event-stream`` of a session's events; ``Last-Event-ID`` replays what was missed."""

    _listener = None
    heartbeat_seconds = sse.HEARTBEAT_SECONDS

    def on_connection_close(self):
        if self._listener is not None:
            self._listener.close()

    @allow_unauthenticated
    async def get(self, code):
        code = normalize_session_code(code)
        role = await self.authorize_read(code)
        await self.service.get_session_record(code)
        last_event_id = self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", None)
        client_id = self._client_id() if role == "student" else None
        hub = await self.service.provider.hub()
        sse.start_event_stream(self)
        async with hub.listen(code, last_event_id) as (listener, replay):
            self._listener = listener
            if client_id:
                await self.service.touch_student(code, client_id)
            if not await sse.send(self, ": connected\n\n"):
                return
            for event in replay:
                if not await sse.send(self, event.sse()):
                    return
            while True:
                try:
                    event = await listener.next(timeout=self.heartbeat_seconds)
                except (StopAsyncIteration, ListenerOverflow):
                    break
                if event is None:
                    if client_id:
                        await self._touch_quietly(code, client_id)
                    if not await sse.send(self, ": heartbeat\n\n"):
                        break
                    continue
                if not await sse.send(self, event.sse()):
                    break
                if event.name == EVENT_SESSION_ENDED:
                    break
        self._listener = None
        if not self._finished:
            self.finish()

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


def read_handlers(**services) -> list[tuple]:
    return [
        (rf"codestream/api/sessions/{CODE}/cells/?", CellsHandler, services),
        (rf"codestream/api/sessions/{CODE}/cells/{CELL}/?", CellHandler, services),
        (rf"codestream/api/sessions/{CODE}/events/?", EventsHandler, services),
    ]
