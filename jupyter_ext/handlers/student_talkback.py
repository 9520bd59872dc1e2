"""The student's own hands routes (``codestream/api/student/hands``), on the student's server,
Jupyter-authenticated like every student route; the logic is ``services/student_talkback.py``."""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from .student import StudentHandler


class StudentTalkbackHandler(StudentHandler):
    talkback = None  # the StudentTalkback, handed over by initialize(**services)


class StudentHandsHandler(StudentTalkbackHandler):
    @web.authenticated
    @authorized
    async def post(self):
        self.write_json(await self.talkback.raise_hand(self.json_body()), status=201)

    @web.authenticated
    @authorized
    async def get(self):
        self.write_json(self.talkback.list_hands())


class StudentHandHandler(StudentTalkbackHandler):
    @web.authenticated
    @authorized
    async def delete(self, hand_id):
        await self.talkback.lower_hand(hand_id)
        self.set_status(204)
        self.finish()


def student_talkback_handlers(**services) -> list[tuple]:
    return [
        (r"codestream/api/student/hands/?", StudentHandsHandler, services),
        (r"codestream/api/student/hands/(?P<hand_id>[^/]+)/?", StudentHandHandler, services),
    ]
