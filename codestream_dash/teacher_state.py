"""The teacher dashboard's state: the live session, the chosen notebook's cells, and the work
that keeps them current (REST calls to its own Jupyter server, the session's event stream).

Everything here is ``param`` parameters and coroutines, so tests drive it without a browser;
``teacher.TeacherDashboard`` adds the view. Publish-on-save happens in the server; the state
learns of new versions from the session's event stream and then re-reads notebook and cells.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping

import param

from jupyter_ext.clients import APIError, ServerClient
from jupyter_ext.domain.events import CELL_EVENTS, EVENT_SESSION_ENDED

from .common import (
    SERVER_URL_ENV,
    BackgroundTasks,
    cell_source,
    client_from_environment,
    describe_error,
    escape,
    notify,
)
from .teacher_cells import CellRow
from .teacher_urls import PUBLIC_URL_ENV, SAME_MACHINE_ENV, advice_for, same_machine_note

log = logging.getLogger(__name__)

PULLED_EVENT = "pulled"  # a student's server pulled a cell: the counts in the list moved
STUDENT_REFRESH_MS = 5000
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0
BULK_CONCURRENCY = 8
# A 503 store_unavailable (Redis restarting, a Redis Cluster failover: a few seconds) is sent
# again after these waits; publishing the same cell again is safe (same source, same version).
STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)


def toast(kind: str, message: str, duration: int = 8000) -> None:
    """A toast of plain text: notification messages are HTML, and ours quote file names."""
    notify(kind, escape(message), duration)


class TeacherState(param.Parameterized):
    """One teacher's dashboard session: its live Code Stream session and the chosen notebook."""

    title = param.String(default="", doc="Title of the next session (optional).")
    session_code = param.String(default="", doc="Code of the live session; empty when there is none.")
    student_key = param.String(
        default="", doc="The session's student key; empty for a resumed session until the key is rotated.")
    students = param.Integer(default=0, doc="Student servers following the session.")
    join_link = param.String(default="", doc="The session's join link from the API (with the key when known).")
    server_url = param.String(default="", doc="The Jupyter server this dashboard belongs to.")
    public_url = param.String(default=None, allow_None=True, doc="URL students use, when not the server URL.")
    student_url = param.String(default="", doc="The URL students should enter.")
    reachability_warning = param.String(default="", doc="Why students cannot reach student_url, and the fix.")
    reachability_note = param.String(default="", doc="Who can reach student_url, when that is fine as it is.")
    students_on_this_machine = param.Boolean(default=False, doc="The students run on this computer (the demo).")
    notebook_path = param.Selector(default=None, objects=[], allow_None=True, doc="The notebook shown.")
    rows = param.List(default=[], item_type=CellRow, doc="The notebook's cells, in notebook order.")
    other_published = param.Integer(default=0, doc="Published cells of this session from other notebooks.")
    busy = param.Boolean(default=False, doc="A bulk publish/unpublish is running.")
    progress = param.Integer(default=0)
    progress_total = param.Integer(default=0)
    last_error = param.String(default="", doc="The last error shown as a notice.")
    notices = param.List(default=[], doc="Messages shown in this session, oldest first: (kind, text).")
    confirming = param.Selector(default="", objects=["", "end", "unpublish_all"],
                                doc="An action that waits for the teacher's 'yes' (End session, Unpublish all).")
    confirm = param.Event(label="Yes, do it")
    cancel = param.Event(label="Cancel")
    last_event_id = param.String(default=None, allow_None=True, doc="Where the event stream resumes.")

    start = param.Event(label="Start session")
    rotate = param.Event(label="Rotate key")
    end = param.Event(label="End session")
    publish_all_cells = param.Event(label="Publish all")
    unpublish_all_cells = param.Event(label="Unpublish all")
    reload = param.Event(label="Reload")

    def __init__(self, client: ServerClient, **params):
        super().__init__(**params)
        self.client = client
        self._tasks = BackgroundTasks()
        self._rows_by_id: dict[str, CellRow] = {}
        self._listener: asyncio.Task | None = None
        self._refresh_task: asyncio.Task | None = None
        self._refresh_again = False
        self._refresh_after_bulk = False
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

    async def settle(self) -> None:
        """Wait for the one-shot work started by parameter changes (not for the event listener)."""
        await self._tasks.settle(exclude={self._listener} if self._listener else None)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        return self._tasks.spawn(coro, name=name)

    def _toast(self, kind: str, message: str, duration: int = 8000) -> None:
        """A notice in the page (and the log); ``message`` is plain text."""
        self.notices = [*self.notices[-19:], (kind, message)]
        toast(kind, message, duration)

    def _report(self, exc: BaseException, doing: str) -> None:
        message = describe_error(exc, doing)
        self.last_error = message
        self._toast("error", message)
        if not isinstance(exc, APIError):
            log.warning("codestream teacher dashboard: could not %s", doing, exc_info=exc)

    async def load(self) -> None:
        """First load: the notebooks, and the newest live session (resumed after a reload of the tab)."""
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
            self.param.update(title=newest.get("title") or "", students=int(newest.get("students", 0)))
            await self._adopt_session(newest["code"], student_key="", join_link=newest.get("join_link", ""))
        elif self.notebook_path:
            await self.refresh_cells()

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
        await self._adopt_session(created["code"], created["student_key"], created.get("join_link", ""))
        self._toast("success", f"Session {created['code']} started.", duration=4000)

    async def _adopt_session(self, code: str, student_key: str, join_link: str = "") -> None:
        self.param.update(session_code=code, student_key=student_key, join_link=join_link, last_event_id=None)
        await self.refresh_cells()
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
        self._toast("success", "New student key: students must enter it again.", duration=4000)

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
        self.param.update(session_code="", student_key="", join_link="", students=0, other_published=0,
                          last_event_id=None, confirming="")
        for row in self.rows:
            row.show_published(None)

    def _forget_session_if_gone(self, exc: BaseException) -> None:
        if isinstance(exc, APIError) and exc.code == "session_not_found" and self.session_code:
            self._toast("warning", f"Session {self.session_code} no longer exists; start a new one.")
            self._session_over(self.session_code)

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

    # -- notebooks and cells ------------------------------------------------------------------
    async def refresh_notebooks(self) -> None:
        try:
            paths = await self.client.list_notebooks()
        except APIError as exc:
            self._report(exc, "list the notebooks")
            return
        current = self.notebook_path
        self.param.notebook_path.objects = paths
        if current not in paths:
            self.notebook_path = paths[0] if paths and current is None else None

    @param.depends("notebook_path", watch=True)
    def _on_notebook_chosen(self):
        self.request_refresh()

    def request_refresh(self) -> None:
        """Re-read notebook and cells soon; requests made during a refresh coalesce into one more,
        and those made during a bulk publish wait for its end (it knows every new version)."""
        if self.busy:
            self._refresh_after_bulk = True
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            return
        self._refresh_task = self._spawn(self._refresh_until_current(), name="refresh cells")

    async def _refresh_until_current(self) -> None:
        while True:
            self._refresh_again = False
            await self.refresh_cells()
            if not self._refresh_again:
                return

    async def refresh_cells(self) -> bool:
        """Re-read the saved notebook and the session's published cells; update every row.

        False when that failed (the teacher got a toast saying why).
        """
        path, code = self.notebook_path, self.session_code
        notebook_cells = await self._read_notebook(path) if path else []
        if notebook_cells is None:
            return False
        published: dict[str, dict] = {}
        if code:
            try:
                listing = await self.client.session_cells(code)
            except APIError as exc:
                self._report(exc, "read the published cells")
                self._forget_session_if_gone(exc)
                return False
            published = {cell["cell_id"]: cell for cell in listing["cells"]}
            if self.last_event_id is None:
                self.last_event_id = listing.get("last_event_id")
        if path != self.notebook_path or code != self.session_code:
            return True  # the teacher switched meanwhile; that switch asked for its own refresh
        self._apply(notebook_cells, published)
        return True

    async def _read_notebook(self, path: str) -> list[dict] | None:
        try:
            model = await self.client.get_notebook(path)
        except APIError as exc:
            if exc.status == 404:
                message = (f"The notebook {path} is gone (deleted, moved or renamed). "
                           "Pick it again from the list once it is back, or pick another one.")
                self.last_error = message
                self._toast("error", message)
                self._rows_by_id.clear()
                self.rows = []
                await self.refresh_notebooks()
            else:
                self._report(exc, f"read {path}")
            return None
        return (model.get("content") or {}).get("cells") or []

    def _apply(self, notebook_cells: list[dict], published: dict[str, dict]) -> None:
        rows, seen = [], set()
        for index, cell in enumerate(notebook_cells):
            cell_id = cell.get("id") or ""
            if cell_id in seen:
                cell_id = ""  # a duplicated id cannot be published reliably
            seen.add(cell_id)
            key = cell_id or f"#{index}"
            row = self._rows_by_id.get(key)
            shown = {"index": index, "cell_type": cell.get("cell_type", "code"), "source": cell_source(cell),
                     "outputs": [dict(o) for o in cell.get("outputs") or []] if cell.get("cell_type") == "code" else []}
            if row is None:
                row = CellRow(cell_id=cell_id, **shown)
                self._watch_row(row)
                self._rows_by_id[key] = row
            else:
                row.param.update(**shown)
            row.show_published(published.get(cell_id) if cell_id else None)
            rows.append(row)
        shown = {row.cell_id for row in rows}
        self.other_published = sum(1 for cell_id in published if cell_id not in shown)
        kept = {id(row) for row in rows}
        for key in [k for k, row in self._rows_by_id.items() if id(row) not in kept]:
            del self._rows_by_id[key]
        if len(rows) != len(self.rows) or any(a is not b for a, b in zip(rows, self.rows)):
            self.rows = rows

    def row(self, cell_id: str) -> CellRow:
        return self._rows_by_id[cell_id]

    def _watch_row(self, row: CellRow) -> None:
        """A new row: its switch publishes, its output choice republishes (the view adds its own watcher)."""
        row.param.watch(self._on_switch, "published")
        row.param.watch(self._on_output_choice, "with_outputs")

    def _on_output_choice(self, event: param.parameterized.Event) -> None:
        row: CellRow = event.obj
        if event.new == (row.published_outputs is not None):
            return  # the server already agrees (the choice followed a refresh)
        if row.is_published:
            self._spawn(self.set_published(row.cell_id, True, with_outputs=event.new),
                        name=f"output choice {row.cell_id}")

    # -- publishing ---------------------------------------------------------------------------
    def _on_switch(self, event: param.parameterized.Event) -> None:
        row: CellRow = event.obj
        if event.new == row.is_published:
            return  # the server already agrees (e.g. the switch followed a refresh)
        self._spawn(self.set_published(row.cell_id, event.new), name=f"switch {row.cell_id}")

    async def set_published(self, cell_id: str, publish: bool, *, with_outputs: bool | None = None) -> None:
        """The switch of one cell: publish its saved source, or unpublish it."""
        row = self._rows_by_id.get(cell_id)
        if row is None:
            return
        if not self.session_code:
            self._toast("warning", "Start a session first: students can only get cells of a live session.")
            row.published = row.is_published
            return
        if not row.cell_id:
            self._toast("warning", "This cell has no id; save the notebook in JupyterLab 4 to give it one.")
            row.published = row.is_published
            return
        if publish:
            # the file may have been saved since we read it (saves of unpublished cells send no event)
            fresh = await self.refresh_cells()
            row = self._rows_by_id.get(cell_id)
            if row is None:
                return
            if not fresh:
                row.published = row.is_published
                return
        try:
            await self._publish_one(row, publish, with_outputs)
        except APIError as exc:
            self._report(exc, f"{'publish' if publish else 'unpublish'} Cell {row.number}")
            row.published = row.is_published
            self._forget_session_if_gone(exc)

    async def _publish_one(self, row: CellRow, publish: bool, with_outputs: bool | None = None) -> None:
        """``_publish_once``, sent again while the teacher's Redis is briefly unavailable."""
        for delay in (*STORE_RETRY_DELAYS, None):
            try:
                return await self._publish_once(row, publish, with_outputs)
            except APIError as exc:
                if exc.code != "store_unavailable" or delay is None:
                    raise
                log.info("codestream teacher dashboard: Redis unavailable; sending Cell %s again in %.1f s",
                         row.number, delay)
                await asyncio.sleep(delay)

    async def _publish_once(self, row: CellRow, publish: bool, with_outputs: bool | None = None) -> None:
        """``with_outputs`` (the teacher's new choice) wins over the row's, which a refresh reset."""
        code = self.session_code
        if publish:
            source, cell_type = row.source, row.cell_type
            outputs = row.outputs_to_publish if with_outputs is None else row.outputs_for(with_outputs)
            result = await self.client.publish_cell(code, row.cell_id, source, cell_type, float(row.index),
                                                    notebook_path=self.notebook_path, number=row.number,
                                                    outputs=outputs)
            published = {"version": result["version"], "source": source, "cell_type": cell_type}
            if outputs is not None:
                published["outputs"] = outputs
            row.show_published(published)
        else:
            try:
                await self.client.unpublish_cell(code, row.cell_id)
            except APIError as exc:
                if exc.code != "cell_not_found":
                    raise
            row.show_published(None)

    async def publish_all(self) -> None:
        await self._bulk(True)

    async def unpublish_all(self) -> None:
        await self._bulk(False)

    async def _bulk(self, publish: bool) -> None:
        """Publish (or unpublish) every cell of the notebook, a few requests at a time, with progress."""
        if not self.session_code:
            self._toast("warning", "Start a session first.")
            return
        if self.busy:
            return
        self.busy = True
        try:
            if publish and not await self.refresh_cells():
                return
            todo = [r for r in self.rows if r.cell_id and (r.changed or r.is_published != publish)]
            self.param.update(progress=0, progress_total=len(todo))
            gate = asyncio.Semaphore(BULK_CONCURRENCY)
            failures: list[BaseException] = []

            async def one(row: CellRow):
                async with gate:
                    if failures:
                        return
                    try:
                        await self._publish_one(row, publish)
                    except APIError as exc:
                        failures.append(exc)
                    self.progress += 1

            await asyncio.gather(*(one(row) for row in todo))
            if failures:
                self._report(failures[0], "publish all cells" if publish else "unpublish all cells")
                self._forget_session_if_gone(failures[0])
                await self.refresh_cells()
            elif todo:
                self._toast("success", f"{len(todo)} cell{'s' if len(todo) != 1 else ''} "
                                  f"{'published' if publish else 'unpublished'}.", duration=3000)
        finally:
            self.busy = False
            if self._refresh_after_bulk:
                self._refresh_after_bulk = False
                self.request_refresh()

    # -- the session's event stream -------------------------------------------------------------
    def _start_listener(self, code: str) -> None:
        self._stop_listener()
        self._listener = self._spawn(self._listen(code), name=f"events {code}")

    def _stop_listener(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            self._listener = None

    async def _listen(self, code: str) -> None:
        """Follow the session's events; reconnect (resuming from the last id) until it ends."""
        failures, reported = 0, False
        while self.session_code == code:
            try:
                async for event in self.client.events(f"codestream/api/sessions/{code}/events",
                                                      last_event_id=self.last_event_id):
                    failures = 0
                    if reported:
                        reported = False
                        self._toast("success", "Following the session's events again.", duration=3000)
                    if event.id:
                        self.last_event_id = event.id
                    if event.event == EVENT_SESSION_ENDED:
                        self._session_over(code)
                        return
                    if event.event in CELL_EVENTS or event.event == PULLED_EVENT:
                        self.request_refresh()
            except APIError as exc:
                if exc.code == "session_not_found":
                    self._forget_session_if_gone(exc)
                    return
                if not reported:
                    self._report(exc, "follow the session's events (retrying)")
                    reported = True
            if self.session_code != code:
                return
            failures += 1
            await asyncio.sleep(min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** min(failures, 8)))
            self.request_refresh()  # resync: events older than the kept replay cannot be replayed

    # -- button events (param.Event) -> background tasks --------------------------------------
    @param.depends("start", watch=True)
    def _on_start(self):
        self._spawn(self.start_session(), name="start session")

    @param.depends("rotate", watch=True)
    def _on_rotate(self):
        self._spawn(self.rotate_key(), name="rotate key")

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
