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

import asyncio
import json
import logging
import secrets
import signal
import sys
from pathlib import Path

from ..domain import (
    CodeStreamError,
    Forbidden,
    InvalidInput,
    SessionAccess,
    SessionNotFound,
    Unauthorized,
    normalize_session_code,
    validate_cell_id,
)
from ..relay import ReadRoutes, Relay, RelayHandler, configure_logging
from ..relay.core import CELL, CELL_ROUTE, CELLS_ROUTE, CODE, bearer_credential, json_object
from ..services.hands import set_session_settings
from ..services.teacher import TeacherService
from ..store import EmbeddedRedis
from ..web import mount
from .errors import UnknownGroup
from .identity import HubIdentities, HubUser
from .recheck import MembershipAudit
from .access import HubContext, HubReadAuth
from .service_config import HubServiceConfig, parse_args

LOG_NAME = "codestream.hub"
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_GROUP_LENGTH = 255
PULLED_ROUTE = rf"codestream/api/sessions/{CODE}/cells/{CELL}/pulled/?"  # as on a teacher's server


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

    async def owned(self, code: str, *, others: str = "not_found") -> SessionAccess:
        """The session, when the caller made it. Anyone else gets, by ``others``: ``"not_found"``
        the same ``404`` as for a code that names no session (``HubContext.not_yours``);
        ``"members"`` ``403 forbidden`` when a member of the session's course group (who reads it
        anyway), else that 404; ``"forbidden"`` always ``403`` (the 1.x write routes' contract).
        Every refusal is counted like a wrong key."""
        user = await self.hub_user()
        try:
            access = await self.hub.session_access(code)
        except SessionNotFound:
            raise self.hub.not_yours(user, code) from None
        if access.owner != user.name:
            member = bool(access.group) and access.group in user.groups
            if others == "forbidden" or (others == "members" and member):
                raise self.hub.refuse("user:" + user.name, Forbidden(
                    f"Session {code} belongs to another teacher; only its teacher can change it."))
            raise self.hub.not_yours(user, code)
        return access

    def session_view(self, session: dict, access: SessionAccess) -> dict:
        return {**session, "group": access.group or None, "teacher": access.owner,
                "join_link": self.hub.join_link(session["code"])}


class HubSessionsHandler(HubHandler):
    async def get(self):
        user = await self.hub_user()
        listed = await (await self.hub.store()).sessions_listed(owner=user.name)
        self.write_json({"sessions": [self.session_view(s.summary(), s.record.access) for s in listed]})

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
        record, student_key = await self.hub.service.create_session(body, owner=user.name, group=group)
        self.hub.service.log.info("codestream: session %s created by hub user %s%s", record.code,
                                  user.name, f" for group {group}" if group else "")
        self.write_json({**record.public_dict(), "student_key": student_key,
                         "notebook_path": record.notebook_path, "group": group or None,
                         "teacher": user.name, "join_link": self.hub.join_link(record.code)},
                        status=201)


class HubSessionHandler(HubHandler):
    async def delete(self, code):
        code = normalize_session_code(code)
        await self.owned(code)
        await self.hub.service.delete_session(code)  # and out of its owner's and group's indexes
        self.set_status(204)
        self.finish()

    async def patch(self, code):
        code = normalize_session_code(code)
        await self.owned(code, others="members")
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
        listed = await (await self.hub.store()).sessions_listed(groups=user.groups)
        self.write_json({"sessions": [
            {"code": s.code, "title": s.title, "teacher": s.owner, "created": s.created, "group": s.group}
            for s in sorted((s.record for s in listed), key=lambda s: s.created, reverse=True)]})


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
        embedded = None
        if config.embedded:
            embedded = EmbeddedRedis(Path(config.data_dir) / "redis", password=secrets.token_urlsafe(32),
                                     log=log)
        provider = config.redis_provider(config.redis_url or None, embedded, stream_caps=config.stream_caps(log),
                                         log=log)
        service = TeacherService(provider, limits=config.cell_limits(), limiter=config.failure_limiter(), log=log)
        identities = identities or HubIdentities(teach_scope=config.teach_scope, timeout=config.hub_timeout,
                                                 cache_seconds=config.identity_cache_seconds, log=log)
        self.context = HubContext(config, service, identities)
        super().__init__(config, log=log, service=service, read_auth=HubReadAuth(self.context))

    def handler_services(self) -> dict:
        return {**super().handler_services(), "hub": self.context,
                "trusted_proxies": self.hub_config.trusted_networks}

    def routes(self, services: dict) -> list[tuple]:
        from .compat import hub_compat_routes  # its handlers build on HubHandler (this module)

        base = self.config.base_url
        return [
            *hub_compat_routes(base, services),  # the 1.x frontend's routes, as this hub user
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
        # members' open streams are re-checked at each heartbeat (a removal from the group ends them)
        (await self.service.provider.fanout()).audit = MembershipAudit(
            self.context.identities, self.context.session_access, log=self.log)
        embedded = self.service.provider.embedded
        if embedded is not None:  # what the relay's start-up line names (the socket, no password)
            self.config.redis_url = f"unix://{embedded.socket_path}"
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
    configure_logging(config.log_format, config.log_level)
    return asyncio.run(serve(config))


__all__ = ["HubReadAuth", "HubService", "HubServiceConfig", "main", "parse_args"]

if __name__ == "__main__":
    sys.exit(main())
