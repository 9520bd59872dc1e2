"""The session routes (contract: Teacher routes; v3 ``PATCH`` for the hands switch): list and
start sessions, end one, give it a new student key.

What differs between programs is who is asking (``read_auth``) and the program's
``session_desk`` (``services/sessions.py``: on a laptop the kept keys and key-carrying join
links; ``hub/sessions.py``: course groups, the hub's join links). To another hub user, ending a
session or changing its key answers like "no such session" (``others="not_found"``).
"""

from __future__ import annotations

from ..services.hands import set_session_settings
from .table import SESSION, Route, WebRoute


class SessionsRoute(WebRoute):
    async def get(self):
        """One's own sessions (any user who may own some: a hub student lists none)."""
        user = await self.as_user()
        self.write_json({"sessions": await self.session_desk.sessions_of(user)})

    async def post(self):
        teacher = await self.as_teacher(None)
        self.write_json(await self.session_desk.create(teacher, self.json_body()), status=201)


class SessionRoute(WebRoute):
    async def delete(self, code):
        code = self.session_code(code)
        teacher = await self.as_teacher(code, others="not_found")
        await self.session_desk.delete(teacher, code)
        self.no_content()

    async def patch(self, code):
        """``{"hands_open": bool}`` (contract v3 *Hands*)."""
        code = self.session_code(code)
        await self.as_teacher(code)
        self.write_json(await set_session_settings(self.service, code, self.json_body()))


class SessionKeyRoute(WebRoute):
    async def post(self, code):
        code = self.session_code(code)
        teacher = await self.as_teacher(code, others="not_found")
        self.write_json(await self.session_desk.new_key(teacher, code))


class HubMeRoute(WebRoute):
    """``GET codestream/api/hub/me``: who the hub says the caller is (the teacher's group selector)."""

    async def get(self):
        user = await self.as_user()
        self.write_json({"name": user.name, "groups": sorted(user.groups), "teacher": user.role == "teacher"})


ROUTES = [
    Route(r"codestream/api/sessions/?", SessionsRoute),
    Route(r"codestream/api/hub/me/?", HubMeRoute, hub_only=True),
    Route(rf"{SESSION}/?", SessionRoute),
    Route(rf"{SESSION}/key/?", SessionKeyRoute),
]
