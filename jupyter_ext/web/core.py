"""The web API's core on plain tornado (no Jupyter server): the read routes' behaviour, who may
read, and the contract's JSON and error shape, for every program that mounts the table.

``ReadRoutes`` answers the contract's read routes (the cell list, one cell, a session's event
stream) over ``self.service`` (a ``SessionService``) for any tornado ``RequestHandler``. Who may
read is not hard-wired: the handler's ``read_auth`` strategy (a ``ReadAuth``) decides. The
standalone relay uses ``StudentKeyAuth`` (the session's student key), the teacher's Jupyter
server adds its own login on top (``handlers/read.py``), and the hub service plugs in the hub's
identity the same way (``hub/access.py``).

``ContractJSON`` is the contract's JSON answers and error shape for the same handlers.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from http.client import responses

from tornado import web

from ..domain import CodeStreamError, InvalidInput, PayloadTooLarge, Unauthorized, normalize_session_code, validate_cell_id
from ..domain.jsonlimits import MAX_JSON_DEPTH, JSONTooDeep, loads_bounded
from ..domain.events import EVENT_SESSION_ENDED, validate_event_id
from ..store.listener import ListenerOverflow
from ..domain.history import parse_version
from . import sse
from ..services.versions import cell_version
from ..store.records import hash_key

CODE = r"(?P<code>[^/]+)"
CELL = r"(?P<cell_id>[^/]+)"

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


MAX_JSON_BODY_BYTES = 4 * 1024 * 1024


def json_object(raw: bytes, limit: int = MAX_JSON_BODY_BYTES) -> dict:
    """A request body as the contract wants it: empty, or one JSON object of at most ``limit`` bytes."""
    if len(raw) > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
    if not raw.strip():
        return {}
    try:
        data = loads_bounded(raw)
    except JSONTooDeep:
        raise InvalidInput(f"The body is JSON nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidInput("The body must be a JSON object.")
    return data


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
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and isinstance(exc, CodeStreamError):
            self.set_header("Retry-After", str(int(retry_after)))
        self.finish(json.dumps({"error": error}))


class CompatJSON(ContractJSON):
    """The 1.x routes' answers (``{"status": "success", ...}``) and errors
    (``{"status": "error", "message", "code"}``), for the Jupyter server and the hub service."""

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        status, error = contract_error(exc, status_code)
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": "error", "message": error["message"], "code": error["code"]}))

    def success(self, **fields) -> None:
        self.write_json({"status": "success", **fields})


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
    """Who a read route answers: a role, and the id its presence counts under (None: not counted).

    ``client`` is who the per-address stream cap counts (None: the remote address; the hub
    service names its user); ``grant`` what let the reader in when it can be withdrawn (a hub
    group membership), for the event fan-out's ``audit`` to re-check at each heartbeat."""

    role: str
    presence_id: str | None = None
    owner: str | None = None  # a teacher: whose sessions they act on (None: any, as on a laptop without owners)
    name: str | None = None  # a hub user's name (hub mode); None with a student key
    client: str | None = None
    grant: object = None
    groups: frozenset = frozenset()  # a hub user's groups (hub mode)
    write_owner: str | None = None  # a teacher: the owner a write must still check (as_teacher(in_write=True))


class ReadAuth(ABC):
    """The strategy a read route asks who may read a session; one per kind of server."""

    def deferred_student_key(self, route: web.RequestHandler) -> str | None:
        """A student key for the cell list to check inside its own read (one Redis round trip),
        or ``None``: then the route awaits ``authorize`` first. Raises when nothing can authorize."""
        return None

    @abstractmethod
    async def authorize(self, route: web.RequestHandler, code: str) -> Reader:
        """Raise a contract error unless this request may read ``code``; say who reads."""

    async def teacher(self, route: web.RequestHandler, code: str | None, *, others: str = "members",
                      in_write: bool = False) -> Reader:
        """Raise a contract error unless this request is the teacher of ``code`` (or, with
        ``code=None``, any teacher); a ``Reader("teacher", owner=…)`` otherwise. ``others`` says
        how a program with many users answers another one (``WebRoute.as_teacher``). A program
        without teachers (the relay) refuses every request."""
        raise Unauthorized("This route is for the session's teacher, on the teacher's own server.")

    async def user(self, route: web.RequestHandler) -> Reader:
        """Whoever may own sessions, to list their own (``owner``): the teacher, any hub user."""
        return await self.teacher(route, None)

    def key_limit_client(self, route: web.RequestHandler) -> str:
        """Who is guessing, for the wrong-key limit: the client address here; a strategy that
        knows a user (the hub service) returns the user name instead."""
        return client_address(route)

    def reading_owner(self, route: web.RequestHandler) -> str | None:
        """Whose sessions a reader without a student key (a teacher) may read; None: any."""
        return None


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
        await route.service.check_student_key(code, self.required_key(route), client=self.key_limit_client(route))
        return Reader("student", presence_id=student_presence_id(route))


