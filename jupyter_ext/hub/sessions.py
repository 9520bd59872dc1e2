"""The hub service's ``session_desk`` (see ``services/sessions.py``): a session belongs to the hub
user who started it and may be limited to one of their course groups; its join link is the hub's
(no key in it); every answer names the session's group and teacher.

Who may act on a session is settled before the desk runs (``HubReadAuth.teacher``, ``owned``),
so the service's calls here take no owner.
"""

from __future__ import annotations

from ..domain import Forbidden, InvalidInput, SessionNotFound
from ..services.sessions import SessionDesk
from ..store.records import SessionRecord
from .access import HubContext
from .errors import UnknownGroup
from .ownership import SessionAccess, owner_index_key

MAX_GROUP_LENGTH = 255


class HubSessionDesk(SessionDesk):
    links_carry_key = False  # ``{hub}/hub/user-redirect/…?session=CODE``: a new key changes nothing

    def __init__(self, hub: HubContext):
        super().__init__(hub.service)
        self.hub = hub

    def join_link(self, code: str, student_key: str | None) -> str:
        return self.hub.join_link(code)

    async def own_accesses(self, user: str) -> dict[str, SessionAccess]:
        """The live sessions ``user`` started (dropping ended ones from the user's index)."""
        index = await self.hub.index()
        codes = await index.codes_of_owner(user)
        accesses = await index.accesses(codes) if codes else {}
        await index.drop_stale(owner_index_key(user), [c for c in codes if c not in accesses])
        return accesses

    async def sessions_of(self, teacher) -> list[dict]:
        accesses = await self.own_accesses(teacher.owner)
        store = await self.service.provider.store()
        sessions = await store.list_sessions(codes=list(accesses)) if accesses else []
        return [{**session, "group": accesses[session["code"]].group or None,
                 "teacher": accesses[session["code"]].owner, "join_link": self.join_link(session["code"], None)}
                for session in sessions]

    async def valid_group(self, teacher, raw: object) -> str:
        """``""`` (no group) or one of the teacher's own hub groups."""
        if raw is None or raw == "":
            return ""
        if not isinstance(raw, str) or len(raw) > MAX_GROUP_LENGTH or "/" in raw:
            raise InvalidInput("'group' must be the name of a hub group you are in.")
        if raw not in teacher.groups:
            if not await self.hub.identities.group_exists(raw):
                raise UnknownGroup(f"There is no hub group {raw!r}; pick one of your groups.")
            raise Forbidden(f"You are not a member of the hub group {raw!r}; pick one of your groups.")
        return raw

    async def start(self, teacher, body: dict) -> tuple[SessionRecord, str, dict]:
        group = await self.valid_group(teacher, body.pop("group", None))
        body.pop("relay_url", None)  # under the hub, students read from this service
        record, student_key = await self.service.create_session(body)
        await self.record_owner(record.code, teacher.owner, group)
        return record, student_key, {"group": group or None, "teacher": teacher.owner}

    async def adopt(self, teacher, code: str) -> None:
        store = await self.service.provider.store()
        try:
            await store.create_session(code=code)
        except ValueError:  # it exists: made meanwhile by this user, or another owner's
            return
        await self.record_owner(code, teacher.owner, "", by="a 1.x client of ")

    async def record_owner(self, code: str, owner: str, group: str, *, by: str = "") -> None:
        """The one place a new hub session's owner and group are recorded."""
        await (await self.hub.index()).claim(code, owner, group)
        self.service.log.info("codestream: session %s created by %shub user %s%s", code, by, owner,
                              f" for group {group}" if group else "")

    async def end_all(self, user) -> int:
        ended = 0
        for access in (await self.own_accesses(user.owner)).values():
            if access.owner != user.owner:
                continue
            try:
                await self.service.delete_session(access.code)
            except SessionNotFound:
                continue
            await (await self.hub.index()).forget(access)
            ended += 1
        return ended

    async def end(self, teacher, code: str) -> None:
        access = await (await self.hub.index()).access(code)
        await self.service.delete_session(code)
        await (await self.hub.index()).forget(access)

    async def rotate(self, teacher, code: str) -> str:
        return await self.service.rotate_key(code)
