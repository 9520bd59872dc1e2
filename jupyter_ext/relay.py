"""``codestream relay``: the contract's read routes as a standalone tornado service over Redis.

A relay serves ``cells``, one cell and ``events`` of every session straight from Redis (or
Redis Cluster / Sentinel), with the same handlers' logic (``handlers.read.ReadRoutes``) and the
same services and store as the teacher's Jupyter server, but no Jupyter server: only the
session's student key authorizes. It keeps no state another replica needs (sessions, cells,
events and presence are all in Redis; event ids are Redis stream ids), so any number of
replicas can run behind a load balancer and a student's event stream resumes on any of them
with ``Last-Event-ID``.

Operations: ``GET /healthz`` (alive), ``GET /readyz`` (Redis answers and not shutting down),
JSON log lines on stderr (``--log-format text`` for people), and a graceful shutdown on
SIGTERM/SIGINT: stop accepting, report not ready, end every open event stream (clients
reconnect elsewhere with their ``Last-Event-ID``), wait for requests in flight, close Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass

from tornado import httpserver, netutil, web

from .domain import CodeStreamError
from .handlers.base import ContractJSON
from .handlers.read import CELL_ROUTE, CELLS_ROUTE, EVENTS_ROUTE, ReadRoutes
from .services.ratelimit import FailureLimiter
from .services.teacher import RedisProvider, StreamCaps, TeacherService
from .store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_SESSION
from .store.connection import describe_redis_url, parse_redis_url, redis_url_from_env

LOG_NAME = "codestream.relay"
READY_PING_SECONDS = 2.0
MAX_BODY_BYTES = 64 * 1024  # read routes take no body


class RelayDraining(CodeStreamError):
    """This replica is shutting down; the load balancer sends the retry to another one."""

    status = 503
    code = "relay_draining"


@dataclass
class RelayConfig:
    redis_url: str
    port: int = 8765
    address: str = "127.0.0.1"
    base_url: str = "/"
    xheaders: bool = False
    heartbeat_seconds: float = 15.0
    event_block_ms: int = 10_000
    redis_max_connections: int = 100
    redis_stream_connections: int = 1000
    redis_socket_timeout: float = 5.0
    key_failures_per_minute: int = 20
    max_streams: int = DEFAULT_MAX_STREAMS
    max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION
    drain_seconds: float = 10.0
    log_format: str = "json"
    log_level: str = "INFO"


def parse_args(argv: list[str] | None, environ=os.environ) -> RelayConfig:
    parser = argparse.ArgumentParser(
        prog="codestream relay",
        description="Serve Code Stream's read routes (cells, one cell, events) from Redis, without"
                    " Jupyter; run any number of replicas behind a load balancer.")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free one). Default: 8765.")
    parser.add_argument("--address", default="127.0.0.1",
                        help="Address to bind (0.0.0.0 in a container). Default: 127.0.0.1.")
    parser.add_argument("--redis", dest="redis_url", default=None,
                        help="Redis URL: redis://, rediss://, unix://, redis+cluster://h:p[,h:p],"
                             " redis+sentinel://h:p[,h:p]/service. Default: CODESTREAM_REDIS_URL or"
                             " REDIS_URL.")
    parser.add_argument("--base-url", default="/", help="Path prefix of every route. Default: /.")
    parser.add_argument("--xheaders", action="store_true",
                        help="Trust X-Forwarded-For/X-Real-IP from the load balancer for the client"
                             " address (rate limits, presence). Only behind a proxy that sets them.")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0,
                        help="Event-stream heartbeat interval (at most 15). Default: 15.")
    parser.add_argument("--event-block-ms", type=int, default=10_000,
                        help="How long one XREAD blocks, in ms. Default: 10000.")
    parser.add_argument("--redis-max-connections", type=int, default=100,
                        help="Redis connections for commands (per node in a cluster); a burst"
                             " beyond them waits for a free one. Default: 100.")
    parser.add_argument("--redis-stream-connections", type=int, default=1000,
                        help="Redis connections for blocking XREADs (per node in a cluster): one"
                             " per session with open event streams on this relay. Default: 1000.")
    parser.add_argument("--redis-socket-timeout", type=float, default=5.0,
                        help="Redis command timeout in seconds. Default: 5.")
    parser.add_argument("--key-failures-per-minute", type=int, default=20,
                        help="Wrong student keys per client address per minute before 429. Default: 20.")
    parser.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                        help="Open event streams this relay serves in all; beyond it a new stream"
                             f" is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS}.")
    parser.add_argument("--max-streams-per-session", type=int, default=DEFAULT_MAX_STREAMS_PER_SESSION,
                        help="Open event streams one session may have on this relay; beyond it a"
                             f" new stream is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS_PER_SESSION}.")
    parser.add_argument("--drain-seconds", type=float, default=10.0,
                        help="On SIGTERM, how long to wait for requests in flight. Default: 10.")
    parser.add_argument("--log-format", choices=("json", "text"), default="json",
                        help="Log lines as JSON objects or as text. Default: json.")
    parser.add_argument("--log-level", default="INFO", help="Default: INFO.")
    args = parser.parse_args(argv)
    redis_url = args.redis_url or redis_url_from_env(environ)
    if not redis_url:
        parser.error("no Redis configured: pass --redis URL or set CODESTREAM_REDIS_URL"
                     " (a relay never embeds Redis)")
    try:
        parse_redis_url(redis_url)
    except ValueError as exc:
        parser.error(f"--redis: {exc}")
    if not 0 <= args.port < 65536:
        parser.error("--port must be 0..65535")
    for name in ("heartbeat_seconds", "event_block_ms", "redis_max_connections",
                 "redis_stream_connections", "redis_socket_timeout", "key_failures_per_minute",
                 "max_streams", "max_streams_per_session"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    base_url = "/" + args.base_url.strip("/") + "/" if args.base_url.strip("/") else "/"
    return RelayConfig(
        redis_url=redis_url, port=args.port, address=args.address, base_url=base_url,
        xheaders=args.xheaders, heartbeat_seconds=min(args.heartbeat_seconds, 15.0),
        event_block_ms=args.event_block_ms, redis_max_connections=args.redis_max_connections,
        redis_stream_connections=args.redis_stream_connections,
        redis_socket_timeout=args.redis_socket_timeout,
        key_failures_per_minute=args.key_failures_per_minute,
        max_streams=args.max_streams, max_streams_per_session=args.max_streams_per_session,
        drain_seconds=max(args.drain_seconds, 0.0), log_format=args.log_format,
        log_level=args.log_level.upper(),
    )


# -- logging ---------------------------------------------------------------------------------
class JSONLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


JSONLogFormatter.converter = time.gmtime


def configure_logging(log_format: str, level: str) -> None:
    """The relay is a program, not a library: it owns the root logger's output."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # we write our own access log


