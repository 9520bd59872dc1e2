"""``POST codestream/api/student/merge/undo`` on the student's server (Jupyter-authenticated like
every student route); the logic is ``services/student_undo.py``."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..services.student_undo import undo_merge
from .student import StudentHandler


class StudentMergeUndoHandler(StudentHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await undo_merge(self.student, self.json_body()))


def student_undo_handlers(**services) -> list[tuple]:
    return [(r"codestream/api/student/merge/undo/?", StudentMergeUndoHandler, services)]
