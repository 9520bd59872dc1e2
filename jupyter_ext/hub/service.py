"""``codestream hub-service``: the relay grown up, as a managed JupyterHub service.

The hub starts it (``configure_jupyterhub``) with its URL, prefix and API token in the
environment, and (only here) the Redis URL. Every request is authenticated with the hub: the
bearer token of a hub user (a single-user server forwards its own, scoped token) or, on the read
routes only, a session's student key (guests). It serves

- the teacher routes, for holders of the teach scope, each session only to the hub user who
  made it (anyone else: ``403 forbidden``);
- the read routes (cells, one cell, events) to the owner, to members of the session's course
  group (any hub user when it has none), or with the student key;
- ``GET codestream/api/student/sessions``: what this hub user may join.

It keeps nothing another replica needs (sessions, ownership and events are in Redis), so any
number of replicas can run behind the hub's proxy over one Redis or Redis Cluster. With no
Redis URL it runs the embedded redis-server with a fresh password, under its own data dir
(then: one replica).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tornado import httpserver, netutil, web

from ..domain import (
    CodeStreamError,
    Forbidden,
    InvalidInput,
    SessionNotFound,
    TooManyRequests,
    Unauthorized,
    normalize_session_code,
    validate_cell_id,
)
from ..handlers.base import CodeStreamHandler, bearer_credential
from ..handlers.read import CELL_ROUTE, CELLS_ROUTE, EVENTS_ROUTE, ReadRoutes
from ..relay import HealthHandler, NotFoundHandler, ReadyHandler, RelayHandler, RelayState
from ..relay import configure_logging, log_request
from ..services.ratelimit import FailureLimiter
from ..services.teacher import RedisProvider, TeacherService
from ..store import EmbeddedRedis
from ..store.connection import describe_redis_url, redis_url_from_env
from .config import (
    SERVICE_BIND_ENV,
    SERVICE_DATA_DIR_ENV,
    SERVICE_PUBLIC_HUB_URL_ENV,
    SERVICE_TEACH_SCOPE_ENV,
    TEACH_SCOPE,
)
from .errors import UnknownGroup
from .identity import HubIdentities, HubUser
from .ownership import HubSessionIndex, SessionAccess, group_index_key, owner_index_key

LOG_NAME = "codestream.hub"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_GROUP_LENGTH = 255
STUDENT_DASHBOARD = "codestream-student"


@dataclass
class HubServiceConfig:
    redis_url: str | None
    data_dir: str
    address: str = "127.0.0.1"
    port: int = 10101
    prefix: str = "/services/codestream/"
    hub_base_url: str = "/"
    public_hub_url: str = ""
    teach_scope: str = TEACH_SCOPE
    heartbeat_seconds: float = 15.0
    event_block_ms: int = 10_000
    redis_max_connections: int = 100
    redis_stream_connections: int = 1000
    failures_per_minute: int = 20
    hub_timeout: float = 5.0
    drain_seconds: float = 10.0
    log_format: str = "text"


def parse_args(argv: list[str] | None, environ=os.environ) -> HubServiceConfig:
    parser = argparse.ArgumentParser(
        prog="codestream hub-service",
        description="The Code Stream JupyterHub service (started by the hub: see"
                    " jupyter_ext.hub.configure_jupyterhub). Reads JUPYTERHUB_SERVICE_URL,"
                    " JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and"
                    " CODESTREAM_REDIS_URL from its environment.")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0)
    parser.add_argument("--failures-per-minute", type=int, default=20,
                        help="Refused reads (wrong key, unknown code, not allowed) per hub user"
                             " (or per address without one) per minute before 429. Default: 20.")
    parser.add_argument("--hub-timeout", type=float, default=5.0,
                        help="Seconds to wait for the hub to say who a token is. Default: 5.")
    parser.add_argument("--log-format", choices=("json", "text"), default="text")
    args = parser.parse_args(argv)
    service_url = environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101"
    parts = urlsplit(service_url)
    bind = urlsplit("//" + environ[SERVICE_BIND_ENV]) if environ.get(SERVICE_BIND_ENV) else parts
    if not environ.get("JUPYTERHUB_API_TOKEN"):
        parser.error("JUPYTERHUB_API_TOKEN is not set: this service is started by JupyterHub")
    return HubServiceConfig(
        redis_url=redis_url_from_env(environ),
        data_dir=environ.get(SERVICE_DATA_DIR_ENV) or str(Path.cwd() / "codestream-service"),
        address=bind.hostname or "127.0.0.1", port=bind.port or 80,
        prefix=_slashed(environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/codestream/"),
        hub_base_url=_slashed(environ.get("JUPYTERHUB_BASE_URL") or "/"),
        public_hub_url=environ.get(SERVICE_PUBLIC_HUB_URL_ENV, ""),
        teach_scope=environ.get(SERVICE_TEACH_SCOPE_ENV) or TEACH_SCOPE,
        heartbeat_seconds=min(max(args.heartbeat_seconds, 0.1), 15.0),
        failures_per_minute=max(args.failures_per_minute, 1), hub_timeout=max(args.hub_timeout, 0.1),
        log_format=args.log_format,
    )


def _slashed(path: str) -> str:
    inner = path.strip("/")
    return f"/{inner}/" if inner else "/"


class HubContext:
    """What every handler of one service process shares (no per-request state)."""

    def __init__(self, config: HubServiceConfig, service: TeacherService, identities: HubIdentities):
        self.config = config
        self.service = service
        self.identities = identities
        self.limiter = FailureLimiter(config.failures_per_minute, 60.0)
        self._index: HubSessionIndex | None = None

    async def index(self) -> HubSessionIndex:
        if self._index is None:
            store = await self.service.provider.store()
            self._index = HubSessionIndex(store.redis)
        return self._index

    def join_link(self, code: str) -> str:
        base = self.config.public_hub_url.rstrip("/")
        if base:  # JupyterHub's public hub URL ends in /hub/
            if not base.endswith("/hub"):
                base += self.config.hub_base_url.rstrip("/") + "/hub"
            return f"{base}/user-redirect/{STUDENT_DASHBOARD}/?session={code}"
        return f"{self.config.hub_base_url}hub/user-redirect/{STUDENT_DASHBOARD}/?session={code}"

    def refuse(self, who: str, error: CodeStreamError) -> CodeStreamError:
        """Count a refused read for ``who``; past the limit the refusal becomes a 429."""
        if self.limiter.blocked(who):
            return TooManyRequests("Too many refused requests; wait a minute.")
        self.limiter.record_failure(who)
        return error


class HubHandler(RelayHandler):
    """Base of the service's routes: who the hub says the caller is, and who owns a session."""

    hub: HubContext = None
    _user: HubUser | None = None

    def json_body(self) -> dict:
        return CodeStreamHandler.json_body(self)

    async def hub_user(self) -> HubUser:
        if self._user is None:
            token = bearer_credential(self)
            if not token:
                raise Unauthorized("Send your JupyterHub token as 'Authorization: token <token>'.")
            user = await self.hub.identities.identify(token)
            if user is None:
                raise Unauthorized("JupyterHub does not accept this token; log in to the hub again.")
            self._user = user
        return self._user

    async def owned(self, code: str) -> SessionAccess:
        """The session, when the caller made it; anyone else gets ``403 forbidden``."""
        user = await self.hub_user()
        access = await (await self.hub.index()).access(code)
        if access.owner != user.name:
            raise Forbidden(f"Session {code} belongs to another teacher; only its owner can change it.")
        return access

    def session_view(self, session: dict, access: SessionAccess) -> dict:
        return {**session, "group": access.group or None, "teacher": access.owner,
                "join_link": self.hub.join_link(session["code"])}


