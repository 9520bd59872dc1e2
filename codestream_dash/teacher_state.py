"""The teacher dashboard's state: the live session and the work that keeps it current.

Everything here is ``param`` parameters and coroutines, so tests drive it without a browser;
``teacher.TeacherDashboard`` adds the view. The parts: teacher_publish.py (cells and switches),
teacher_events.py (the event stream), teacher_hands.py (hands, Show, download); this module
starts, resumes, rotates and ends the session.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import param

from jupyter_ext.clients import APIError

from .common import SERVER_URL_ENV, client_from_environment
from .teacher_events import EventsState
from .teacher_urls import PUBLIC_URL_ENV, SAME_MACHINE_ENV, advice_for, same_machine_note

STUDENT_REFRESH_MS = 5000
KEY_NOTICE = "New student key"


def key_in_link(join_link: str) -> str:
    """The student key in a laptop join link's fragment (``…/codestream/join/CODE#KEY``), or ""."""
    return join_link.partition("#")[2] if "/codestream/join/" in join_link else ""


class TeacherState(EventsState):
    """One teacher's dashboard session: its live Code Stream session and the chosen notebook."""

    title = param.String(default="", doc="Title of the next session (optional).")
    student_key = param.String(default="", doc="The session's student key (kept by the teacher's server).")
    students = param.Integer(default=0, doc="Student servers following the session.")
    join_link = param.String(default="", doc="The session's join link from the API (with the key when known).")
    server_url = param.String(default="", doc="The Jupyter server this dashboard belongs to.")
    public_url = param.String(default=None, allow_None=True, doc="URL students use, when not the server URL.")
    student_url = param.String(default="", doc="The URL students should enter.")
    reachability_warning = param.String(default="", doc="Why students cannot reach student_url, and the fix.")
    reachability_note = param.String(default="", doc="Who can reach student_url, when that is fine as it is.")
    students_on_this_machine = param.Boolean(default=False, doc="The students run on this computer (the demo).")
    loaded = param.Boolean(default=False, doc="The first load has finished: until then \"Start session\" "
                           "stays hidden, so a teacher cannot start a second session while the live one loads.")
    confirming = param.Selector(default="", objects=["", "end", "unpublish_all", "rotate"],
                                doc="An action that waits for the teacher's 'yes' (End session, Unpublish all,"
                                    " Rotate key).")
    confirm = param.Event(label="Yes, do it")
    cancel = param.Event(label="Cancel")

    start = param.Event(label="Start session")
    rotate = param.Event(label="Rotate key")
    end = param.Event(label="End session")
    publish_all_cells = param.Event(label="Publish all")
    unpublish_all_cells = param.Event(label="Unpublish all")
    reload = param.Event(label="Reload")

    def __init__(self, client, **params):
        super().__init__(client, **params)
        self._students_failing = False
        self._update_student_url()

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None):
        environ = os.environ if environ is None else environ
        return cls(client_from_environment(environ), server_url=environ.get(SERVER_URL_ENV, ""),
                   public_url=environ.get(PUBLIC_URL_ENV) or None,
                   students_on_this_machine=environ.get(SAME_MACHINE_ENV) == "1")

    # -- life cycle ---------------------------------------------------------------------------
    def _on_session_destroyed(self, _session_context) -> None:
        self._tasks.cancel_all()
        self._tasks.spawn(self.client.aclose(), name="close dashboard client")

    async def close(self) -> None:
        """Cancel background work and close the HTTP client (tests; the served app uses the hook)."""
        for task in self._tasks.cancel_all():
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        await self.client.aclose()

    async def load(self) -> None:
        """First load: the notebooks, and the newest live session (resumed after a reload of the tab
        or a restart of the server, with its join link: the teacher's server keeps the key)."""
        try:
            await self._load_newest_session()
        finally:
            self.loaded = True

    async def _load_newest_session(self) -> None:
        await self.refresh_notebooks()
        try:
            sessions = await self.client.list_sessions()
        except APIError as exc:
            self._report(exc, "list the live sessions")
            return
        if sessions and not self.session_code:
            newest = sessions[-1]
            path = newest.get("notebook_path")
            if path and path in self.param.notebook_path.objects:
                self.notebook_path = path
            self.param.update(title=newest.get("title") or "", students=int(newest.get("students", 0)),
                              hands_open=newest.get("hands_open", True) is not False)
            self.resumed(newest)
            link = newest.get("join_link") or ""
            await self._adopt_session(newest["code"], student_key=key_in_link(link), join_link=link)
        elif self.notebook_path:
            await self.refresh_cells()

    def resumed(self, session: Mapping) -> None:
        """A hook for what a resumed session carries besides the common fields (the hub's group)."""

    # -- URL students use ---------------------------------------------------------------------
    @param.depends("server_url", "public_url", "students_on_this_machine", watch=True)
    def _update_student_url(self):
        url, warning = advice_for(self.server_url, self.public_url)
        note = ""
        if warning and self.students_on_this_machine:
            warning, note = "", same_machine_note(url)  # a loopback server is right for them
        self.param.update(student_url=url, reachability_warning=warning, reachability_note=note)

    # -- session ------------------------------------------------------------------------------
    async def start_session(self) -> None:
        if self.session_code:
            self._toast("info", f"Session {self.session_code} is already running; end it to start another.")
            return
        try:
            created = await self.client.create_session(self.title, self.notebook_path)
        except APIError as exc:
            self._report(exc, "start a session")
            return
        self.hands_open = True
        await self._adopt_session(created["code"], created["student_key"], created.get("join_link", ""))
        self._toast("success", f"Session {created['code']} started.", duration=4000)

    async def _adopt_session(self, code: str, student_key: str, join_link: str = "") -> None:
        self.param.update(session_code=code, student_key=student_key, join_link=join_link, last_event_id=None)
        await self.refresh_cells()
        await self.refresh_hands()
        self._start_listener(code)

    async def rotate_key(self) -> None:
        if not self.session_code:
            return
        try:
            rotated = await self.client.rotate_key_with_link(self.session_code)
            self.param.update(student_key=rotated["student_key"], join_link=rotated.get("join_link", ""))
        except APIError as exc:
            self._report(exc, "rotate the student key")
            self._forget_session_if_gone(exc)
            return
        self._toast("success", f"{KEY_NOTICE}: students must join again with the new link or key.",
                    duration=4000)

    async def end_session(self) -> None:
        code = self.session_code
        if not code:
            return
        try:
            await self.client.end_session(code)
        except APIError as exc:
            if exc.code != "session_not_found":
                self._report(exc, "end the session")
                return
        self._session_over(code)
        self._toast("info", f"Session {code} ended.", duration=4000)

    def _session_over(self, code: str) -> None:
        if self.session_code != code:
            return
        self._stop_listener()
        # notices about the session (a new key, hands) mean nothing once it is over
        self.notices = [(kind, text) for kind, text in self.notices if kind == "error"]
        self.param.update(session_code="", student_key="", join_link="", students=0, other_published=0,
                          last_event_id=None, confirming="", hands=[], focus=None, lesson_file=None)
        self._own_writes.clear()
        for row in self.rows:
            row.show_published(None)

    async def refresh_students(self) -> None:
        """Student count (no event exists for it, so the served app refreshes it every few seconds)."""
        code = self.session_code
        if not code:
            return
        try:
            sessions = await self.client.list_sessions()
        except APIError as exc:
            if not self._students_failing:
                self._report(exc, "count the connected students")
            self._students_failing = True
            return
        self._students_failing = False
        mine = next((s for s in sessions if s["code"] == code), None)
        if mine is None:
            self._toast("warning", f"Session {code} has ended.")
            self._session_over(code)
        elif self.session_code == code:
            self.students = int(mine.get("students", 0))

    # -- button events (param.Event) -> background tasks --------------------------------------
    @param.depends("start", watch=True)
    def _on_start(self):
        self._spawn(self.start_session(), name="start session")

    @param.depends("rotate", watch=True)
    def _on_rotate(self):
        if self.session_code:
            self.confirming = "rotate"  # every student must join again: only for a leaked key

    @param.depends("end", watch=True)
    def _on_end(self):
        if self.session_code:
            self.confirming = "end"  # ending a class's session takes a second, explicit "yes"

    @param.depends("confirm", watch=True)
    def _on_confirm(self):
        action, self.confirming = self.confirming, ""
        if action == "end":
            self._spawn(self.end_session(), name="end session")
        elif action == "unpublish_all":
            self._spawn(self.unpublish_all(), name="unpublish all")
        elif action == "rotate":
            self._spawn(self.rotate_key(), name="rotate key")

    @param.depends("cancel", watch=True)
    def _on_cancel(self):
        self.confirming = ""

    @param.depends("publish_all_cells", watch=True)
    def _on_publish_all(self):
        self._spawn(self.publish_all(), name="publish all")

    @param.depends("unpublish_all_cells", watch=True)
    def _on_unpublish_all(self):
        if self.session_code:
            self.confirming = "unpublish_all"

    @param.depends("reload", watch=True)
    def _on_reload(self):
        async def reload():
            await self.refresh_notebooks()
            await self.refresh_cells()
        self._spawn(reload(), name="reload")
