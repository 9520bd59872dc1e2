"""What every part of the teacher dashboard's state shares: its server client, its background
tasks, the live session's code and the notices shown to the teacher.

The state is split by job (teacher_state.py: the session; teacher_publish.py: the cells and the
switches; teacher_events.py: the event stream; teacher_hands.py: hands, Show and the lesson
download). Each part is a ``param.Parameterized`` over this base, so tests drive them without a
browser, and ``TeacherState`` is all of them together.
"""

from __future__ import annotations

import asyncio
import logging

import param

from jupyter_ext.clients import APIError, ServerClient

from .common import BackgroundTasks, describe_error, escape, notify

log = logging.getLogger("codestream_dash.teacher_state")

NOTICES_KEPT = 20


def toast(kind: str, message: str, duration: int = 8000) -> None:
    """A toast of plain text: notification messages are HTML, and ours quote file names."""
    notify(kind, escape(message), duration)


class TeacherBase(param.Parameterized):
    """The client, the tasks, the session code and the notices of one dashboard."""

    session_code = param.String(default="", doc="Code of the live session; empty when there is none.")
    last_error = param.String(default="", doc="The last error shown as a notice.")
    notices = param.List(default=[], doc="Messages shown in this session, oldest first: (kind, text).")

    def __init__(self, client: ServerClient, **params):
        super().__init__(**params)
        self.client = client
        self._tasks = BackgroundTasks()

    def _spawn(self, coro, name: str) -> asyncio.Task:
        return self._tasks.spawn(coro, name=name)

    def _toast(self, kind: str, message: str, duration: int = 8000) -> None:
        """A notice in the page (and the log); ``message`` is plain text."""
        self.notices = [*self.notices[-(NOTICES_KEPT - 1):], (kind, message)]
        toast(kind, message, duration)

    def _report(self, exc: BaseException, doing: str) -> None:
        message = describe_error(exc, doing)
        self.last_error = message
        self._toast("error", message)
        if not isinstance(exc, APIError):
            log.warning("codestream teacher dashboard: could not %s", doing, exc_info=exc)

    def _forget_session_if_gone(self, exc: BaseException) -> None:
        if isinstance(exc, APIError) and exc.code == "session_not_found" and self.session_code:
            self._toast("warning", f"Session {self.session_code} no longer exists; start a new one.")
            self._session_over(self.session_code)

    def _session_over(self, code: str) -> None:
        """Forget the session ``code``; the full dashboard (teacher_state.py) also clears its key,
        join link, hands and rows."""
        if self.session_code == code:
            self.session_code = ""
