"""``GET codestream/api/sessions/{code}/notebook``: the lesson as a notebook, for every reader
(the teacher, a student key, a hub member; on relays too)."""

from __future__ import annotations

from ..domain.lesson import NOTEBOOK_MEDIA_TYPE
from ..services.lesson import lesson_file
from .table import SESSION, Route, WebRoute


class LessonNotebookRoute(WebRoute):
    async def get(self, code):
        code = self.session_code(code)
        await self.as_reader(code)  # who may read the session may take its lesson home
        lesson = await lesson_file(self.service, code)
        await send_download(self, lesson.body, lesson.disposition)


async def send_download(handler, body: bytes, disposition: str) -> None:
    """A notebook download under any mount. Its headers go out before ``finish``: the Jupyter
    mount's API handler would otherwise make every answer ``application/json`` in ``finish``."""
    handler.set_header("Content-Type", NOTEBOOK_MEDIA_TYPE)
    handler.set_header("Content-Disposition", disposition)
    handler.set_header("Cache-Control", "no-store")
    handler.set_header("Content-Length", str(len(body)))
    handler.write(body)
    await handler.flush()
    handler.finish()


ROUTES = [Route(rf"{SESSION}/notebook/?", LessonNotebookRoute, on_relay=True)]
