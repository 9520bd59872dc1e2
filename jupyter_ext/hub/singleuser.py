"""A single-user server under JupyterHub (Jupyter glue): the teacher routes and read routes go
to the codestream hub service as this server's hub user; nothing here talks to Redis.

``setup_hub_mode(app)`` is what ``CodeStreamApp`` calls first: outside a hub configured by
``configure_jupyterhub`` it returns ``False`` and laptop mode runs as always.
"""

from __future__ import annotations

import asyncio
import logging
import os

from jupyter_server.auth.decorator import authorized
from tornado import iostream, web

from ..domain import Cell, CellLimits, PayloadTooLarge
from ..web import sse
from ..handlers.base import MAX_JSON_BODY_BYTES, CodeStreamHandler
from ..services.autopublish import PublishOnSave
from ..web import forwarded_routes
from .client import FORWARDED_REQUEST_HEADERS, HubLink, HubServiceClient
from .student import HubMembership

class ForwardedToHub(CodeStreamHandler):
    """Sends the request, as this server's hub user, to the same path on the hub service."""

    hub_client: HubServiceClient = None

    def service_path(self) -> str:
        base = self.base_url or "/"
        path = self.request.path[len(base):] if self.request.path.startswith(base) else self.request.path
        return path.lstrip("/") + (f"?{self.request.query}" if self.request.query else "")

    def forwarded_headers(self) -> dict:
        return {name: self.request.headers[name] for name in FORWARDED_REQUEST_HEADERS
                if name in self.request.headers}

    async def forward(self, *_args, **_kwargs) -> None:
        body = self.request.body or b""
        if len(body) > MAX_JSON_BODY_BYTES:
            raise PayloadTooLarge(f"The request body is larger than {MAX_JSON_BODY_BYTES} bytes.")
        answer = await self.hub_client.request(self.request.method, self.service_path(), body=body,
                                               headers=self.forwarded_headers())
        self.set_status(answer.status)
        if answer.status == 204 or not answer.body:
            self.finish()
            return
        if answer.disposition:
            self.set_header("Content-Disposition", answer.disposition)
        self.finish(answer.body, set_content_type=answer.content_type)  # (the lesson notebook is not JSON)


@web.authenticated
@authorized
async def _forwarded(self, *args, **kwargs):
    await self.forward()


def forwarder(name: str, methods: tuple[str, ...]) -> type:
    """A ``ForwardedToHub`` answering exactly ``methods`` (others stay 405, as on a laptop)."""
    return type(name, (ForwardedToHub,), {method: _forwarded for method in methods})


