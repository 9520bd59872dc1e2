"""The student's own routes of contract v3 *Past versions*, *Catch up and take home* and *Merge*
(Jupyter-authenticated on the student's server; the logic is in ``services/student_lesson.py``
and ``services/student_merge.py``)."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..domain.history import parse_version
from ..domain.lesson import NOTEBOOK_MEDIA_TYPE
from ..services.student_lesson import cell_version, lesson_notebook, pull_all
from ..services.student_merge import merge_cell
from .student import StudentHandler


class StudentCellHandler(StudentHandler):
    """``GET student/cells/{cell_id}[?version=N]``: the teacher's cell (or that past version), proxied."""

    @web.authenticated
    @authorized
    async def get(self, cell_id):
        version = parse_version(self.get_query_argument("version", None))
        self.write_json(await cell_version(self.student, cell_id, version))


class StudentNotebookHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def get(self):
        body, disposition = await lesson_notebook(self.student)
        self.set_header("Content-Disposition", disposition)
        self.set_header("Cache-Control", "no-store")
        self.finish(body, set_content_type=NOTEBOOK_MEDIA_TYPE)  # a Jupyter API handler's own way


class StudentPullAllHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await pull_all(self.student, self.json_body()))


class StudentMergeHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await merge_cell(self.student, self.json_body()))


def student_instep_handlers(**services) -> list[tuple]:
    return [
        (r"codestream/api/student/cells/(?P<cell_id>[^/]+)/?", StudentCellHandler, services),
        (r"codestream/api/student/notebook/?", StudentNotebookHandler, services),
        (r"codestream/api/student/pull-all/?", StudentPullAllHandler, services),
        (r"codestream/api/student/merge/?", StudentMergeHandler, services),
    ]
