"""Group membership re-checked on open streams: a student removed from the session's course
group is cut off within one heartbeat after the hub identity cache forgets their token.

A hub member's stream is let in by identity, not by a key, so a key rotation never closes it.
Its ``MemberGrant`` (the user and the token it was opened with, kept in memory only) rides on
its listener; at each heartbeat tick the event fan-out hands a session's granted listeners to
``MembershipAudit``, which asks the hub again (through the identity cache, so once per token
per ``cache_seconds``) and returns those that may no longer read: their streams end, and the
reconnect is refused like any read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..domain import CodeStreamError, Forbidden, SessionAccess, SessionNotFound
from .identity import HubIdentities

CONCURRENT_LOOKUPS = 16  # hub API calls at once when many cached identities expire together


class MemberGrant:
    """What let a hub member's stream in; its token is never shown (no ``repr`` of it)."""

    __slots__ = ("user", "_token")

    def __init__(self, user: str, token: str):
        self.user = user
        self._token = token

    @property
    def token(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return f"MemberGrant(user={self.user!r})"


class MembershipAudit:
    """The event fan-out's ``audit`` hook for the hub service (see ``EventFanout.audit``)."""

    def __init__(self, identities: HubIdentities, access: Callable[[str], Awaitable[SessionAccess]],
                 log: logging.Logger | None = None):
        self.identities = identities
        self.access = access
        self.log = log or logging.getLogger(__name__)

    async def __call__(self, code: str, listeners: list) -> list:
        try:
            access = await self.access(code)
        except SessionNotFound:
            return list(listeners)  # the session's end closes them anyway
        except CodeStreamError:
            return []  # Redis trouble is no reason to cut a class off: next tick
        grants = {listener.grant.token: listener.grant for listener in listeners
                  if isinstance(listener.grant, MemberGrant)}
        limit = asyncio.Semaphore(CONCURRENT_LOOKUPS)

        async def verdict(grant: MemberGrant) -> bool | None:
            async with limit:
                try:
                    user = await self.identities.identify(grant.token)
                except Forbidden:  # the token lost its access to this service
                    return False
                except CodeStreamError:  # the hub is down or slow: keep the stream, ask next tick
                    return None
            return user is not None and user.name == grant.user and access.may_read(user.name, user.groups)

        answers = dict(zip(grants, await asyncio.gather(*(verdict(g) for g in grants.values()))))
        stale = [listener for listener in listeners
                 if isinstance(listener.grant, MemberGrant) and answers.get(listener.grant.token) is False]
        if stale:
            self.log.info("codestream: %d event stream(s) of session %s closed: their hub users may no"
                          " longer read it", len(stale), code)
        return stale
