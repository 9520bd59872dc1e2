"""The session routes' behaviour (start, list, end, a new student key), written once for every
program with teachers. ``SessionDesk`` is the teacher's own server (laptop): the session belongs
to the server's owner, and the keys of its own sessions are kept on the teacher's machine so the
join link (key in the fragment) can be shown again. The hub service plugs in its own desk
(``hub/sessions.py``): ownership by hub identity, course groups, the hub's join links.

``teacher`` is the ``Reader`` the program's identity answered (``owner``: whose sessions).
"""

from __future__ import annotations

from ..store.records import SessionRecord
from .kept_keys import KeptKeys
from .session_service import SessionService


class SessionDesk:
    links_carry_key = True  # laptop join links hold the key (fragment): a new key, a new link

    def __init__(self, service: SessionService, kept_keys: KeptKeys | None = None):
        self.service = service
        self.kept_keys = kept_keys  # this server's own sessions' keys (services/kept_keys.py)

    # -- the hooks a program's desk changes -----------------------------------------------
    def join_link(self, code: str, student_key: str | None) -> str:
        return self.service.join_link(code, student_key)

    async def sessions_of(self, teacher) -> list[dict]:
        """The teacher's live sessions, each with its ``join_link``."""
        sessions = await self.service.list_sessions(owner=teacher.owner)
        if self.kept_keys is None:
            return sessions
        kept = self.kept_keys.keep_only({session["code"] for session in sessions})  # the link keeps its key
        return [{**session, "join_link": self.join_link(session["code"], kept[session["code"]])}
                if session["code"] in kept else session for session in sessions]

    async def start(self, teacher, body: dict) -> tuple[SessionRecord, str, dict]:
        """Create the session for ``teacher``: the record, its key, fields the answer adds."""
        record, student_key = await self.service.create_session(body, owner=teacher.owner)
        return record, student_key, {}

    async def end(self, teacher, code: str) -> None:
        await self.service.delete_session(code, owner=teacher.owner)

    async def rotate(self, teacher, code: str) -> str:
        return await self.service.rotate_key(code, owner=teacher.owner)

    async def adopt(self, teacher, code: str) -> None:
        """A 1.x client's made-up ``code``: the teacher's new session, unless someone has it."""
        await self.service.ensure_session(code, owner=teacher.owner)

    async def end_all(self, user) -> int:
        """1.x ``clear-all-redis``: end the user's own sessions; how many."""
        return await self.service.end_own_sessions(user.owner)

    # -- the routes ------------------------------------------------------------------------
    async def create(self, teacher, body: dict) -> dict:
        record, student_key, extra = await self.start(teacher, body)
        if self.kept_keys is not None:
            self.kept_keys.put(record.code, student_key)
        return {**record.public_dict(), "student_key": student_key, "notebook_path": record.notebook_path,
                **extra, "join_link": self.join_link(record.code, student_key)}

    async def delete(self, teacher, code: str) -> None:
        await self.end(teacher, code)
        if self.kept_keys is not None:
            self.kept_keys.drop(code)

    async def new_key(self, teacher, code: str) -> dict:
        key = await self.rotate(teacher, code)
        if self.kept_keys is not None:
            self.kept_keys.put(code, key)
        return {"student_key": key, **({"join_link": self.join_link(code, key)} if self.links_carry_key else {})}
