"""Read routes on the Jupyter server: the only routes that accept a student key, and only for
that key's session.

The routes' behaviour is ``relay.core.ReadRoutes`` (shared with the standalone relay); here the
``JupyterReadAuth`` strategy also lets the teacher's Jupyter login read. The one cell route also
carries the teacher's ``PUT``/``DELETE``, which stay Jupyter-only.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated
from tornado import web

from ..relay.core import CELL_ROUTE, CELLS_ROUTE, EVENTS_ROUTE, Reader, ReadRoutes, StudentKeyAuth
from .base import CodeStreamHandler
from .teacher import CellWriteMixin


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

    async def teacher(self, route, code: str | None, *, others: str = "members") -> Reader:
        """The server's own user; another owner's session is ``403 forbidden`` (``others`` is the hub's)."""
        self._check_jupyter_user(route, "write")
        if code is not None:
            await route.service.owned_session(code, route.owner)
        return Reader("teacher", owner=route.owner)

    async def user(self, route) -> Reader:
        self._check_jupyter_user(route, "read")  # listing: a read, as Jupyter's ``authorized`` says
        return Reader("teacher", owner=route.owner)

    @staticmethod
    def _check_jupyter_user(route, action: str) -> None:
        if route.current_user is None or not route.authorizer.is_authorized(
                route, route.current_user, action, route.auth_resource):
            raise web.HTTPError(403)

    def reading_owner(self, route) -> str | None:
        return route.owner if route.current_user is not None else None

    def pulls_visible(self, route) -> bool:
        return route.current_user is not None  # Jupyter-authenticated: the teacher


class ReadRouteHandler(ReadRoutes, CodeStreamHandler):
    """Accepts the teacher's Jupyter auth, or the session's student key as a bearer token."""

    read_auth = JupyterReadAuth()

    def check_xsrf_cookie(self):
        # Student servers call these with a bearer key, never with cookies.
        if self.request.method in ("GET", "HEAD"):
            return None
        return super().check_xsrf_cookie()


class CellsHandler(ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code):
        await self.read_cells(code)


class CellHandler(CellWriteMixin, ReadRouteHandler):
    @allow_unauthenticated
    async def get(self, code, cell_id):
        await self.read_cell(code, cell_id)


class EventsHandler(ReadRouteHandler):
    get = allow_unauthenticated(ReadRoutes.stream_events)  # no coroutine layer of its own


def read_handlers(**services) -> list[tuple]:
    return [
        (CELLS_ROUTE, CellsHandler, services),
        (CELL_ROUTE, CellHandler, services),
        (EVENTS_ROUTE, EventsHandler, services),
    ]
