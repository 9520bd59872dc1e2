"""The 1.x routes (``code_stream/...``) on the hub service, for the 1.x frontend under JupyterHub.

A single-user server forwards them here as its hub user (``hub/singleuser.py``), as it does the
v2 teacher routes. They speak the 1.x shapes (``{"status": "success"|"error", ...}``) over the
same service and ownership as the v2 routes: a push to a code nobody has yet creates that session
for the pushing teacher; another hub user's session is ``403 forbidden``; ``clear-all-redis``
ends this hub user's own sessions and nothing else.
"""

from __future__ import annotations


from ..domain import (
    Forbidden,
    InvalidInput,
    SessionNotFound,
    normalize_session_code,
    validate_cell_id,
    validate_valid_cell_ids,
)
from ..relay.core import CODE, CompatJSON, ReadRoutes
from .service import HubHandler


class HubCompatHandler(CompatJSON, ReadRoutes, HubHandler):
    """1.x answers and errors (``relay.core.CompatJSON``) over the hub's identity."""

    async def own_or_new(self, code: str) -> None:
        """1.x codes are made up by the teacher's browser: an unknown code becomes this teacher's
        session; someone else's is ``403 forbidden``."""
        user = await self.hub_user()
        if not user.teacher:
            raise Forbidden("Only teachers (members of the hub's teachers group) can publish cells.")
        try:
            await self.owned(code, others="forbidden")
            return
        except SessionNotFound:
            pass
        store = await self.hub.service.provider.store()
        try:
            await store.create_session(code=code, owner=user.name)
        except ValueError:  # it exists: made meanwhile by this user, or another owner's
            await self.owned(code, others="forbidden")
            return
        self.hub.service.log.info("codestream: session %s created by a 1.x client of hub user %s", code, user.name)


class HubPushCellHandler(HubCompatHandler):
    async def post(self, code):
        code = normalize_session_code(code)
        body = self.json_body()
        cell_id = validate_cell_id(body.get("cell_id"))
        content = body.get("cell_content")
        if not isinstance(content, str):
            raise InvalidInput("'cell_content' is required and must be a string.")
        await self.own_or_new(code)
        listing = await self.hub.service.list_cells(code)
        existing = {c["cell_id"]: c for c in listing["cells"]}
        if cell_id in existing:
            position, cell_type = existing[cell_id]["position"], existing[cell_id]["cell_type"]
        else:
            position = max((c["position"] for c in listing["cells"]), default=-1) + 1
            cell_type = "code"
        cell = await self.hub.service.publish_cell(
            code, cell_id, {"source": content, "cell_type": cell_type, "position": position})
        self.success(cell_id=cell.cell_id, version=cell.version, cell_timestamp=body.get("cell_timestamp"))


class HubDeleteCellHandler(HubCompatHandler):
    async def post(self, code):
        code = normalize_session_code(code)
        cell_id = validate_cell_id(self.json_body().get("cell_id"))
        await self.owned(code, others="forbidden")
        await self.hub.service.unpublish_cell(code, cell_id)
        self.success(cell_id=cell_id)


class HubClearAllHandler(HubCompatHandler):
    """``clear-all-redis``: this hub user's own sessions, never another's."""

    async def post(self):
        user = await self.hub_user()
        self.success(deleted_count=await self.hub.service.end_own_sessions(user.name))


class HubCleanupOrphanCellsHandler(HubCompatHandler):
    async def post(self, code):
        code = normalize_session_code(code)
        keep = validate_valid_cell_ids(self.json_body())
        try:
            await self.owned(code, others="forbidden")
        except SessionNotFound:
            self.success(deleted_count=0)  # nothing pushed yet: nothing to clean up
            return
        removed = await self.hub.service.unpublish_all_but(code, keep)
        self.success(deleted_count=removed)


class HubAllCellIdsHandler(HubCompatHandler):
    async def get(self, code):
        code = normalize_session_code(code)
        try:
            await self.read_auth.authorize(self, code)
            listing = await self.hub.service.list_cells(code)
        except SessionNotFound:
            listing = {"cells": []}  # 1.x: a code with nothing pushed yet is an empty list
        self.success(data=[c["cell_id"] for c in listing["cells"]])


class HubGetCellHandler(HubCompatHandler):
    async def get(self, code):
        code = normalize_session_code(code)
        cell_id = validate_cell_id(self.get_query_argument("cell_id", None))
        await self.read_auth.authorize(self, code)
        cell = (await self.hub.service.get_cell(code, cell_id)).public_dict()
        self.success(data=cell["source"], cell_id=cell_id, version=cell["version"])


COMPAT_ROUTES = (
    (rf"code_stream/{CODE}/push-cell/?", HubPushCellHandler, ("post",)),
    (rf"code_stream/{CODE}/update/?", HubPushCellHandler, ("post",)),
    (rf"code_stream/{CODE}/delete/?", HubDeleteCellHandler, ("post",)),
    (rf"code_stream/{CODE}/get-all-cell-ids/?", HubAllCellIdsHandler, ("get",)),
    (rf"code_stream/{CODE}/get-cell/?", HubGetCellHandler, ("get",)),
    (r"code_stream/clear-all-redis/?", HubClearAllHandler, ("post",)),
    (rf"code_stream/{CODE}/cleanup-orphan-cells/?", HubCleanupOrphanCellsHandler, ("post",)),
)


def hub_compat_routes(base: str, services: dict) -> list[tuple]:
    return [(base + route, handler, services) for route, handler, _methods in COMPAT_ROUTES]


__all__ = ["COMPAT_ROUTES", "hub_compat_routes"]
