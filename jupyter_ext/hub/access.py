"""Who is asking the hub service, and what the service's handlers share: ``HubContext`` (the
service, the hub's identities, the refusal limiter, who owns a session) and ``HubReadAuth``
(the hub's identity as the web API's pluggable ``ReadAuth``: readers and teachers)."""

from __future__ import annotations

import hashlib

from ..domain import CodeStreamError, Forbidden, SessionAccess, SessionNotFound, TooManyRequests, Unauthorized
from ..web.core import ReadAuth, Reader, bearer_credential, student_presence_id
from ..services.ratelimit import FailureLimiter
from ..services.session_service import SessionService
from ..store import SessionStore
from .identity import HubIdentities, HubUser
from .recheck import MemberGrant
from .service_config import HubServiceConfig

STUDENT_DASHBOARD = "codestream-student"


class HubContext:
    """What every handler of one service process shares (no per-request state)."""

    def __init__(self, config: HubServiceConfig, service: SessionService, identities: HubIdentities):
        self.config = config
        self.service = service
        self.identities = identities
        self.limiter = FailureLimiter(config.key_failures_per_minute, 60.0)

    async def store(self) -> SessionStore:
        """The ``SessionStore``: owners, course groups and their indexes are the store's."""
        return await self.service.provider.store()

    async def session_access(self, code: str) -> SessionAccess:
        """Who owns ``code`` (the hub user who created it) and which course group may read it."""
        return await (await self.store()).session_access(code)

    def join_link(self, code: str) -> str:
        """``{hub}/hub/user-redirect/codestream-student/?session=CODE`` (host-relative when the
        hub's public URL is not configured)."""
        hub = self.config.public_hub_url or f"{self.config.hub_base_url}hub/"
        return f"{hub.rstrip('/')}/user-redirect/{STUDENT_DASHBOARD}/?session={code}"

    def not_yours(self, user: HubUser, code: str) -> CodeStreamError:
        """One answer for "another teacher's session" and "no such session" on the teacher
        routes (so they cannot be told apart to find live codes), counted like a wrong key."""
        return self.refuse("user:" + user.name, SessionNotFound(
            f"You have no live session {code}; check the code (only the teacher who started a session"
            " can change it)."))

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
            access = await self.hub.session_access(code)
        except SessionNotFound as exc:
            raise self.hub.refuse("user:" + user.name, exc) from None
        if access.owner == user.name:
            return Reader("teacher", owner=user.name, name=user.name, client="user:" + user.name)
        if access.may_read(user.name, user.groups):
            # a member is a hub user (one student however many servers or tabs), and reads by
            # identity, not by the key: a key rotation never closes its stream, a removal from the
            # group does (``MembershipAudit``, at the tick)
            presence = hashlib.sha256(("hub-user:" + user.name).encode()).hexdigest()[:16]
            return Reader("member", presence_id=presence, name=user.name, client="user:" + user.name,
                          grant=MemberGrant(user.name, credential))
        raise self.hub.refuse("user:" + user.name, Forbidden(
            f"Session {code} is for the hub group {access.group!r}, which you are not in."))

    async def teacher(self, route, code: str | None, *, others: str = "members", in_write: bool = False) -> Reader:
        """The owner of ``code`` (any hub teacher with ``code=None``: who may start sessions), by
        the hub's identity; anyone else is answered as ``others`` says (``HubHandler.owned``)."""
        user = await route.hub_user()
        if code is None:
            if not user.teacher:
                raise Forbidden("Only teachers (members of the hub's teachers group) can start sessions.")
        else:
            await route.owned(code, others=others)
        return Reader("teacher", owner=user.name, name=user.name, groups=user.groups)

    async def user(self, route) -> Reader:
        """Any hub user lists their own sessions (a student: none)."""
        user = await route.hub_user()
        return Reader("teacher" if user.teacher else "member", owner=user.name, name=user.name,
                      groups=user.groups)
