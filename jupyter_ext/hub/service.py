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
import logging
import secrets
import signal
import sys
from pathlib import Path

from ..domain import (
    CodeStreamError,
    Forbidden,
    SessionAccess,
    SessionNotFound,
    Unauthorized,
)
from ..relay import Relay, RelayHandler, configure_logging
from ..web.core import bearer_credential, json_object
from ..services.session_service import SessionService
from ..store import EmbeddedRedis
from ..web import mount
from .identity import HubIdentities, HubUser
from .recheck import MembershipAudit
from .access import HubContext, HubReadAuth
from .service_config import HubServiceConfig, parse_args
from .sessions import HubSessionDesk

LOG_NAME = "codestream.hub"
MAX_BODY_BYTES = 4 * 1024 * 1024


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


class HubStudentSessionsHandler(HubHandler):
    """The live sessions of the caller's course groups: what the student dashboard lists."""

    async def get(self):
        user = await self.hub_user()
        listed = await (await self.hub.store()).sessions_listed(groups=user.groups)
        self.write_json({"sessions": [
            {"code": s.code, "title": s.title, "teacher": s.owner, "created": s.created, "group": s.group}
            for s in sorted((s.record for s in listed), key=lambda s: s.created, reverse=True)]})


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
        service = SessionService(provider, limits=config.cell_limits(), limiter=config.failure_limiter(), log=log)
        identities = identities or HubIdentities(teach_scope=config.teach_scope, timeout=config.hub_timeout,
                                                 cache_seconds=config.identity_cache_seconds, log=log)
        self.context = HubContext(config, service, identities)
        super().__init__(config, log=log, service=service, read_auth=HubReadAuth(self.context))

    def handler_services(self) -> dict:
        return {**super().handler_services(), "hub": self.context, "session_desk": HubSessionDesk(self.context),
                "teacher_cell_paths": True,  # the owner's cell list names each cell's notebook (publish on save)
                "trusted_proxies": self.hub_config.trusted_networks}

    def routes(self, services: dict) -> list[tuple]:
        base = self.config.base_url
        return [
            (base + r"codestream/api/student/sessions/?", HubStudentSessionsHandler, services),
            *mount(HubHandler, prefix=base, hub_routes=True, **services),  # the web API's table, by hub identity
            *self.probe_routes(services),
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
