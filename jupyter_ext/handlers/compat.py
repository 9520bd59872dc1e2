"""The Code Stream 1.x routes (``code_stream/...``), kept for clients written against 1.x.

They speak the 1.x shapes (``{"status": "success"|"error", ...}``) over the same services.
On a student server with a configured teacher, the two GET routes are proxied to the teacher.
"""

from __future__ import annotations


from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from tornado import web

from ..domain import (
    CellNotFound,
    InvalidInput,
    SessionNotFound,
    normalize_session_code,
    validate_cell_id,
    validate_valid_cell_ids,
)
from ..web.core import CODE, CompatJSON
from .read import ReadRouteHandler


class CompatHandler(CompatJSON, ReadRouteHandler):
    student = None  # the student service, when this server is also a student's

    def proxied(self) -> bool:
        return self.student is not None and self.student.is_configured()


class PushCellHandler(CompatHandler):
    """``push-cell`` and ``update``: publish ``cell_content`` as a code cell."""

    @web.authenticated
    @authorized
    async def post(self, code):
        code = normalize_session_code(code)
        body = self.json_body()
        cell_id = validate_cell_id(body.get("cell_id"))
        content = body.get("cell_content")
        if not isinstance(content, str):
            raise InvalidInput("'cell_content' is required and must be a string.")
        await self.service.ensure_session(code, owner=self.owner)
        listing = await self.service.list_cells(code, owner=self.owner)
        existing = {c["cell_id"]: c for c in listing["cells"]}
        if cell_id in existing:
            position = existing[cell_id]["position"]
            cell_type = existing[cell_id]["cell_type"]
        else:
            position = max((c["position"] for c in listing["cells"]), default=-1) + 1
            cell_type = "code"
        cell = await self.service.publish_cell(
            code, cell_id, {"source": content, "cell_type": cell_type, "position": position}, owner=self.owner)
        self.success(cell_id=cell.cell_id, version=cell.version,
                     cell_timestamp=body.get("cell_timestamp"))


class DeleteCellHandler(CompatHandler):
    @web.authenticated
    @authorized
    async def post(self, code):
        code = normalize_session_code(code)
        cell_id = validate_cell_id(self.json_body().get("cell_id"))
        await self.service.unpublish_cell(code, cell_id, owner=self.owner)
        self.success(cell_id=cell_id)




class ClearAllHandler(CompatHandler):
    """1.x ``clear-all-redis``: ends the caller's own sessions, never anyone else's."""

    @web.authenticated
    @authorized
    async def post(self):
        self.success(deleted_count=await self.service.end_own_sessions(self.owner))


class CleanupOrphanCellsHandler(CompatHandler):
    """1.x ``cleanup-orphan-cells``: unpublish every cell of the session not in ``valid_cell_ids``."""

    @web.authenticated
    @authorized
    async def post(self, code):
        code = normalize_session_code(code)
        keep = validate_valid_cell_ids(self.json_body())
        removed = await self.service.unpublish_all_but(code, keep, owner=self.owner)
        self.success(deleted_count=removed)


class AllCellIdsHandler(CompatHandler):
    @allow_unauthenticated
    async def get(self, code):
        code = normalize_session_code(code)
        try:
            if self.proxied():
                await self._require_local_user()
                listing = await self.student.fetch_cells(code)
            else:
                await self.read_auth.authorize(self, code)
                listing = await self.service.list_cells(code)
        except SessionNotFound:
            # 1.x codes are made up in the teacher's browser: a code with nothing pushed yet is
            # an empty list ("No cells available"), not a failure
            listing = {"cells": []}
        self.success(data=[c["cell_id"] for c in listing["cells"]])

    async def _require_local_user(self):
        if self.current_user is None:
            raise web.HTTPError(403)


class GetCellHandler(AllCellIdsHandler):
    @allow_unauthenticated
    async def get(self, code):
        code = normalize_session_code(code)
        cell_id = validate_cell_id(self.get_query_argument("cell_id", None))
        if self.proxied():
            await self._require_local_user()
            cell = await self.student.fetch_cell(code, cell_id)
        else:
            await self.read_auth.authorize(self, code)
            cell = (await self.service.get_cell(code, cell_id)).public_dict()
        if cell is None:
            raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
        self.success(data=cell["source"], cell_id=cell_id, version=cell["version"])


def compat_handlers(**services) -> list[tuple]:
    return [
        (rf"code_stream/{CODE}/push-cell/?", PushCellHandler, services),
        (rf"code_stream/{CODE}/update/?", PushCellHandler, services),
        (rf"code_stream/{CODE}/delete/?", DeleteCellHandler, services),
        (rf"code_stream/{CODE}/get-all-cell-ids/?", AllCellIdsHandler, services),
        (rf"code_stream/{CODE}/get-cell/?", GetCellHandler, services),
        (r"code_stream/clear-all-redis/?", ClearAllHandler, services),
        (rf"code_stream/{CODE}/cleanup-orphan-cells/?", CleanupOrphanCellsHandler, services),
    ]
