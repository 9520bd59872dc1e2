"""``PUT codestream/api/sessions/{code}/focus``: the teacher shows a cell to the class."""

from __future__ import annotations

from ..services.focus import show_cell
from .table import SESSION, Route, WebRoute


class FocusRoute(WebRoute):
    async def put(self, code):
        code = self.session_code(code)
        await self.as_teacher(code)
        self.write_json(await show_cell(self.service, code, self.json_body()))


ROUTES = [Route(rf"{SESSION}/focus/?", FocusRoute)]