def log_request(handler: web.RequestHandler) -> None:
    """Access log: method, path, status, duration; never headers (they carry the student key)."""
    status = handler.get_status()
    request = handler.request
    probe = isinstance(handler, (HealthHandler, ReadyHandler))
    level = logging.DEBUG if probe and status < 500 else (
        logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR)
    duration_ms = round(1000.0 * request.request_time(), 1)
    logging.getLogger(LOG_NAME + ".access").log(
        level, "%s %s %s %.1fms", request.method, request.path, status, duration_ms,
        extra={"fields": {"method": request.method, "path": request.path, "status": status,
                          "duration_ms": duration_ms, "remote_ip": request.remote_ip}})


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
class RelayHandler(ContractJSON, web.RequestHandler):
    """Plain tornado base of the relay's routes: the contract's JSON and error shape, no Jupyter."""

    relay: RelayState | None = None
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

    def prepare(self):
        if self.relay is not None:
            if self.relay.draining:
                raise RelayDraining("This relay is shutting down; retry, another one will answer.")
            self.relay.request_started()
            self._counted = True

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


class RelayCellsHandler(ReadRoutes, RelayHandler):
    async def get(self, code):
        await self.read_cells(code)


class RelayCellHandler(ReadRoutes, RelayHandler):
    async def get(self, code, cell_id):
        await self.read_cell(code, cell_id)


class RelayEventsHandler(ReadRoutes, RelayHandler):
    async def get(self, code):
        self.relay.open_streams += 1
        try:
            await self.stream_events(code)
        finally:
            self.relay.open_streams -= 1


class HealthHandler(RelayHandler):
    """Liveness: the process and its event loop answer (even while draining)."""

    def prepare(self):
        pass

    async def get(self):
        self.write_json({"status": "ok"})


class ReadyHandler(RelayHandler):
    """Readiness: Redis answers and this relay is not shutting down."""

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

    def __init__(self, config: RelayConfig, *, log: logging.Logger | None = None):
        self.config = config
        self.log = log or logging.getLogger(LOG_NAME)
        provider = RedisProvider(
            config.redis_url, None, max_connections=config.redis_max_connections,
            blocking_max_connections=config.redis_stream_connections,
            socket_timeout=config.redis_socket_timeout, block_ms=config.event_block_ms,
            stream_caps=StreamCaps.of(config), log=self.log)
        self.service = TeacherService(
            provider, limiter=FailureLimiter(config.key_failures_per_minute, 60.0), log=self.log)
        self.state = RelayState()
        self.server: httpserver.HTTPServer | None = None
        self.port: int | None = None

    def application(self) -> web.Application:
        services = {"service": self.service, "relay": self.state,
                    "heartbeat_seconds": self.config.heartbeat_seconds}
        base = self.config.base_url
        routes = [
            (base + CELLS_ROUTE, RelayCellsHandler, services),
            (base + CELL_ROUTE, RelayCellHandler, services),
            (base + EVENTS_ROUTE, RelayEventsHandler, services),
            (base + "healthz", HealthHandler, services),
            (base + "readyz", ReadyHandler, services),
        ]
        return web.Application(routes, default_handler_class=NotFoundHandler,
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
        hub = await self.service.provider.hub()
        await hub.close()  # every stream's listener ends; clients resume elsewhere
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


__all__ = ["Relay", "RelayConfig", "main", "parse_args", "serve"]


if __name__ == "__main__":
    sys.exit(main())
