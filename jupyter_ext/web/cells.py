"""A session's cells: the read routes (the list, one cell, the event stream; on relays too), the
teacher's cell writes, and ``POST …/cells/{cell_id}/pulled`` (contract v2 *Who pulled what*).

The reads are ``ReadRoutes`` (``web/core.py``), which every program's handler base carries; who
may read is the program's ``read_auth``. A cell write checks the owner where the program keeps
ownership: on a laptop the store checks it inside the write (``Reader.write_owner``), under the
hub the identity checks it first, and another hub user is answered like "no such session".
"""

from __future__ import annotations

from ..domain import validate_cell_id
from .table import CELL, SESSION, Route, WebRoute


class CellsRoute(WebRoute):
    def get(self, code):
        return self.read_cells(code)


class CellRoute(WebRoute):
    def get(self, code, cell_id):
        return self.read_cell(code, cell_id)

    async def put(self, code, cell_id):
        code, cell_id = self.session_code(code), validate_cell_id(cell_id)
        teacher = await self.as_teacher(code, others="not_found", in_write=True)
        cell = await self.service.publish_cell(code, cell_id, self.json_body(), owner=teacher.write_owner)
        self.write_json({"cell_id": cell.cell_id, "version": cell.version,
                         "position": cell.position, "updated": cell.updated, "number": cell.number})

    async def delete(self, code, cell_id):
        code, cell_id = self.session_code(code), validate_cell_id(cell_id)
        teacher = await self.as_teacher(code, others="not_found", in_write=True)
        await self.service.unpublish_cell(code, cell_id, owner=teacher.write_owner)
        self.no_content()


class EventsRoute(WebRoute):
    def get(self, code):
        # returns the coroutine itself: an open stream holds no frame of this route's own
        return self.stream_events(code)


class PulledRoute(WebRoute):
    async def post(self, code, cell_id):
        code, cell_id = self.session_code(code), validate_cell_id(cell_id)
        reader = await self.as_reader(code)
        await self.service.record_pull(code, cell_id, self.json_body(),
                                       reader.presence_id if reader.role == "member" else None)
        self.no_content()


ROUTES = [
    Route(rf"{SESSION}/cells/?", CellsRoute, on_relay=True),
    Route(rf"{SESSION}/cells/{CELL}/?", CellRoute, on_relay=True, relay_methods=("get",)),
    Route(rf"{SESSION}/events/?", EventsRoute, on_relay=True, stream=True),
    Route(rf"{SESSION}/cells/{CELL}/pulled/?", PulledRoute),
]
