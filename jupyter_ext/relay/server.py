"""The relay process: its tornado app over the read-route core, health probes, orderly stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from tornado import httpserver, netutil, web

from ..domain import CodeStreamError
from ..services.session_service import RedisProvider, SessionService
from ..store.connection import describe_redis_url
from ..web import mount
from .addresses import client_ip
from .config import RelayConfig, parse_args
from ..web.core import ContractJSON, ReadAuth, ReadRoutes, StudentKeyAuth
from .logs import LOG_NAME, configure_logging, log_request

READY_PING_SECONDS = 2.0
MAX_BODY_BYTES = 64 * 1024  # read routes take no body


class RelayDraining(CodeStreamError):
    """This replica is shutting down; the load balancer sends the retry to another one."""

    status = 503
    code = "relay_draining"


# -- state shared by the handlers of one relay -----------------------------------------------
class RelayState:
    """Draining flag and the requests in flight (event streams included), for a clean stop."""

    def __init__(self):
        self.draining = False
        self.active = 0
        self.open_streams = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def request_started(self) -> None:
        self.active += 1
        self._idle.clear()

    def request_ended(self) -> None:
        self.active = max(0, self.active - 1)
        if self.active == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


# -- handlers --------------------------------------------------------------------------------
class RelayHandler(ReadRoutes, ContractJSON, web.RequestHandler):
    """Plain tornado base of the relay's routes: the read routes' behaviour, the contract's JSON
    and error shape, no Jupyter."""

    relay: RelayState | None = None
    trusted_proxies: tuple | None = None  # set (the hub service): the address is the connection's (addresses.py)
    _counted = False

    def initialize(self, **services):
        for name, value in services.items():
            setattr(self, name, value)

    @property
    def cs_log(self) -> logging.Logger:
        return logging.getLogger(LOG_NAME)

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.clear_header("Server")

    def resolve_client_address(self) -> None:
        """With ``trusted_proxies`` (the hub service), the client address is the connection's,
        or the one a trusted proxy forwarded; never a header anyone else wrote."""
        if self.trusted_proxies is not None:
            self.request.remote_ip = client_ip(self.request.remote_ip,
                                               self.request.headers.get("X-Forwarded-For"), self.trusted_proxies)

    def prepare(self):
        self.resolve_client_address()
        if self.relay is not None:
            if self.relay.draining:
                raise RelayDraining("This relay is shutting down; retry, another one will answer.")
            self.relay.request_started()
            self._counted = True

    def streams_changed(self, delta: int) -> None:
        if self.relay is not None:  # the readiness probe reports them
            self.relay.open_streams += delta

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.relay.request_ended()

    def write_error(self, status_code: int, **kwargs) -> None:
        if self.relay is not None and self.relay.draining:
            self.set_header("Connection", "close")
        super().write_error(status_code, **kwargs)

    def log_exception(self, typ, value, tb) -> None:
        if isinstance(value, CodeStreamError) and value.status >= 500:
            cause = value.__cause__
            self.cs_log.warning(
                "codestream relay: %s %s -> %s %s (%s)", self.request.method, self.request.path,
                value.status, value.code, type(cause).__name__ if cause else "no cause",
                extra={"fields": {"status": value.status, "code": value.code,
                                  "cause": type(cause).__name__ if cause else None}})
            return
        if isinstance(value, CodeStreamError) or (isinstance(value, web.HTTPError) and value.status_code < 500):
            return  # an expected answer: the access log has its status
        self.cs_log.error("codestream relay: %s %s failed", self.request.method, self.request.path,
                          exc_info=(typ, value, tb))


class HealthHandler(RelayHandler):
    """Liveness: the process and its event loop answer (even while draining)."""

    is_probe = True

    def prepare(self):
        pass

    async def get(self):
        self.write_json({"status": "ok"})


class ReadyHandler(RelayHandler):
    """Readiness: Redis answers and this relay is not shutting down."""

    is_probe = True

    def prepare(self):
        pass

    async def get(self):
        if self.relay.draining:
            raise RelayDraining("This relay is shutting down.")
        store = await self.service.provider.store()
        try:
            await asyncio.wait_for(store.ping(), READY_PING_SECONDS)
        except asyncio.TimeoutError:
            raise CodeStreamError("Redis did not answer in time.", code="store_unavailable",
                                  status=503) from None
        self.write_json({"status": "ready", "open_streams": self.relay.open_streams})


class NotFoundHandler(RelayHandler):
    def prepare(self):
        raise web.HTTPError(404)


# -- the service -----------------------------------------------------------------------------
class Relay:
    """One relay process: the services over Redis, the tornado app, and its orderly stop."""

    def __init__(self, config: RelayConfig, *, log: logging.Logger | None = None,
                 service: SessionService | None = None, read_auth: ReadAuth | None = None):
        """``service`` and ``read_auth`` let another program (a hub service) serve the same
        routes over its own service and its own way of authenticating readers."""
        self.config = config
        self.log = log or logging.getLogger(LOG_NAME)
        self.service = service or SessionService(self.redis_provider(), limiter=config.failure_limiter(),
                                                 log=self.log)
        self.read_auth = read_auth or StudentKeyAuth()
        self.state = RelayState()
        self.server: httpserver.HTTPServer | None = None
        self.port: int | None = None

    def redis_provider(self) -> RedisProvider:
        """The configured Redis (a relay never embeds one)."""
        return self.config.redis_provider(self.config.redis_url, stream_caps=self.config.stream_caps(self.log),
                                          log=self.log)

    def handler_services(self) -> dict:
        """What every handler gets through ``initialize``."""
        return {"service": self.service, "relay": self.state, "read_auth": self.read_auth,
                "heartbeat_seconds": self.config.heartbeat_seconds}

    def routes(self, services: dict) -> list[tuple]:
        """The web API's relay reads and the probes under ``base_url``; a subclass may change them."""
        return [*mount(RelayHandler, prefix=self.config.base_url, relay_only=True, **services),
                *self.probe_routes(services)]

    def probe_routes(self, services: dict) -> list[tuple]:
        base = self.config.base_url
        return [(base + "healthz", HealthHandler, services), (base + "readyz", ReadyHandler, services)]

    def application(self) -> web.Application:
        services = self.handler_services()
        return web.Application(self.routes(services), default_handler_class=NotFoundHandler,
                                default_handler_args=services, log_function=log_request,
                                serve_traceback=False, compress_response=False)

    async def start(self) -> int:
        await self.service.provider.store()  # builds the clients; they connect on first use
        sockets = netutil.bind_sockets(self.config.port, self.config.address)
        self.server = httpserver.HTTPServer(self.application(), xheaders=self.config.xheaders,
                                            max_body_size=MAX_BODY_BYTES, idle_connection_timeout=120)
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        self.log.info("codestream relay: listening on %s:%s, reading %s", self.config.address, self.port,
                      describe_redis_url(self.config.redis_url),
                      extra={"fields": {"event": "listening", "port": self.port, "pid": os.getpid(),
                                        "redis": describe_redis_url(self.config.redis_url)}})
        return self.port

    async def stop(self) -> None:
        """Stop accepting, end every event stream, let requests in flight finish, close Redis."""
        self.state.draining = True
        if self.server is not None:
            self.server.stop()
        streams = self.state.open_streams
        fanout = await self.service.provider.fanout()
        await fanout.close()  # every stream's listener ends; clients resume elsewhere
        drained = await self.state.wait_idle(self.config.drain_seconds)
        await self.service.close()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.close_all_connections(), self.config.drain_seconds)
            except asyncio.TimeoutError:
                pass
        self.log.info("codestream relay: stopped (%d event streams closed%s)", streams,
                      "" if drained else ", some requests cut at the drain limit",
                      extra={"fields": {"event": "stopped", "closed_streams": streams, "drained": drained}})


async def serve(config: RelayConfig) -> int:
    relay = Relay(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await relay.start()
    except OSError as exc:
        relay.log.error("codestream relay: cannot listen on %s:%s (%s)", config.address, config.port,
                        exc.strerror or exc, extra={"fields": {"event": "listen_failed"}})
        await relay.service.close()
        return 1
    await stop.wait()
    relay.log.info("codestream relay: shutting down", extra={"fields": {"event": "draining"}})
    await relay.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(config.log_format, config.log_level)
    return asyncio.run(serve(config))


__all__ = ["Relay", "RelayConfig", "RelayDraining", "RelayHandler", "RelayState", "main", "parse_args", "serve"]

