"""A session's cells: ``POST …/cells/{cell_id}/pulled``, a student's server reports a pull
(contract v2 *Who pulled what*), authorized like a read: the student key, or under the hub the
reader's hub identity, which is then the client counted whatever the body says."""

from __future__ import annotations

from ..domain import validate_cell_id
from .table import CELL, SESSION, Route, WebRoute


class PulledRoute(WebRoute):
    async def post(self, code, cell_id):
        code, cell_id = self.session_code(code), validate_cell_id(cell_id)
        reader = await self.as_reader(code)
        await self.service.record_pull(code, cell_id, self.json_body(),
                                       reader.presence_id if reader.role == "member" else None)
        self.no_content()


ROUTES = [Route(rf"{SESSION}/cells/{CELL}/pulled/?", PulledRoute)]