class HubSessionsHandler(HubHandler):
    async def get(self):
        user = await self.hub_user()
        index = await self.hub.index()
        codes = await index.codes_of_owner(user.name)
        accesses = await index.accesses(codes) if codes else {}
        await index.drop_stale(owner_index_key(user.name), [c for c in codes if c not in accesses])
        store = await self.hub.service.provider.store()
        sessions = await store.list_sessions(list(accesses)) if accesses else []
        self.write_json({"sessions": [self.session_view(s, accesses[s["code"]]) for s in sessions]})

    async def post(self):
        user = await self.hub_user()
        if not user.teacher:
            raise Forbidden("Only teachers (members of the hub's teachers group) can start sessions.")
        body = self.json_body()
        group = body.pop("group", None)
        if group is None or group == "":
            group = ""
        elif not isinstance(group, str) or len(group) > MAX_GROUP_LENGTH or "/" in group:
            raise InvalidInput("'group' must be the name of a hub group you are in.")
        elif group not in user.groups:
            if not await self.hub.identities.group_exists(group):
                raise UnknownGroup(f"There is no hub group {group!r}; pick one of your groups.")
            raise Forbidden(f"You are not a member of the hub group {group!r}; pick one of your groups.")
        body.pop("relay_url", None)  # under the hub, students read from this service
        record, student_key = await self.hub.service.create_session(body)
        await (await self.hub.index()).claim(record.code, user.name, group)
        self.hub.service.log.info("codestream: session %s created by hub user %s%s", record.code,
                                  user.name, f" for group {group}" if group else "")
        self.write_json({**record.public_dict(), "student_key": student_key,
                         "notebook_path": record.notebook_path, "group": group or None,
                         "teacher": user.name, "join_link": self.hub.join_link(record.code)},
                        status=201)


