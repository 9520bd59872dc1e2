"""The teacher's cell writes on the Jupyter server: Jupyter-authenticated only; a student key
never opens these. (The session routes are the web API's: ``web/sessions.py``.)"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..domain import normalize_session_code, validate_cell_id


class CellWriteMixin:
    @web.authenticated
    @authorized
    async def put(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        cell = await self.service.publish_cell(code, cell_id, self.json_body(), owner=self.owner)
        self.write_json({"cell_id": cell.cell_id, "version": cell.version,
                         "position": cell.position, "updated": cell.updated, "number": cell.number})

    @web.authenticated
    @authorized
    async def delete(self, code, cell_id):
        code, cell_id = normalize_session_code(code), validate_cell_id(cell_id)
        await self.service.unpublish_cell(code, cell_id, owner=self.owner)
        self.set_status(204)
        self.finish()
