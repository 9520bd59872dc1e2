"""The Code Stream 1.x routes (``code_stream/...``), kept for clients written against 1.x.

They speak the 1.x shapes (``{"status": "success"|"error", ...}``: ``CompatJSON``) over the same
services. 1.x codes are made up by the teacher's browser: a push to a code nobody has yet makes
it this teacher's session (``session_desk.adopt``); another owner's session is ``403 forbidden``;
``clear-all-redis`` ends the caller's own sessions and nothing else. On a student's own server
with a configured teacher (laptop mode), the two GET routes are proxied to that teacher.
"""

from __future__ import annotations

from tornado import web

from ..domain import (
    CellNotFound,
    InvalidInput,
    SessionNotFound,
    validate_cell_id,
    validate_valid_cell_ids,
)
from .core import CompatJSON
from .table import CODE, Route, WebRoute


class CompatRoute(WebRoute, CompatJSON):
    def upstream(self):
        """This student's server's teacher, when the 1.x reads go there (only the local user)."""
        student = getattr(self, "student", None)
        if student is None or not student.is_configured():
            return None
        if self.current_user is None:
            raise web.HTTPError(403)
        return student

    async def own_or_new(self, code: str):
        """The caller's session ``code``, made theirs when nobody has it yet."""
        teacher = await self.as_teacher(None)
        try:
            return await self.as_teacher(code, others="forbidden")
        except SessionNotFound:
            pass
        await self.session_desk.adopt(teacher, code)
        return await self.as_teacher(code, others="forbidden")  # made meanwhile by someone else: theirs


class PushCellRoute(CompatRoute):
    """``push-cell`` and ``update``: publish ``cell_content`` as a code cell."""

    async def post(self, code):
        await self.as_user()
        code = self.session_code(code)
        body = self.json_body()
        cell_id = validate_cell_id(body.get("cell_id"))
        content = body.get("cell_content")
        if not isinstance(content, str):
            raise InvalidInput("'cell_content' is required and must be a string.")
        await self.own_or_new(code)
        listing = await self.service.list_cells(code)
        existing = {c["cell_id"]: c for c in listing["cells"]}
        if cell_id in existing:
            position, cell_type = existing[cell_id]["position"], existing[cell_id]["cell_type"]
        else:
            position = max((c["position"] for c in listing["cells"]), default=-1) + 1
            cell_type = "code"
        cell = await self.service.publish_cell(
            code, cell_id, {"source": content, "cell_type": cell_type, "position": position})
        self.success(cell_id=cell.cell_id, version=cell.version, cell_timestamp=body.get("cell_timestamp"))


class DeleteCellRoute(CompatRoute):
    async def post(self, code):
        await self.as_user()
        code = self.session_code(code)
        cell_id = validate_cell_id(self.json_body().get("cell_id"))
        teacher = await self.as_teacher(code, others="forbidden", in_write=True)
        await self.service.unpublish_cell(code, cell_id, owner=teacher.write_owner)
        self.success(cell_id=cell_id)


class ClearAllRoute(CompatRoute):
    """1.x ``clear-all-redis``: ends the caller's own sessions, never anyone else's."""

    async def post(self):
        user = await self.as_user()
        self.success(deleted_count=await self.session_desk.end_all(user))


class CleanupOrphanCellsRoute(CompatRoute):
    """1.x ``cleanup-orphan-cells``: unpublish every cell of the session not in ``valid_cell_ids``."""

    async def post(self, code):
        await self.as_user()
        code = self.session_code(code)
        keep = validate_valid_cell_ids(self.json_body())
        try:
            await self.as_teacher(code, others="forbidden")
        except SessionNotFound:
            self.success(deleted_count=0)  # nothing pushed yet: nothing to clean up
            return
        self.success(deleted_count=await self.service.unpublish_all_but(code, keep))


class AllCellIdsRoute(CompatRoute):
    async def get(self, code):
        code = self.session_code(code)
        try:
            upstream = self.upstream()
            if upstream is not None:
                listing = await upstream.fetch_cells(code)
            else:
                await self.as_reader(code)
                listing = await self.service.list_cells(code)
        except SessionNotFound:
            # 1.x codes are made up in the teacher's browser: a code with nothing pushed yet is
            # an empty list ("No cells available"), not a failure
            listing = {"cells": []}
        self.success(data=[c["cell_id"] for c in listing["cells"]])


class GetCellRoute(CompatRoute):
    async def get(self, code):
        code = self.session_code(code)
        cell_id = validate_cell_id(self.get_query_argument("cell_id", None))
        upstream = self.upstream()
        if upstream is not None:
            cell = await upstream.fetch_cell(code, cell_id)
        else:
            await self.as_reader(code)
            cell = (await self.service.get_cell(code, cell_id)).public_dict()
        if cell is None:
            raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
        self.success(data=cell["source"], cell_id=cell_id, version=cell["version"])


class UpdateCellRoute(PushCellRoute):
    """1.x ``update``: the same as ``push-cell``."""


ROUTES = [
    Route(rf"code_stream/{CODE}/push-cell/?", PushCellRoute),
    Route(rf"code_stream/{CODE}/update/?", UpdateCellRoute),
    Route(rf"code_stream/{CODE}/delete/?", DeleteCellRoute),
    Route(rf"code_stream/{CODE}/get-all-cell-ids/?", AllCellIdsRoute),
    Route(rf"code_stream/{CODE}/get-cell/?", GetCellRoute),
    Route(r"code_stream/clear-all-redis/?", ClearAllRoute),
    Route(rf"code_stream/{CODE}/cleanup-orphan-cells/?", CleanupOrphanCellsRoute),
]
