"""The read routes' whole behaviour, on plain tornado: no Jupyter server.

``ReadRoutes`` answers the contract's read routes (the cell list, one cell, a session's event
stream) over ``self.service`` (a ``TeacherService``) for any tornado ``RequestHandler``. Who may
read is not hard-wired: the handler's ``read_auth`` strategy (a ``ReadAuth``) decides. The
standalone relay uses ``StudentKeyAuth`` (the session's student key), the teacher's Jupyter
server adds its own login on top (``handlers/read.py``), and a hub service can plug in the
hub's identity the same way.

``ContractJSON`` is the contract's JSON answers and error shape for the same handlers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from http.client import responses

from tornado import web

from ..domain import CodeStreamError, Unauthorized, normalize_session_code, validate_cell_id
from ..domain.events import validate_event_id
from ..handlers import sse

CODE = r"(?P<code>[^/]+)"
CELL = r"(?P<cell_id>[^/]+)"
CELLS_ROUTE = rf"codestream/api/sessions/{CODE}/cells/?"
CELL_ROUTE = rf"codestream/api/sessions/{CODE}/cells/{CELL}/?"
EVENTS_ROUTE = rf"codestream/api/sessions/{CODE}/events/?"

HTTP_ERROR_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "too_many_requests",
}


# -- the contract's JSON and error shape -----------------------------------------------------
def contract_error(exc: BaseException | None, status: int) -> tuple[int, dict]:
    """Map any exception to ``(status, error object)``; unknown errors say nothing internal."""
    if isinstance(exc, CodeStreamError):
        return exc.status, exc.to_dict()
    if isinstance(exc, web.HTTPError):
        status = exc.status_code
        message = exc.log_message if exc.log_message and "%" not in exc.log_message else None
        if status == 403 and not message:
            message = "This route needs the Jupyter server's authentication (a token or a login)."
        if status == 404 and not message:
            message = "There is no such route."
        return status, {
            "code": HTTP_ERROR_CODES.get(status, "internal_error" if status >= 500 else "http_error"),
            "message": message or responses.get(status, "Request failed") + ".",
        }
    return 500, {"code": "internal_error",
                 "message": "The server failed to answer; the server log has the details."}


class ContractJSON:
    """JSON answers and contract-shaped errors for any tornado handler (Jupyter's or the relay's)."""

    def write_json(self, data: dict, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, error = contract_error(exc, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": error}))


def bearer_credential(handler: web.RequestHandler) -> str | None:
    """The credential in ``Authorization: Bearer <key>`` (or ``token <key>``, as 1.x sent it)."""
    header = handler.request.headers.get("Authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() in ("bearer", "token") and value.strip():
        return value.strip()
    return None


# -- who may read ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Reader:
    """Who a read route answers: a role, and the id its presence counts under (None: not counted)."""

    role: str
    presence_id: str | None = None


class ReadAuth:
    """The strategy a read route asks who may read a session; one per kind of server."""

    def deferred_student_key(self, route: web.RequestHandler) -> str | None:
        """A student key for the cell list to check inside its own read (one Redis round trip),
        or ``None``: then the route awaits ``authorize`` first. Raises when nothing can authorize."""
        return None

    async def authorize(self, route: web.RequestHandler, code: str) -> Reader:
        """Raise a contract error unless this request may read ``code``; say who reads."""
        raise NotImplementedError


def client_address(route: web.RequestHandler) -> str:
    return route.request.remote_ip or "?"


def student_presence_id(route: web.RequestHandler) -> str:
    """Which student server this is: its own id header, else its address (never the key)."""
    given = route.request.headers.get("X-CodeStream-Client", "")[:64]
    raw = given or client_address(route)
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class StudentKeyAuth(ReadAuth):
    """Only the session's student key, as a bearer token, opens it (the standalone relay)."""

    def required_key(self, route: web.RequestHandler) -> str:
        key = bearer_credential(route)
        if not key:
            raise Unauthorized("Send the session's student key as 'Authorization: Bearer <key>'.")
        return key

    def deferred_student_key(self, route: web.RequestHandler) -> str | None:
        return self.required_key(route)

    async def authorize(self, route: web.RequestHandler, code: str) -> Reader:
        await route.service.check_student_key(code, self.required_key(route), client=client_address(route))
        return Reader("student", presence_id=student_presence_id(route))


# -- the routes ------------------------------------------------------------------------------
class ReadRoutes:
    """The read routes over ``self.service`` (a ``TeacherService``), for any tornado handler.

    The handler it is mixed into provides ``write_json`` and ``cs_log``; ``service``,
    ``heartbeat_seconds`` and (optionally) ``read_auth`` arrive through ``initialize(**services)``.
    """

    service = None
    read_auth: ReadAuth = StudentKeyAuth()
    heartbeat_seconds = sse.HEARTBEAT_SECONDS
    _listener = None

    async def read_cells(self, code: str) -> None:
        code = normalize_session_code(code)
        key = self.read_auth.deferred_student_key(self)
        if key is None:
            await self.read_auth.authorize(self, code)
        body = await self.service.list_cells_json(code, student_key=key, client=client_address(self))
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    async def read_cell(self, code: str, cell_id: str) -> None:
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.read_auth.authorize(self, code)
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
        reader = await self.read_auth.authorize(self, code)
        await self.service.get_session_record(code)
        last_event_id = validate_event_id(
            self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", None))
        presence_id = reader.presence_id
        hub = await self.service.provider.hub()
        sse.start_event_stream(self)
        async with hub.listen(code, last_event_id) as (listener, replay):
            self._listener = listener
            if presence_id:
                await self.service.touch_student(code, presence_id)
            await sse.pump(self, listener, replay, heartbeat_seconds=self.heartbeat_seconds,
                           on_heartbeat=(lambda: self._touch_quietly(code, presence_id)) if presence_id else None,
                           sink=self._write_now)
        self._listener = None
        if not self._finished:
            self.finish()

    def _write_now(self, event) -> bool:
        """The hub's fan-out loop writes a live event straight to this stream (see ``Listener.sink``)."""
        return sse.write_now(self, event)

    async def _touch_quietly(self, code: str, presence_id: str) -> None:
        try:
            await self.service.touch_student(code, presence_id)
        except Exception:  # a heartbeat must survive a Redis blip
            self.cs_log.debug("codestream: could not record student presence for %s", code)


__all__ = [
    "CELLS_ROUTE", "CELL_ROUTE", "EVENTS_ROUTE", "ContractJSON", "ReadAuth", "ReadRoutes", "Reader",
    "StudentKeyAuth", "bearer_credential", "client_address", "contract_error", "student_presence_id",
]
