"""Async client of a teacher's server, as a student's server calls it.

One pooled ``httpx.AsyncClient`` per student server. Every request has explicit connect and
read timeouts and a cap on the response size, carries the student key as a bearer token,
and never follows a redirect to another origin. Every failure becomes one of the contract's
codes (``unreachable``, ``timeout``, ``unauthorized``, ``too_many_requests``,
``session_not_found``, ``cell_not_found``, ``bad_response``), as the domain's error types
(``clients/errors.py`` is the boundary), with a message a student can act on; no message, log
line or exception text contains the key.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote, urljoin

import httpx

from ..domain import CELL_TYPES, CodeStreamError, InvalidUrl, Unauthorized
from ..domain.cells import CELL_ID_RE
from ..domain.jsonlimits import loads_bounded
from ..domain.urls import TeacherUrl, check_addresses_allowed, parse_teacher_url, same_origin
from .bounded_json import MAX_JSON_VALUES
from .credentials import credential_client
from .errors import ExceptionMap, bad_response, map_exceptions, timed_out, unreachable
from .sse import ServerSentEvent, SSETooLarge
from .teacher_answers import TeacherAnswers
from .transport import CHECK_URL, AllowListedTransport, resolve

MAX_REDIRECTS = 3
CLIENT_HEADER = "X-CodeStream-Client"


@dataclass(frozen=True)
class TeacherConnection:
    """Where and as whom to call: the teacher's base URL, a session code and the student key."""

    teacher_url: str
    session_code: str | None
    student_key: str | None = field(default=None, repr=False)


CLOSE_GRACE_SECONDS = 3.0  # how long a closing client lets the calls in flight finish


