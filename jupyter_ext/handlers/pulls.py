"""``POST codestream/api/sessions/{code}/cells/{cell_id}/pulled``: a student's server reports a pull.

Authorized like the read routes (the session's student key); the teacher sees the counts in
its cell list (``pulls``) and hears of each new one by a ``pulled`` event.
"""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated

from ..domain import normalize_session_code, validate_cell_id
from .read import ReadRouteHandler
from ..relay.core import CELL, CODE

PULLED_ROUTE = rf"codestream/api/sessions/{CODE}/cells/{CELL}/pulled/?"


class PulledHandler(ReadRouteHandler):
    def check_xsrf_cookie(self):
        # A student's server sends its key as a bearer token and no cookie: without a cookie no
        # browser session can be ridden, so there is no XSRF to check; with one, Jupyter's check.
        if not self.request.headers.get("Cookie"):
            return None
        return super().check_xsrf_cookie()

    @allow_unauthenticated
    async def post(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.read_auth.authorize(self, code)
        await self.service.record_pull(code, cell_id, self.json_body())
        self.set_status(204)
        self.finish()


def pull_report_handlers(**services) -> list[tuple]:
    return [(PULLED_ROUTE, PulledHandler, services)]
