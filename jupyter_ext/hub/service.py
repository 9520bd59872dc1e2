"""``codestream hub-service``: the relay grown up, as a managed JupyterHub service.

The hub starts it (``configure_jupyterhub``) with its URL, prefix and API token in the
environment, and (only here) the Redis URL. Every request is authenticated with the hub: the
bearer token of a hub user (a single-user server forwards its own, scoped token) or, on the read
routes only, a session's student key (guests). It serves

- the teacher routes, for holders of the teach scope, each session only to the hub user who
  made it (anyone else: ``403 forbidden``);
- the read routes (cells, one cell, events) to the owner, to members of the session's course
  group (any hub user when it has none), or with the student key;
- ``GET codestream/api/student/sessions``: what this hub user may join;
- ``POST …/cells/{cell_id}/pulled``: a student's server reports a pull, authorized like a read
  (the owner's cell list then carries ``pulls``).

It keeps nothing another replica needs (sessions, ownership and events are in Redis), so any
number of replicas can run behind the hub's proxy over one Redis or Redis Cluster. With no
Redis URL it runs the embedded redis-server with a fresh password, under its own data dir
(then: one replica).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import secrets
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

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
from ..relay import ReadAuth, Reader, ReadRoutes, Relay, RelayConfig, RelayHandler, configure_logging
from ..relay.core import CELL, CELL_ROUTE, CELLS_ROUTE, CODE, bearer_credential, json_object, student_presence_id
from ..services.hands import set_session_settings
from ..services.ratelimit import FailureLimiter
from ..services.teacher import RedisProvider, StreamCaps, TeacherService
from ..store import EmbeddedRedis
from ..store.connection import redis_url_from_env
from ..store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_SESSION
from ..web import mount
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
PULLED_ROUTE = rf"codestream/api/sessions/{CODE}/cells/{CELL}/pulled/?"  # as on a teacher's server


@dataclass
class HubServiceConfig:
    """The relay's settings (``relay``: address, prefix, Redis, limits) plus the hub's own."""

    relay: RelayConfig
    data_dir: str
    hub_base_url: str = "/"
    public_hub_url: str = ""
    teach_scope: str = TEACH_SCOPE
    hub_timeout: float = 5.0

    @property
    def embedded(self) -> bool:
        return not self.relay.redis_url


def parse_args(argv: list[str] | None, environ=os.environ) -> HubServiceConfig:
    parser = argparse.ArgumentParser(
        prog="codestream hub-service",
        description="The Code Stream JupyterHub service (started by the hub: see"
                    " jupyter_ext.hub.configure_jupyterhub). Reads JUPYTERHUB_SERVICE_URL,"
                    " JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and"
                    " CODESTREAM_REDIS_URL from its environment.")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0,
                        help="Event-stream heartbeat interval (at most 15). Default: 15.")
    parser.add_argument("--failures-per-minute", type=int, default=20,
                        help="Refused reads (wrong key, unknown code, not allowed) per hub user"
                             " (or per address without one) per minute before 429. Default: 20.")
    parser.add_argument("--hub-timeout", type=float, default=5.0,
                        help="Seconds to wait for the hub to say who a token is. Default: 5.")
    parser.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                        help="Open event streams this service process serves in all; beyond it a"
                             f" new stream is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS}.")
    parser.add_argument("--max-streams-per-session", type=int, default=DEFAULT_MAX_STREAMS_PER_SESSION,
                        help="Open event streams one session may have on this service process;"
                             " beyond it a new stream is 503 too_many_streams."
                             f" Default: {DEFAULT_MAX_STREAMS_PER_SESSION}.")
    parser.add_argument("--log-format", choices=("json", "text"), default="text")
    args = parser.parse_args(argv)
    if args.max_streams < 1 or args.max_streams_per_session < 1:
        parser.error("--max-streams and --max-streams-per-session must be at least 1")
    if not environ.get("JUPYTERHUB_API_TOKEN"):
        parser.error("JUPYTERHUB_API_TOKEN is not set: this service is started by JupyterHub")
    parts = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101")
    bind = urlsplit("//" + environ[SERVICE_BIND_ENV]) if environ.get(SERVICE_BIND_ENV) else parts
    relay = RelayConfig(
        redis_url=redis_url_from_env(environ) or "",
        address=bind.hostname or "127.0.0.1", port=bind.port or 80,
        base_url=_slashed(environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/codestream/"),
        xheaders=True,  # behind the hub's proxy: X-Forwarded-For is a guest's address
        heartbeat_seconds=min(max(args.heartbeat_seconds, 0.1), 15.0),
        key_failures_per_minute=max(args.failures_per_minute, 1), log_format=args.log_format,
        max_streams=args.max_streams, max_streams_per_session=args.max_streams_per_session)
    return HubServiceConfig(
        relay=relay,
        data_dir=environ.get(SERVICE_DATA_DIR_ENV) or str(Path.cwd() / "codestream-service"),
        hub_base_url=_slashed(environ.get("JUPYTERHUB_BASE_URL") or "/"),
        public_hub_url=environ.get(SERVICE_PUBLIC_HUB_URL_ENV, ""),
        teach_scope=environ.get(SERVICE_TEACH_SCOPE_ENV) or TEACH_SCOPE,
        hub_timeout=max(args.hub_timeout, 0.1),
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
        self.limiter = FailureLimiter(config.relay.key_failures_per_minute, 60.0)
        self._index: HubSessionIndex | None = None

    async def index(self) -> HubSessionIndex:
        if self._index is None:
            store = await self.service.provider.store()
            self._index = HubSessionIndex(store.redis)
        return self._index

    def join_link(self, code: str) -> str:
        """``{hub}/hub/user-redirect/codestream-student/?session=CODE`` (host-relative when the
        hub's public URL is not configured)."""
        hub = self.config.public_hub_url or f"{self.config.hub_base_url}hub/"
        return f"{hub.rstrip('/')}/user-redirect/{STUDENT_DASHBOARD}/?session={code}"

    def refuse(self, who: str, error: CodeStreamError) -> CodeStreamError:
        """Count a refused read for ``who``; past the limit the refusal becomes a 429."""
        if self.limiter.blocked(who):
            return TooManyRequests("Too many refused requests; wait a minute.")
        self.limiter.record_failure(who)
        return error


class HubReadAuth(ReadAuth):
    """Who may read on the hub: the session's student key, or a hub user who may read it (its
    owner, a member of its course group, anyone on the hub when it has none). Refusals count per
    hub user (per address without one); a correct credential is never refused."""

    def __init__(self, context: HubContext):
        self.hub = context

    def deferred_student_key(self, route) -> str | None:
        return None  # always ``authorize`` first: the credential may be a hub token

    async def authorize(self, route, code: str) -> Reader:
        credential = bearer_credential(route)
        if not credential:
            raise Unauthorized("Send your JupyterHub token (or the session's student key) as"
                               " 'Authorization: Bearer <token>'.")
        store = await self.hub.service.provider.store()
        if await store.check_student_key(code, credential):
            return Reader("student", presence_id=student_presence_id(route))
        user = await self.hub.identities.identify(credential)
        if user is None:  # neither the key nor a hub token: counted per address
            exists = await store.session_exists(code)
            raise self.hub.refuse("address:" + (route.request.remote_ip or "?"), Unauthorized(
                "The student key is not valid for this session; ask your teacher for the current key.")
                if exists else SessionNotFound("There is no live session with that code; check the code."))
        try:
            access = await (await self.hub.index()).access(code)
        except SessionNotFound as exc:
            raise self.hub.refuse("user:" + user.name, exc) from None
        if access.owner == user.name:
            return Reader("teacher", owner=user.name, name=user.name)
        if access.may_read(user.name, user.groups):
            # a member is a hub user (one student however many servers or tabs), and reads by
            # identity, not by the key: a key rotation never closes its stream
            presence = hashlib.sha256(("hub-user:" + user.name).encode()).hexdigest()[:16]
            return Reader("member", presence_id=presence, name=user.name)
        raise self.hub.refuse("user:" + user.name, Forbidden(
            f"Session {code} is for the hub group {access.group!r}, which you are not in."))


    async def teacher(self, route, code: str | None) -> Reader:
        """The owner of ``code`` (any hub teacher with ``code=None``), by the hub's identity."""
        user = await route.hub_user()
        if code is None:
            if not user.teacher:
                raise Forbidden("Only teachers (members of the hub's teachers group) can do this.")
        else:
            await route.owned(code)
        return Reader("teacher", owner=user.name, name=user.name)


class HubHandler(RelayHandler):
    """Base of the service's routes: who the hub says the caller is, and who owns a session."""

    hub: HubContext = None
    _user: HubUser | None = None

    def json_body(self) -> dict:
        return json_object(self.request.body or b"", MAX_BODY_BYTES)

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
        sessions = await store.list_sessions(codes=list(accesses)) if accesses else []
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

    async def patch(self, code):
        code = normalize_session_code(code)
        await self.owned(code)
        self.write_json(await set_session_settings(self.hub.service, code, self.json_body()))


class HubSessionKeyHandler(HubHandler):
    async def post(self, code):
        code = normalize_session_code(code)
        await self.owned(code)
        self.write_json({"student_key": await self.hub.service.rotate_key(code)})


class HubCellsHandler(ReadRoutes, HubHandler):
    async def get(self, code):
        code = normalize_session_code(code)
        reader = await self.read_auth.authorize(self, code)
        if reader.role != "teacher":  # the cached, pre-rendered list
            self.set_header("Content-Type", "application/json")
            self.finish(await self.hub.service.list_cells_json(code))
            return
        # the owner also sees who pulled what (``pulls``) and where each cell came from
        # (``notebook_path``, for publish on save)
        store = await self.hub.service.provider.store()
        record, cells, last_event_id = await store.list_cells(code)
        listed = json.loads(await self.hub.service._teacher_cells_json(store, code, cells))
        self.write_json({"session": record.code, "title": record.title,
                         "cells": [{**public, "notebook_path": cell.notebook_path}
                                   for public, cell in zip(listed, cells)], "last_event_id": last_event_id,
                         "focus": record.focus})


class HubCellHandler(ReadRoutes, HubHandler):
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


class HubPulledHandler(ReadRoutes, HubHandler):
    """``POST …/cells/{cell_id}/pulled``: a student's server (by its hub identity, or with the
    student key) says it pulled a version; the owner's cell list counts it, once per client."""

    async def post(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        reader = await self.read_auth.authorize(self, code)
        await self.hub.service.record_pull(code, cell_id, self.json_body(),
                                           reader.presence_id if reader.role == "member" else None)
        self.set_status(204)
        self.finish()


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
        sessions = await store.list_sessions(codes=list(accesses)) if accesses else []
        self.write_json({"sessions": [
            {"code": s["code"], "title": s["title"], "teacher": accesses[s["code"]].owner,
             "created": s["created"], "group": accesses[s["code"]].group}
            for s in sorted(sessions, key=lambda s: s["created"], reverse=True)]})


class HubMeHandler(HubHandler):
    """``GET codestream/api/hub/me``: who the hub says the caller is (the teacher's group selector)."""

    async def get(self):
        user = await self.hub_user()
        self.write_json({"name": user.name, "groups": sorted(user.groups), "teacher": user.teacher})


class HubService(Relay):
    """One service process: the relay (its read routes, probes, drain) over Redis (configured or
    embedded), with the hub's identity as the read rule and the teacher routes added."""

    def __init__(self, config: HubServiceConfig, *, identities: HubIdentities | None = None,
                 log: logging.Logger | None = None):
        self.hub_config = config
        log = log or logging.getLogger(LOG_NAME)
        relay = config.relay
        embedded = None
        if config.embedded:
            embedded = EmbeddedRedis(Path(config.data_dir) / "redis", password=secrets.token_urlsafe(32),
                                     log=log)
        provider = RedisProvider(relay.redis_url or None, embedded, max_connections=relay.redis_max_connections,
                                 blocking_max_connections=relay.redis_stream_connections,
                                 socket_timeout=relay.redis_socket_timeout, block_ms=relay.event_block_ms,
                                 stream_caps=StreamCaps(relay.max_streams, relay.max_streams_per_session,
                                                        relay.heartbeat_seconds), log=log)
        service = TeacherService(provider, log=log)
        identities = identities or HubIdentities(teach_scope=config.teach_scope, timeout=config.hub_timeout, log=log)
        self.context = HubContext(config, service, identities)
        super().__init__(relay, log=log, service=service, read_auth=HubReadAuth(self.context))

    def handler_services(self) -> dict:
        return {**super().handler_services(), "hub": self.context}

    def routes(self, services: dict) -> list[tuple]:
        base = self.config.base_url
        return [
            (base + r"codestream/api/sessions/?", HubSessionsHandler, services),
            (base + r"codestream/api/sessions/(?P<code>[^/]+)/?", HubSessionHandler, services),
            (base + r"codestream/api/sessions/(?P<code>[^/]+)/key/?", HubSessionKeyHandler, services),
            (base + CELLS_ROUTE, HubCellsHandler, services),
            (base + CELL_ROUTE, HubCellHandler, services),
            (base + PULLED_ROUTE, HubPulledHandler, services),
            (base + r"codestream/api/student/sessions/?", HubStudentSessionsHandler, services),
            (base + r"codestream/api/hub/me/?", HubMeHandler, services),
            *mount(HubHandler, prefix=base, **services),  # the web API's table, by hub identity
            # the relay's own: events (with HubReadAuth), the probes; its cells routes are shadowed
            *super().routes(services),
        ]

    async def start(self) -> int:
        await self.service.provider.store()  # starts the embedded redis-server when there is one
        embedded = self.service.provider.embedded
        if embedded is not None:  # what the relay's start-up line names (the socket, no password)
            self.config = replace(self.config, redis_url=f"unix://{embedded.socket_path}")
        port = await super().start()
        # The relay's server takes 64 KiB bodies (its routes take none); the teacher routes here
        # take cells. Set before the loop accepts a first connection (nothing awaited since).
        self.server.conn_params.max_body_size = MAX_BODY_BYTES
        return port


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
    configure_logging(config.relay.log_format, config.relay.log_level)
    return asyncio.run(serve(config))


__all__ = ["HubReadAuth", "HubService", "HubServiceConfig", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