# -- the routes ------------------------------------------------------------------------------
class ReadRoutes:
    """The read routes over ``self.service`` (a ``SessionService``), for any tornado handler.

    The handler it is mixed into provides ``write_json`` and ``cs_log``; ``service``,
    ``heartbeat_seconds`` and (optionally) ``read_auth`` arrive through ``initialize(**services)``.
    """

    service = None
    read_auth: ReadAuth = StudentKeyAuth()
    heartbeat_seconds = sse.HEARTBEAT_SECONDS
    teacher_cell_paths = False  # the teacher's cell list names each cell's notebook (the hub service's)
    _listener = None

    def streams_changed(self, delta: int) -> None:
        """An event stream of this process opened (+1) or ended (-1): a program may count them."""

    async def read_cells(self, code: str) -> None:
        code = normalize_session_code(code)
        key = self.read_auth.deferred_student_key(self)
        teacher = key is None and (await self.read_auth.authorize(self, code)).role == "teacher"
        # only the teacher sees who pulled and ran what (a student key or a member: never)
        body = await self.service.list_cells_json(code, student_key=key, client=self.read_auth.key_limit_client(self),
                                                  owner=self.read_auth.reading_owner(self) if key is None else None,
                                                  with_pulls=teacher, with_paths=teacher and self.teacher_cell_paths)
        self.set_header("Content-Type", "application/json")
        self.finish(body)

    async def read_cell(self, code: str, cell_id: str) -> None:
        """One cell; with ``?version=N`` that past version of it (``services/versions.py``)."""
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        version = parse_version(self.get_query_argument("version", None))
        await self.read_auth.authorize(self, code)
        if version is None:
            cell = await self.service.get_cell(code, cell_id)
        else:
            cell = await cell_version(self.service, code, cell_id, version)
        self.write_json(cell.public_dict())

    def on_connection_close(self):
        if self._listener is not None:
            self._listener.close()
        super().on_connection_close()

    async def stream_events(self, code: str) -> None:
        """``text/event-stream`` of a session's events; ``Last-Event-ID`` replays what was missed.

        Ends on ``session_ended``, when the client goes, when the key it was opened with is
        rotated away, or when the process's event fan-out closes (shutdown): the client then
        resumes elsewhere with its ``Last-Event-ID``.
        """
        code = normalize_session_code(code)
        reader = await self.read_auth.authorize(self, code)
        await self.service.get_session_record(code)
        last_event_id = validate_event_id(
            self.request.headers.get("Last-Event-ID") or self.get_query_argument("last_event_id", None))
        presence_id = reader.presence_id
        key_hash = hash_key(bearer_credential(self) or "") if reader.role == "student" else None
        fanout = await self.service.provider.fanout()
        # Over a stream cap this raises ``TooManyStreams`` before any byte is written: a plain 503.
        listener, replay = await fanout.subscribe(code, last_event_id, key_hash=key_hash, client_id=presence_id,
                                               address=reader.client or client_address(self),
                                               grant=reader.grant,
                                               teacher=reader.role == "teacher")
        self.streams_changed(+1)
        try:
            self._listener = listener
            sse.start_event_stream(self)
            if presence_id:
                await self.service.touch_student(code, presence_id, key_hash=key_hash)
            # No timer, no presence write per stream: the fan-out's tick does both for all of them.
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
                    elif not await sse.send(self, sse.frame(event)) or event.name == EVENT_SESSION_ENDED:
                        break
        finally:
            fanout.unsubscribe(listener)
            self._listener = None
            self.streams_changed(-1)
        if not self._finished:
            self.finish()

    def _write_now(self, event) -> bool:
        """The fan-out loop writes a live event straight to this stream (see ``Listener.sink``)."""
        return sse.write_now(self, event)


__all__ = [
    "CompatJSON", "ContractJSON", "ReadAuth", "ReadRoutes", "Reader",
    "StudentKeyAuth", "bearer_credential", "client_address", "contract_error", "json_object", "student_presence_id",
]