class HubSessionHandler(HubHandler):
    async def delete(self, code):
        code = normalize_session_code(code)
        access = await self.owned(code)
        await self.hub.service.delete_session(code)
        await (await self.hub.index()).forget(access)
        self.set_status(204)
        self.finish()


class HubSessionKeyHandler(HubHandler):
    async def post(self, code):
        code = normalize_session_code(code)
        await self.owned(code)
        self.write_json({"student_key": await self.hub.service.rotate_key(code)})


class HubReadRoutes(ReadRoutes):
    """The read routes' rules on the hub: the student key, or a hub user who may read."""

    async def authorize_read(self, code: str) -> str:
        credential = bearer_credential(self)
        if not credential:
            raise Unauthorized("Send your JupyterHub token (or the session's student key) as"
                               " 'Authorization: Bearer <token>'.")
        store = await self.hub.service.provider.store()
        if await store.check_student_key(code, credential):
            return "student"
        user = await self.hub.identities.identify(credential)
        if user is None:  # neither the key nor a hub token: counted per address
            who = "address:" + (self.request.remote_ip or "?")
            exists = await store.session_exists(code)
            raise self.hub.refuse(who, Unauthorized(
                "The student key is not valid for this session; ask your teacher for the current key.")
                if exists else SessionNotFound("There is no live session with that code; check the code."))
        self._user = user
        try:
            access = await (await self.hub.index()).access(code)
        except SessionNotFound as exc:
            raise self.hub.refuse("user:" + user.name, exc) from None
        if access.owner == user.name:
            return "teacher"
        if access.may_read(user.name, user.groups):
            return "student"
        raise self.hub.refuse("user:" + user.name, Forbidden(
            f"Session {code} is for the hub group {access.group!r}, which you are not in."))

    async def read_cells(self, code: str) -> None:
        code = normalize_session_code(code)
        role = await self.authorize_read(code)
        if role == "teacher":  # the owner also sees where each cell came from (publish on save)
            store = await self.hub.service.provider.store()
            record, cells, last_event_id = await store.list_cells(code)
            self.write_json({"session": record.code, "title": record.title,
                             "cells": [{**cell.public_dict(), "notebook_path": cell.notebook_path}
                                       for cell in cells], "last_event_id": last_event_id})
            return
        self.set_header("Content-Type", "application/json")
        self.finish(await self.hub.service.list_cells_json(code))

    def _client_id(self) -> str:
        if self._user is not None and not self.request.headers.get("X-CodeStream-Client"):
            import hashlib

            return hashlib.sha256(("hub-user:" + self._user.name).encode()).hexdigest()[:16]
        return super()._client_id()


class HubCellsHandler(HubReadRoutes, HubHandler):
    async def get(self, code):
        await self.read_cells(code)