class ForwardedEvents(ForwardedToHub):
    """The session's event stream from the hub service, passed through byte for byte.

    On a stop every open one is ended with a complete response (``end_forwarded_streams``): a
    stream cut by the exiting process is never ended by the hub's proxy (configurable-http-proxy
    keeps the browser's side open), which left the dashboard hanging on a dead server.
    """

    _gone: asyncio.Event | None = None
    _open: set[ForwardedEvents] = set()  # the streams of this process, for the stop

    def on_connection_close(self):
        if self._gone is not None:
            self._gone.set()
        super().on_connection_close()

    @web.authenticated
    @authorized
    async def get(self, *args, **kwargs):
        self._gone, self._ended = asyncio.Event(), asyncio.Event()
        ForwardedEvents._open.add(self)
        try:
            async with self.hub_client.stream(self.service_path(), self.forwarded_headers()) as response:
                if response.status_code != 200:
                    self.set_status(response.status_code)
                    self.set_header("Content-Type", "application/json")
                    self.finish(await response.aread())
                    return
                sse.start_event_stream(self)
                await self._pump(response)
            if not self._finished:
                try:
                    await self.finish()  # the last chunk written: a clean end
                except iostream.StreamClosedError:
                    pass  # the client went first
        finally:
            ForwardedEvents._open.discard(self)
            self._ended.set()

    async def _pump(self, response) -> None:
        chunks = response.aiter_raw().__aiter__()
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            while True:
                following = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait({following, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not following.done():  # the browser went: stop reading upstream at once
                    following.cancel()
                    await asyncio.gather(following, return_exceptions=True)
                    return
                try:
                    chunk = following.result()
                except StopAsyncIteration:
                    return
                try:
                    self.write(chunk)
                    await self.flush()
                except (iostream.StreamClosedError, RuntimeError):
                    return
        finally:
            gone.cancel()
            await asyncio.gather(gone, return_exceptions=True)


async def end_forwarded_streams(log: logging.Logger, timeout: float = 2.0) -> None:
    """End every open forwarded event stream cleanly (the server is stopping); the clients
    resume with their Last-Event-ID once it is back."""
    streams = [stream for stream in ForwardedEvents._open if stream._gone is not None]
    log.info("codestream: stopping, ending %d forwarded event streams", len(streams))
    for stream in streams:
        stream._gone.set()
    if streams:
        waits = [asyncio.ensure_future(stream._ended.wait()) for stream in streams]
        _done, pending = await asyncio.wait(waits, timeout=timeout)
        for wait in pending:
            wait.cancel()


class StudentSessionsHandler(ForwardedToHub):
    """``GET codestream/api/student/sessions``: the live sessions this hub user may join."""

    @web.authenticated
    @authorized
    async def get(self):
        self.write_json({"sessions": await self.hub_client.joinable_sessions()})


class HubSessionStore:
    """What ``PublishOnSave`` reads and writes, over the hub service: only this user's sessions."""

    def __init__(self, client: HubServiceClient):
        self.client = client

    async def list_sessions(self, owner: str | None = None) -> list[dict]:
        """Only this server's hub user's sessions, whoever ``owner`` names (the service decides)."""
        return await self.client.own_sessions()

    async def list_cells(self, code: str):
        listing = await self.client.cells(code)
        return None, [Cell.from_dict(cell) for cell in listing["cells"]], listing.get("last_event_id")

    async def publish_cell(self, code: str, cell_id: str, clean: dict) -> Cell:
        answer = await self.client.publish_cell(code, cell_id, clean)
        return Cell(cell_id=answer["cell_id"], cell_type=clean.get("cell_type", "code"),
                    source=clean.get("source", ""), position=float(answer.get("position", 0)),
                    version=int(answer["version"]), updated=str(answer.get("updated", "")))


class HubSessionProvider:
    """Stands where ``RedisProvider`` stands for ``PublishOnSave``: the hub service, not Redis."""

    def __init__(self, client: HubServiceClient):
        self._store = HubSessionStore(client)

    async def store(self, *, start: bool = True) -> HubSessionStore:
        return self._store


class HubTeacher:
    """The little of a ``SessionService`` that publish on save uses, under the hub: the
    provider, and the limits a saved output is checked against before it is sent."""

    def __init__(self, client: HubServiceClient, limits: CellLimits = CellLimits()):
        self.provider = HubSessionProvider(client)
        self.limits = limits


def setup_hub_mode(app) -> bool:
    """Under a hub with the codestream service: forward to it; ``False`` outside (laptop mode)."""
    link = HubLink.from_env(os.environ)
    if link is None:
        return False
    log = getattr(app, "cs_log", None) or logging.getLogger(__name__)
    client = HubServiceClient(link, connect_timeout=app.teacher_connect_timeout,
                              read_timeout=app.teacher_read_timeout,
                              stream_read_timeout=app.upstream_read_timeout, log=log)
    app.hub_client = client
    app.session_service = None
    app.student_service = app._make_student_service()
    if app.student_service is not None:
        app.student_service.hub = HubMembership(link, client)
        app.student_talkback = app._make_student_talkback()  # hands and run reports, by hub identity
    if app.publish_on_save:
        limits = CellLimits(max_source_bytes=app.max_source_bytes, max_output_bytes=app.max_output_bytes)
        app.publish_on_save_listener = PublishOnSave(HubTeacher(client, limits), app.serverapp.contents_manager,
                                                     log=log)
    log.info("codestream: under JupyterHub; sessions live in the hub's codestream service")
    return True


def hub_handlers(**services) -> list[tuple]:
    """The web API's table, forwarded (event streams passed through as they come); the
    student's joinable sessions."""
    routes = [(route.pattern, ForwardedEvents if route.stream
               else forwarder(route.name, route.methods), services) for route in forwarded_routes()]
    routes.append((r"codestream/api/student/sessions/?", StudentSessionsHandler, services))
    return routes
