"""Student routes (Jupyter-authenticated on the student's own server), and the 1.x
``code_stream/config`` and ``code_stream/test`` routes over the same service."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..domain.events import validate_event_id
from ..web import sse
from ..web.core import CompatJSON
from .base import CodeStreamHandler


class StudentHandler(CodeStreamHandler):
    student = None  # the StudentService, handed over by initialize(**services)


class StudentConfigHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.write_json(self.student.config_view())

    @web.authenticated
    @authorized
    async def put(self):
        self.write_json(await self.student.save_config(self.json_body()))

    @web.authenticated
    @authorized
    async def delete(self):
        await self.student.delete_config()
        self.set_status(204)
        self.finish()


class StudentTestHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await self.student.test_connection())


class StudentCellsHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def get(self):
        self.write_json(await self.student.list_cells())


class StudentPullHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await self.student.pull(self.json_body()))


class StudentEventsHandler(StudentHandler):
    """The relay's events as ``text/event-stream``; ``Last-Event-ID`` resumes, heartbeats keep it open."""

    _listener = None
    heartbeat_seconds = sse.HEARTBEAT_SECONDS

    def on_connection_close(self):
        if self._listener is not None:
            self._listener.close()

    @web.authenticated
    @authorized
    async def get(self):
        last_event_id = validate_event_id(self.request.headers.get("Last-Event-ID")
                                          or self.get_query_argument("last_event_id", None))
        async with self.student.listen(last_event_id) as (listener, replay):
            self._listener = listener
            sse.start_event_stream(self)
            await sse.pump(self, listener, replay, heartbeat_seconds=self.heartbeat_seconds)
        self._listener = None
        if not self._finished:
            self.finish()


class CompatConfigHandler(CompatJSON, CodeStreamHandler):
    """1.x: ``teacher_base_url`` and ``teacher_token`` (our teacher URL and student key)."""

    @web.authenticated
    @authorized
    async def get(self):
        config = self.student.store.config
        self.compat_view(config.teacher_url if config else "", bool(config and config.student_key),
                         config.session_code if config else None)

    @web.authenticated
    @authorized
    async def post(self):
        view = await self.student.save_compat_config(self.json_body())
        self.compat_view(view["teacher_url"], view["has_key"], view["session_code"])

    def compat_view(self, teacher_base_url: str, has_token: bool, session_code: str | None) -> None:
        """The fields at the top (v1 contract) and under ``data`` (where 1.x reads them)."""
        fields = {"teacher_base_url": teacher_base_url, "has_token": has_token}
        self.success(**fields, session_code=session_code, data=fields)


class CompatTestHandler(CompatJSON, CodeStreamHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.success(**await self.student.test_compat())


def student_handlers(**services) -> list[tuple]:
    return [
        (r"codestream/api/student/config/?", StudentConfigHandler, services),
        (r"codestream/api/student/test/?", StudentTestHandler, services),
        (r"codestream/api/student/cells/?", StudentCellsHandler, services),
        (r"codestream/api/student/events/?", StudentEventsHandler, services),
        (r"codestream/api/student/pull/?", StudentPullHandler, services),
        (r"code_stream/config/?", CompatConfigHandler, services),
        (r"code_stream/test/?", CompatTestHandler, services),
    ]