class HubCellHandler(HubReadRoutes, HubHandler):
    async def get(self, code, cell_id):
        await self.read_cell(code, cell_id)

    async def put(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.owned(code)
        cell = await self.hub.service.publish_cell(code, cell_id, self.json_body())
        self.write_json({"cell_id": cell.cell_id, "version": cell.version,
                         "position": cell.position, "updated": cell.updated})

    async def delete(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.owned(code)
        await self.hub.service.unpublish_cell(code, cell_id)
        self.set_status(204)
        self.finish()


class HubEventsHandler(HubReadRoutes, HubHandler):
    async def get(self, code):
        self.relay.open_streams += 1
        try:
            await self.stream_events(code)
        finally:
            self.relay.open_streams -= 1


class HubStudentSessionsHandler(HubHandler):
    """The live sessions of the caller's course groups: what the student dashboard lists."""

    async def get(self):
        user = await self.hub_user()
        index = await self.hub.index()
        by_group = await index.codes_of_groups(user.groups)
        codes = list(by_group)
        accesses = await index.accesses(codes) if codes else {}
        for group in {by_group[c] for c in codes if c not in accesses}:
            await index.drop_stale(group_index_key(group), [c for c in codes
                                                            if c not in accesses and by_group[c] == group])
        store = await self.hub.service.provider.store()
        sessions = await store.list_sessions(list(accesses)) if accesses else []
        self.write_json({"sessions": [
            {"code": s["code"], "title": s["title"], "teacher": accesses[s["code"]].owner,
             "created": s["created"], "group": accesses[s["code"]].group}
            for s in sorted(sessions, key=lambda s: s["created"], reverse=True)]})


class HubMeHandler(HubHandler):
    """``GET codestream/api/hub/me``: who the hub says the caller is (the teacher's group selector)."""

    async def get(self):
        user = await self.hub_user()
        self.write_json({"name": user.name, "groups": sorted(user.groups), "teacher": user.teacher})


class HubService:
    """One service process: Redis (configured or embedded), the hub's auth, the tornado app."""

    def __init__(self, config: HubServiceConfig, *, identities: HubIdentities | None = None,
                 log: logging.Logger | None = None):
        self.config = config
        self.log = log or logging.getLogger(LOG_NAME)
        embedded = None
        if config.redis_url is None:
            embedded = EmbeddedRedis(Path(config.data_dir) / "redis", password=secrets.token_urlsafe(32),
                                     log=self.log)
        provider = RedisProvider(config.redis_url, embedded, max_connections=config.redis_max_connections,
                                 blocking_max_connections=config.redis_stream_connections,
                                 block_ms=config.event_block_ms, log=self.log)
        self.service = TeacherService(provider, log=self.log)
        self.identities = identities or HubIdentities(teach_scope=config.teach_scope,
                                                      timeout=config.hub_timeout, log=self.log)
        self.context = HubContext(config, self.service, self.identities)
        self.state = RelayState()
        self.server: httpserver.HTTPServer | None = None
        self.port: int | None = None

    def application(self) -> web.Application:
        services = {"service": self.service, "relay": self.state, "hub": self.context,
                    "heartbeat_seconds": self.config.heartbeat_seconds}
        base = self.config.prefix
        routes = [
            (base + r"codestream/api/sessions/?", HubSessionsHandler, services),
            (base + r"codestream/api/sessions/(?P<code>[^/]+)/?", HubSessionHandler, services),
            (base + r"codestream/api/sessions/(?P<code>[^/]+)/key/?", HubSessionKeyHandler, services),
            (base + CELLS_ROUTE, HubCellsHandler, services),
            (base + CELL_ROUTE, HubCellHandler, services),
            (base + EVENTS_ROUTE, HubEventsHandler, services),
            (base + r"codestream/api/student/sessions/?", HubStudentSessionsHandler, services),
            (base + r"codestream/api/hub/me/?", HubMeHandler, services),
            (base + "healthz", HealthHandler, services),
            (base + "readyz", ReadyHandler, services),
        ]
        return web.Application(routes, default_handler_class=NotFoundHandler,
                               default_handler_args=services, log_function=log_request,
                               serve_traceback=False, compress_response=False)

    async def start(self) -> int:
        await self.service.provider.store()  # starts the embedded redis-server when there is one
        sockets = netutil.bind_sockets(self.config.port, self.config.address)
        # the hub's proxy sets X-Forwarded-For: the address of a guest behind it
        self.server = httpserver.HTTPServer(self.application(), xheaders=True,
                                            max_body_size=MAX_BODY_BYTES, idle_connection_timeout=120)
        self.server.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        where = describe_redis_url(self.config.redis_url) if self.config.redis_url else "an embedded redis-server"
        self.log.info("codestream hub service: listening on %s:%s%s, sessions in %s",
                      self.config.address, self.port, self.config.prefix, where)
        return self.port

    async def stop(self) -> None:
        self.state.draining = True
        if self.server is not None:
            self.server.stop()
        hub = await self.service.provider.hub()
        await hub.close()
        await self.state.wait_idle(self.config.drain_seconds)
        await self.service.close()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.close_all_connections(), self.config.drain_seconds)
            except asyncio.TimeoutError:
                pass
        self.log.info("codestream hub service: stopped")


async def serve(config: HubServiceConfig) -> int:
    service = HubService(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await service.start()
    except (OSError, CodeStreamError) as exc:
        service.log.error("codestream hub service: cannot start (%s)", getattr(exc, "message", None)
                          or getattr(exc, "strerror", None) or type(exc).__name__)
        await service.service.close()
        return 1
    await stop.wait()
    await service.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(config.log_format, "INFO")
    return asyncio.run(serve(config))


__all__ = ["HubService", "HubServiceConfig", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
