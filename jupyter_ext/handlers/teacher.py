"""Teacher routes: Jupyter-authenticated only; a student key never opens these."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..domain import normalize_session_code, validate_cell_id
from ..relay.core import CODE
from ..services.hands import set_session_settings
from .base import CodeStreamHandler


class SessionsHandler(CodeStreamHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.write_json({"sessions": await self.service.list_sessions(owner=self.owner)})

    @web.authenticated
    @authorized
    async def post(self):
        record, student_key = await self.service.create_session(self.json_body(), owner=self.owner)
        self.write_json({**record.public_dict(), "student_key": student_key,
                         "notebook_path": record.notebook_path,
                         "join_link": self.service.join_link(record.code, student_key)}, status=201)


class SessionHandler(CodeStreamHandler):
    @web.authenticated
    @authorized
    async def delete(self, code):
        await self.service.delete_session(normalize_session_code(code), owner=self.owner)
        self.set_status(204)
        self.finish()

    @web.authenticated
    @authorized
    async def patch(self, code):
        """``{"hands_open": bool}`` (contract v3 *Hands*)."""
        code = normalize_session_code(code)
        await self.service.owned_session(code, self.owner)
        self.write_json(await set_session_settings(self.service, code, self.json_body()))


class SessionKeyHandler(CodeStreamHandler):
    @web.authenticated
    @authorized
    async def post(self, code):
        code = normalize_session_code(code)
        key = await self.service.rotate_key(code, owner=self.owner)
        self.write_json({"student_key": key, "join_link": self.service.join_link(code, key)})


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


def teacher_handlers(**services) -> list[tuple]:
    return [
        (r"codestream/api/sessions/?", SessionsHandler, services),
        (rf"codestream/api/sessions/{CODE}/?", SessionHandler, services),
        (rf"codestream/api/sessions/{CODE}/key/?", SessionKeyHandler, services),
    ]
