"""Who is asking on the Jupyter server (``JupyterReadAuth``): the teacher by Jupyter login or
token, a student's server by the session's key (only for that key's session). The routes
themselves are the web API's (``jupyter_ext.web``), mounted over ``web_mount.JupyterWebHandler``.
"""

from __future__ import annotations

from tornado import web

from ..web.core import Reader, StudentKeyAuth


class JupyterReadAuth(StudentKeyAuth):
    """The teacher's Jupyter auth (token or login) reads every session; else the student key."""

    def deferred_student_key(self, route) -> str | None:
        if route.current_user is not None:
            return None  # the teacher: ``authorize`` checks Jupyter's authorizer, no key
        return super().deferred_student_key(route)

    async def authorize(self, route, code: str) -> Reader:
        if route.current_user is not None:
            if not route.authorizer.is_authorized(route, route.current_user, "read", route.auth_resource):
                raise web.HTTPError(403)
            if route.owner is not None:  # a teacher reads only their own sessions
                route.service.check_reader(await route.service.get_session_record(code), route.owner)
            return Reader("teacher")
        return await super().authorize(route, code)

    async def teacher(self, route, code: str | None, *, others: str = "members", in_write: bool = False) -> Reader:
        """The server's own user; another owner's session is ``403 forbidden`` (``others`` is the
        hub's). ``in_write``: the store checks the owner inside the write itself."""
        self._check_jupyter_user(route, "write")
        if in_write:
            return Reader("teacher", owner=route.owner, write_owner=route.owner)
        if code is not None:
            await route.service.owned_session(code, route.owner)
        return Reader("teacher", owner=route.owner)

    async def user(self, route) -> Reader:
        # the action Jupyter's ``authorized`` would check for this method
        self._check_jupyter_user(route, "read" if route.request.method in ("GET", "HEAD") else "write")
        return Reader("teacher", owner=route.owner)

    @staticmethod
    def _check_jupyter_user(route, action: str) -> None:
        if route.current_user is None or not route.authorizer.is_authorized(
                route, route.current_user, action, route.auth_resource):
            raise web.HTTPError(403)

    def reading_owner(self, route) -> str | None:
        return route.owner if route.current_user is not None else None