class TeacherClient(TeacherAnswers):
    """Calls one teacher server's read routes; ``transport`` may be injected by tests."""

    def __init__(self, *, connect_timeout: float = 5.0, read_timeout: float = 10.0,
                 stream_read_timeout: float = 30.0, max_response_bytes: int = 32 * 1024 * 1024,
                 max_event_bytes: int = 64 * 1024, allowed_networks: tuple = (), client_id: str = "",
                 max_response_values: int = MAX_JSON_VALUES,
                 proxy: str | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 log: logging.Logger | None = None):
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.stream_read_timeout = stream_read_timeout
        self.max_response_bytes = max_response_bytes
        self.max_response_values = max_response_values  # JSON values in one answer (see bounded_json)
        self.max_event_bytes = max_event_bytes  # one event (and one line) of an event stream
        self.allowed_networks = allowed_networks
        self.log = log or logging.getLogger(__name__)
        headers = {"Accept-Encoding": "identity", **({CLIENT_HEADER: client_id} if client_id else {})}
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=10)
        if transport is None and allowed_networks and not proxy:
            transport = AllowListedTransport(allowed_networks, connect_timeout, limits)
        # one credential, the configured one: no cookie jar, no proxy from the environment
        self._in_flight = 0
        self._closing = False
        self._idle: asyncio.Event | None = None
        self._client = credential_client(
            headers=headers, follow_redirects=False, transport=transport, proxy=proxy,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout), limits=limits,
        )

    async def aclose(self, grace: float = CLOSE_GRACE_SECONDS) -> None:
        """Close once the calls in flight have their answers (within ``grace``). Called when this
        server stops: a pull in flight then still answers, instead of failing as if the teacher
        were unreachable."""
        self._closing = True
        if self._in_flight:
            self._idle = asyncio.Event()
            try:
                await asyncio.wait_for(self._idle.wait(), grace)
            except asyncio.TimeoutError:
                self.log.info("codestream: %d teacher calls still open after %g s; closing", self._in_flight, grace)
        await self._client.aclose()

    @asynccontextmanager
    async def _tracked(self):
        """One call to the teacher, counted for ``aclose``. A call that would start while this
        server stops waits for the stop (which ends the connection that asked) and only then,
        if the server is still there, says it is stopping."""
        if self._closing:
            await asyncio.sleep(CLOSE_GRACE_SECONDS)
            raise unreachable("This server is stopping; try again once it is back.")
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight and self._idle is not None:
                self._idle.set()

    # -- policy -----------------------------------------------------------------------------
    async def check_allowed(self, url: TeacherUrl) -> None:
        """Apply the operator's network allow-list to every address ``url``'s host resolves to."""
        if not self.allowed_networks:
            return
        addresses = [url.host] if url.is_ip_literal else await resolve(url.host, url.port, self.connect_timeout)
        check_addresses_allowed(url.host, addresses, self.allowed_networks)

    # -- read routes --------------------------------------------------------------------------
    async def list_cells(self, conn: TeacherConnection, code: str | None = None) -> dict:
        """The session's cell list, checked against the contract's shape."""
        code = code or conn.session_code
        body = await self._get_json(conn, f"codestream/api/sessions/{code}/cells", code)
        if not isinstance(body, dict) or not isinstance(body.get("cells"), list):
            raise bad_response("The teacher's server did not send a cell list; " + CHECK_URL + ".")
        body["cells"] = [checked_cell(c) for c in body["cells"]]
        return body

    async def get_cell(self, conn: TeacherConnection, cell_id: str, code: str | None = None, *,
                       version: int | None = None) -> dict:
        """The cell, or (``version``) that past version of it."""
        code = code or conn.session_code
        query = f"?version={int(version)}" if version is not None else ""
        body = await self._get_json(conn, f"codestream/api/sessions/{code}/cells/{quote(cell_id)}{query}", code,
                                    cell_id=cell_id)
        return checked_cell(body)

    async def check_credential(self, conn: TeacherConnection) -> dict:
        """``GET api/status`` WITH the credential (the teacher's Jupyter token, as 1.x students
        enter it): a refused one is ``Unauthorized``; no session code is needed."""
        if not conn.student_key:
            raise Unauthorized("No token is stored; enter the token your teacher shows.")
        try:
            body = await self._get_json(conn, "api/status", None)
        except Unauthorized:
            raise Unauthorized("The teacher's server refused this token; enter the token your teacher"
                               " shows (a session's student key needs its session code too).") from None
        if not isinstance(body, dict):
            raise bad_response("That address is not a Jupyter server; " + CHECK_URL + ".")
        return body

    async def get_notebook(self, conn: TeacherConnection) -> tuple[bytes, str]:
        """``GET …/notebook``: the lesson's ``.ipynb`` bytes (capped) and its Content-Disposition."""
        code = conn.session_code
        headers = {"Accept": "application/x-ipynb+json, application/json"}
        async with self._open(conn, f"codestream/api/sessions/{code}/notebook", headers, None) as response:
            if response.status_code >= 300:
                await self._raise_for(response, code)
            return await self._read_capped(response), response.headers.get("Content-Disposition", "")

    async def report_pull(self, conn: TeacherConnection, cell_id: str, version: int, client: str) -> None:
        """``POST …/cells/{cell_id}/pulled`` to the teacher's own server (never a relay: relays only
        read). No redirect is followed; a refusal raises like a read route's."""
        base = parse_teacher_url(conn.teacher_url)
        await self.check_allowed(base)
        path = f"codestream/api/sessions/{conn.session_code}/cells/{quote(cell_id)}/pulled"
        request = self._client.build_request(
            "POST", str(base) + path, json={"version": version, "client": client},
            headers={"Authorization": f"Bearer {conn.student_key}"} if conn.student_key else {})
        async with self._tracked():
            response = await self._send(request)
            try:
                if response.status_code >= 300:
                    await self._raise_for(response, conn.session_code, cell_id)
            finally:
                await response.aclose()

    async def send_json(self, conn: TeacherConnection, method: str, path: str, body: dict | None = None,
                        *, passed_on: tuple[str, ...] = ()) -> dict | None:
        """A write to the teacher's own server (never a relay), as a student: the JSON answer
        (None for 204). An error whose code is in ``passed_on`` (``hands_closed``, …) reaches the
        caller as that code; any other is mapped like a read's."""
        base = parse_teacher_url(conn.teacher_url)
        await self.check_allowed(base)
        request = self._client.build_request(
            method, str(base) + path, json=body,
            headers={"Authorization": f"Bearer {conn.student_key}"} if conn.student_key else {})
        async with self._tracked():
            response = await self._send(request)
            try:
                if response.status_code >= 300:
                    raw = await self._read_capped(response)
                    try:
                        error = loads_bounded(raw).get("error") or {}
                    except (ValueError, AttributeError):
                        error = {}
                    if error.get("code") in passed_on and isinstance(error.get("message"), str):
                        raise CodeStreamError(error["message"][:300], code=error["code"], status=response.status_code)
                    await self._raise_for(httpx.Response(response.status_code, content=raw), conn.session_code)
                raw = await self._read_capped(response)
                return loads_bounded(raw) if raw.strip() else None
            except ValueError:
                raise bad_response("The teacher's server did not answer with JSON; " + CHECK_URL + ".") from None
            finally:
                await response.aclose()

    @asynccontextmanager
    async def open_events(self, conn: TeacherConnection, last_event_id: str | None, *,
                          on_comment=None) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        """An open event stream of the session (a 2xx answer), as an iterator of events.

        The stream holds at most one event of ``max_event_bytes`` at a time; a longer line or
        event, or a compressed stream (asked for none), is ``bad_response``."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        timeout = httpx.Timeout(self.stream_read_timeout, connect=self.connect_timeout)
        path = f"codestream/api/sessions/{conn.session_code}/events"
        async with self._open(conn, path, headers, timeout) as response:
            if response.status_code >= 300:
                await self._raise_for(response, conn.session_code)
            if response.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
                raise bad_response("The teacher's server compressed the event stream, which this"
                                   " server asked it not to; " + CHECK_URL + ".")
            yield self._events(response, on_comment)

    # -- plumbing -----------------------------------------------------------------------------
    async def _get_json(self, conn: TeacherConnection, path: str, code: str | None,
                        cell_id: str | None = None):
        async with self._open(conn, path, {"Accept": "application/json"}, None) as response:
            if response.status_code >= 300:
                await self._raise_for(response, code, cell_id)
            return await self._read_json(response)

    @asynccontextmanager
    async def _open(self, conn: TeacherConnection, path: str, headers: dict, timeout):
        """Send a GET, following only same-origin redirects; yields the streamed response."""
        base = parse_teacher_url(conn.teacher_url)
        await self.check_allowed(base)
        url = str(base) + path
        headers = dict(headers)
        if conn.student_key:
            headers["Authorization"] = f"Bearer {conn.student_key}"
        async with self._tracked():
            for _hop in range(MAX_REDIRECTS + 1):
                request = self._client.build_request(
                    "GET", url, headers=headers, **({"timeout": timeout} if timeout else {}))
                response = await self._send(request)
                if response.is_redirect:
                    await response.aclose()
                    url = self._redirect_target(base, url, response)
                    continue
                try:
                    with map_exceptions(self._reading_errors(timeout)):
                        yield response
                finally:
                    await response.aclose()
                return
            raise bad_response("The teacher's server redirected too many times; " + CHECK_URL + ".")

    def _read_limit(self, timeout) -> float:
        return timeout.read if isinstance(timeout, httpx.Timeout) and timeout.read else self.read_timeout

    async def _send(self, request: httpx.Request) -> httpx.Response:
        with map_exceptions(self._sending_errors()):
            return await self._client.send(request, stream=True)

    # -- the error boundary: what the HTTP library raises, as the contract's errors ---------------
    def _sending_errors(self) -> ExceptionMap:
        return {
            httpx.ConnectTimeout: lambda _exc: unreachable(
                f"The teacher's server did not accept a connection within {self.connect_timeout:g} s;"
                f" {CHECK_URL} and that you are on the classroom network."),
            httpx.TimeoutException: lambda _exc: timed_out(
                f"The teacher's server did not answer within {self.read_timeout:g} s; try again, or"
                " ask your teacher to check their server."),
            httpx.TransportError: lambda _exc: unreachable(
                f"The teacher's server could not be reached; {CHECK_URL} and that their server is running."),
        }

    def _reading_errors(self, timeout) -> ExceptionMap:
        return {
            httpx.TimeoutException: lambda _exc: timed_out(
                f"The teacher's server stopped answering for more than {self._read_limit(timeout):g} s;"
                " check your network."),
            httpx.TransportError: lambda _exc: unreachable(
                "The connection to the teacher's server was lost; check your network."),
            httpx.DecodingError: lambda _exc: bad_response(
                "The teacher's server sent an unreadable answer; " + CHECK_URL + "."),
            SSETooLarge: lambda exc: bad_response(
                f"The teacher's server sent {exc.what} larger than {exc.limit} bytes in its event"
                " stream; ask your teacher to check their server (or its relay)."),
        }

    def _redirect_target(self, base: TeacherUrl, current: str, response: httpx.Response) -> str:
        location = response.headers.get("Location", "")
        try:
            target = parse_teacher_url(urljoin(current, location).split("?", 1)[0] + "/")
        except InvalidUrl:
            target = None
        if target is None or not same_origin(base, target):
            raise bad_response("The teacher's server redirected to another address; check the"
                               " address (use the final one, without redirects).")
        return urljoin(current, location)


def checked_cell(data: object) -> dict:
    """A contract cell object, or ``bad_response`` (a teacher must not crash a student's server)."""
    if not isinstance(data, dict):
        raise bad_response("The teacher's server sent a malformed cell; ask your teacher to update Code Stream.")
    cell_id, cell_type, source = data.get("cell_id"), data.get("cell_type"), data.get("source")
    version, position = data.get("version"), data.get("position")
    ok = (isinstance(cell_id, str) and CELL_ID_RE.match(cell_id) is not None
          and cell_type in CELL_TYPES and isinstance(source, str)
          and isinstance(version, int) and not isinstance(version, bool) and version >= 1
          and isinstance(position, (int, float)) and not isinstance(position, bool)
          and math.isfinite(position))
    if not ok:
        raise bad_response("The teacher's server sent a malformed cell; ask your teacher to update Code Stream.")
    return data


__all__ = ["CLIENT_HEADER", "TeacherClient", "TeacherConnection", "checked_cell"]
