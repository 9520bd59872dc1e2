"""The hub service's ``session_desk`` (see ``services/sessions.py``): a session belongs to the hub
user who started it and may be limited to one of their course groups; its join link is the hub's
(no key in it); every answer names the session's group and teacher.

Who may act on a session is settled before the desk runs (``HubReadAuth.teacher``, ``owned``),
so the service's calls here take no owner (a laptop's "claim an ownerless session" never
applies on the hub). Owners and groups are the store's (set with the session at create).
"""

from __future__ import annotations

from ..domain import Forbidden, InvalidInput
from ..services.sessions import SessionDesk
from ..store.records import SessionRecord
from .access import HubContext
from .errors import UnknownGroup

MAX_GROUP_LENGTH = 255


class HubSessionDesk(SessionDesk):
    links_carry_key = False  # ``{hub}/hub/user-redirect/…?session=CODE``: a new key changes nothing

    def __init__(self, hub: HubContext):
        super().__init__(hub.service)
        self.hub = hub

    def join_link(self, code: str, student_key: str | None) -> str:
        return self.hub.join_link(code)

    async def sessions_of(self, teacher) -> list[dict]:
        listed = await (await self.hub.store()).sessions_listed(owner=teacher.owner)
        return [{**s.summary(), "group": s.record.access.group or None, "teacher": s.record.access.owner,
                 "join_link": self.join_link(s.record.code, None)} for s in listed]

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
        record, student_key = await self.service.create_session(body, owner=teacher.owner, group=group)
        self.service.log.info("codestream: session %s created by hub user %s%s", record.code,
                              teacher.owner, f" for group {group}" if group else "")
        return record, student_key, {"group": group or None, "teacher": teacher.owner}

    async def adopt(self, teacher, code: str) -> None:
        # it may exist by now (this user's, or another owner's): the route checks whose it is
        await self.service.create_made_up_session(code, owner=teacher.owner)

    async def end(self, teacher, code: str) -> None:
        await self.service.delete_session(code)  # and out of its owner's and group's indexes

    async def rotate(self, teacher, code: str) -> str:
        return await self.service.rotate_key(code)
