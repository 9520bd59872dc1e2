"""The student dashboard: connect to a teacher, watch the feed of published cells, pull them.

A ``pn.viewable.Viewer`` whose whole state is ``param`` parameters, so tests drive it
without a browser. It is a client of the student's own Jupyter server only: the contract's
student routes (config, test, cells, event relay, pull) and the contents/sessions API.
The feed follows the relay's event stream (``GET codestream/api/student/events``) in one
asyncio task kept on the dashboard; it resumes with ``Last-Event-ID`` after a drop and
drives the connection light.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape

import panel as pn
import param

from jupyter_ext.clients import APIError, ServerClient
from jupyter_ext.domain.events import (
    CELL_EVENTS,
    EVENT_PUBLISHED,
    EVENT_SESSION_ENDED,
    EVENT_UPDATED,
    TEACHER_REACHABLE,
    TEACHER_STREAM_REFUSED,
    TEACHER_UNREACHABLE,
)

from .common import FOCUS_CSS, BackgroundTasks, client_from_environment, notify, with_focus_ring
from .student_model import (
    END, END_LABEL, UPDATED, WITHDRAWN, PulledCopy, cell_label, cell_status, newest_copy, notebook_options,
    plain_error, position_options, pull_summary, pulled_copies, snippet, source_diff, withdrawn_cells,
)
from .notices import NOTICES_CSS, notices_html
from .outputs_render import OUTPUTS_CSS, outputs_html
from .student_render import (
    LIGHTS, badge_html, cell_preview_html, diff_html, feed_item_html, light_html, message_html,
)

log = logging.getLogger(__name__)

EVENTS_PATH = "codestream/api/student/events"
# After these the relay will refuse again until the student saves a different configuration.
NEEDS_NEW_CONFIG = frozenset({"not_configured", "unauthorized", "session_not_found", "invalid_url",
                              "invalid_session_code", "forbidden"})
RETRY_SECONDS = (0.5, 1, 2, 4, 8, 15)


class StudentDashboard(pn.viewable.Viewer):
    """One browser session's student dashboard (every widget is built in ``__panel__``)."""

    # -- connection form ------------------------------------------------------------------
    teacher_url = param.String(default="", label="Teacher's server",
                               doc="Address of the teacher's Jupyter server, e.g. http://10.0.0.5:8888/")
    session_code = param.String(default="", label="Session code", doc="Six characters, as the teacher shows them.")
    student_key = param.String(default="", label="Session key",
                               doc="Sent once to your own Jupyter server on Save, then cleared here.")
    join_link = param.String(default="", label="Join link",
                             doc="The link your teacher shows (or the QR code's); it holds address, code and key.")
    join = param.Event(label="Join")
    saved_teacher_url = param.String(default="", doc="The teacher URL your server holds (what Test tests).")
    saved_session_code = param.String(default="", doc="The session code your server holds.")
    has_key = param.Boolean(default=False, doc="Your server holds a key for this session.")
    configured = param.Boolean(default=False, doc="Your server has a saved teacher configuration.")
    save = param.Event(label="Save")
    test = param.Event(label="Test connection")
    form_message = param.String(default="", doc="What Save or Test connection found.")
    form_ok = param.Boolean(default=None, allow_None=True)

    # -- connection light -----------------------------------------------------------------
    connection = param.Selector(default="not_configured", objects=list(LIGHTS),
                                doc="State of the event relay: connected / reconnecting / error …")
    connection_message = param.String(default="")

    # -- feed -----------------------------------------------------------------------------
    session_title = param.String(default="")
    cells = param.List(default=[], item_type=dict, doc="The teacher's published cells, in the teacher's order.")
    copies = param.Dict(default={}, doc="Pulled copies in the target notebook, per teacher cell id.")
    selected_cell_id = param.String(default=None, allow_None=True, doc="The cell being previewed.")
    notices = param.List(default=[], doc="Toasts shown in this session, oldest first: (kind, message).")

    # -- pull -----------------------------------------------------------------------------
    target_notebook = param.Selector(default=None, objects=[], allow_None=True, label="Pull into",
                                     doc="Notebooks open in JupyterLab first, then the others.")
    position = param.Selector(default=END, objects={END_LABEL: END}, label="Where")
    with_outputs = param.Boolean(default=False, label="Also insert the teacher's output",
                                 doc="Pull the cell with the outputs the teacher published (when there are any).")
    pull = param.Event(label="Pull this cell")
    refresh = param.Event(label="Refresh")
    pull_message = param.String(default="")
    pull_ok = param.Boolean(default=None, allow_None=True)
    busy = param.Boolean(default=False, doc="A save, test or pull is under way.")

    def __init__(self, client: ServerClient, **params):
        super().__init__(**params)
        self.client = client
        self._tasks = BackgroundTasks()
        self._listener: asyncio.Task | None = None
        self._config_changed = asyncio.Event()
        self._last_event_id: str | None = None
        self._pulled_here: dict[tuple[str, str], int] = {}  # (notebook, cell_id) -> version
        self._numbers: dict[str, int] = {}  # teacher cell id -> "Cell n", kept after a withdrawal
        self._reached_teacher = False  # the teacher answered since this configuration was saved

    @classmethod
    def from_environment(cls, **params) -> StudentDashboard:
        """The dashboard of the Jupyter server that launched it (URL and token from the launcher)."""
        return cls(client_from_environment(), **params)

    # -- life cycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Load configuration, notebooks and feed, then follow the event relay."""
        await self.load()
        if self._listener is None:
            self._listener = self._tasks.spawn(self._listen(), name="codestream-student-events")

    def attach_to_served_session(self) -> None:
        """Start with the page (after it has loaded) and stop with the browser session."""
        pn.state.onload(self.start)
        pn.state.on_session_destroyed(self.on_session_destroyed)

    def on_session_destroyed(self, session_context) -> None:
        """``pn.state.on_session_destroyed`` callback (Bokeh insists on this exact signature)."""
        self.stop()

    def stop(self) -> None:
        """Cancel every task of this session; the listener closes the client on its way out."""
        self._tasks.cancel_all()
        if self._listener is None or self._listener.done():
            self._tasks.spawn(self.client.aclose(), name="codestream-student-close")

    async def aclose(self) -> None:
        """Stop and wait until everything is closed (tests, and anything that can await)."""
        tasks = self._tasks.cancel_all()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.client.aclose()

    async def settle(self) -> None:
        """Wait for one-shot work (saves, pulls, refreshes) started by widgets; not the listener."""
        await self._tasks.settle(exclude={self._listener} if self._listener else None)

    async def load(self) -> None:
        try:
            config = await self.client.student_config()
        except APIError as exc:  # e.g. the launcher's token is no longer accepted
            self.param.update(connection="error", connection_message=self._plain(exc.code, exc.message))
            return
        self._apply_config(config)
        await self.refresh_notebooks()
        if self.configured:
            await self.refresh_cells(resync=True)

    def _apply_config(self, config: dict | None) -> None:
        if not config:
            self.param.update(configured=False, has_key=False, connection="not_configured",
                              connection_message=plain_error("not_configured"))
            return
        url, code = config.get("teacher_url", "") or "", config.get("session_code", "") or ""
        if (url, code) != (self.saved_teacher_url, self.saved_session_code):
            self._reached_teacher = False  # another teacher or session: not reached yet
        self.param.update(teacher_url=url, session_code=code, saved_teacher_url=url, saved_session_code=code,
                          has_key=bool(config.get("has_key")), configured=True)

    # -- actions (widgets fire the Events; each runs as a kept background task) ----------
    @param.depends("save", watch=True)
    def _on_save(self):
        self._tasks.spawn(self.save_config(), name="codestream-student-save")

    @param.depends("join", watch=True)
    def _on_join(self):
        self._tasks.spawn(self.join_session(), name="codestream-student-join")

    @param.depends("test", watch=True)
    def _on_test(self):
        self._tasks.spawn(self.test_connection(), name="codestream-student-test")

    @param.depends("pull", watch=True)
    def _on_pull(self):
        self._tasks.spawn(self.pull_selected(), name="codestream-student-pull")

    @param.depends("refresh", watch=True)
    def _on_refresh(self):
        self._tasks.spawn(self.refresh_all(), name="codestream-student-refresh")

    @param.depends("target_notebook", watch=True)
    def _on_target(self):
        self._tasks.spawn(self.refresh_target(), name="codestream-student-target")

    @param.depends("selected_cell_id", watch=True)
    def _on_select(self):
        # a new choice starts from the default place (an update: right after the student's copy)
        self.param.update(position=END, pull_message="", pull_ok=None)
        # re-read the notebook so the diff shows the student's latest saved edits
        if self.selected_cell_id and self.target_notebook:
            self._tasks.spawn(self.refresh_target(), name="codestream-student-select")

    async def save_config(self) -> bool:
        """Send URL, code and (if typed) key to the student's own server; the key is then forgotten here."""
        return await self._save(self.client.save_student_config(
            self.teacher_url.strip(), self.session_code.strip(), self.student_key or None))

    async def join_session(self) -> bool:
        """The pasted join link goes to the student's own server, which takes URL, code and key from it."""
        if not self.join_link.strip():
            self.param.update(form_ok=False, form_message="Paste the join link your teacher shows first.")
            return False
        joined = await self._save(self.client.join_with_link(self.join_link.strip()))
        if joined:
            self.join_link = ""  # it holds the key: gone from the page once the server has it
        return joined

    async def _save(self, request) -> bool:
        self.busy = True
        try:
            saved = await request
        except APIError as exc:
            # the message names what was typed and refused; the saved configuration is unchanged
            self.param.update(form_ok=False, form_message=plain_error(
                exc.code, exc.message, url=self.teacher_url, session_code=self.session_code))
            return False
        finally:
            self.busy = False
        previous = (self.configured, self.saved_session_code.upper())
        self.student_key = ""
        self._apply_config(saved)
        self.param.update(form_ok=True, form_message="Saved. Use Test connection to check it.")
        if previous != (True, self.saved_session_code.upper()):
            self._last_event_id = None  # another session: its events start afresh
        self._config_changed.set()
        await self.refresh_cells(resync=True)
        return True

    async def test_connection(self) -> bool:
        self.busy = True
        try:
            result = await self.client.test_connection()
        except APIError as exc:
            self.param.update(form_ok=False, form_message=self._plain(exc.code, exc.message))
            return False
        finally:
            self.busy = False
        if result.get("ok"):
            count = int(result.get("cells", 0))
            self._reached_teacher = True
            self.param.update(form_ok=True, form_message=(
                f"Connected to session {self.saved_session_code} at {self.saved_teacher_url}: {count}"
                f" cell{'s' if count != 1 else ''} published."))
            return True
        error = result.get("error") or {}
        self.param.update(form_ok=False, form_message=self._plain(error.get("code", ""), error.get("message", "")))
        return False

    async def refresh_all(self) -> None:
        await self.refresh_notebooks()
        if self.configured:
            await self.refresh_cells()
        await self.refresh_target()

    async def refresh_cells(self, resync: bool = False) -> None:
        """The teacher's cell list through the student route (after an event, or to resync)."""
        listing = await self._fetch_cells()
        if listing is not None:
            self._apply_cells(listing, resync)

    async def refresh_feed(self) -> None:
        """Cells and the student's notebook read together, the notebook applied first: the diff
        of an updated cell compares with the student's copy as saved now, from its first render."""
        listing, target = await asyncio.gather(self._fetch_cells(), self._read_target())
        self._apply_target(*target)
        if listing is not None:
            self._apply_cells(listing)

    async def _fetch_cells(self) -> dict | None:
        try:
            listing = await self.client.student_cells()
        except APIError as exc:
            if exc.code in NEEDS_NEW_CONFIG:
                self.param.update(connection="error", connection_message=self._plain(exc.code, exc.message))
            elif exc.code in ("unreachable", "timeout") and not self._reached_teacher:
                self._show_unreachable()
            log.info("codestream student: cell list failed: %s", exc.code)
            return None
        self._reached_teacher = True
        return listing

    def _apply_cells(self, listing: dict, resync: bool = False) -> None:
        if resync and self._last_event_id is None and listing.get("last_event_id"):
            self._last_event_id = str(listing["last_event_id"])  # the stream resumes right after this list
        cells = list(listing.get("cells") or [])
        self._numbers.update({c.get("cell_id"): c.get("number") for c in cells if c.get("number")})
        before = self.selected_cell
        after = next((c for c in cells if c.get("cell_id") == self.selected_cell_id), None)
        self.param.update(cells=cells, session_title=listing.get("title") or "",
                          selected_cell_id=self.selected_cell_id if after else None)
        if before and after and before.get("version") != after.get("version"):
            # a new version of the cell on show: its default place is right after the student's copy
            self.param.update(position=END, pull_message="", pull_ok=None)

    async def refresh_notebooks(self) -> None:
        try:
            open_paths = await self.client.open_notebook_paths()
        except APIError:
            open_paths = []
        try:
            all_paths = await self.client.list_notebooks()
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Could not list your notebooks: {exc.message}")
            return
        options = notebook_options(open_paths, all_paths)
        current = self.target_notebook
        self.param.target_notebook.objects = options
        choice = current if current in options.values() else next(iter(options.values()), None)
        if choice != current:
            self.target_notebook = choice

    async def refresh_target(self) -> None:
        """Read the target notebook through the contents API: pulled copies and the positions."""
        self._apply_target(*await self._read_target())

    async def _read_target(self) -> tuple[str | None, dict | None]:
        """``(path, notebook content)``; content None when there is no notebook or it failed."""
        path = self.target_notebook
        if not path:
            return None, None
        try:
            model = await self.client.get_notebook(path)
        except APIError as exc:
            if path == self.target_notebook:
                self.param.update(copies={}, pull_ok=False, pull_message=f"Could not read {path}: {exc.message}")
            return path, None
        return path, model.get("content") or {}

    def _apply_target(self, path: str | None, content: dict | None) -> None:
        if path != self.target_notebook:  # the student chose another notebook meanwhile
            return
        if path is None:
            self.param.update(copies={})
            self._set_positions(None)
            return
        if content is None:
            return
        self._set_positions(content)
        copies = pulled_copies(content, self.session_code)
        if copies != self.copies:  # param cannot compare PulledCopy: an equal value would redraw the feed
            self.copies = copies

    def _set_positions(self, content: dict | None) -> None:
        options = position_options(content)
        current = self.position
        self.param.position.objects = options
        self.position = current if current in options.values() else END

    async def pull_selected(self) -> dict | None:
        """Pull the previewed cell into the chosen notebook at the chosen position (never overwrites)."""
        cell, path = self.selected_cell, self.target_notebook
        if cell is None or not path:
            self.param.update(pull_ok=False, pull_message="Choose a cell in the feed and a notebook first.")
            return None
        self.busy = True
        try:
            result = await self.client.pull(cell["cell_id"], path, self.position or END,
                                            with_outputs=self.with_outputs and bool(cell.get("outputs")))
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Pull failed: {self._plain(exc.code, exc.message)}")
            return None
        finally:
            self.busy = False
        self._pulled_here[(path, cell["cell_id"])] = int(result.get("version", cell.get("version", 1)))
        message = pull_summary(cell, result)
        self.param.update(pull_ok=True, pull_message=message)
        self._toast("success", message)
        before = self.copies
        await self.refresh_target()
        if self.copies is before:
            # a live pull reaches the file only when the collaboration room saves it: redraw the badges now
            self.param.trigger("copies")
        return result

    # -- derived state (what the views show; tests read it too) ---------------------------
    def _selected_has_outputs(self, *_deps) -> bool:
        cell = self.selected_cell
        return bool(cell and cell.get("outputs"))

    @property
    def selected_cell(self) -> dict | None:
        return next((c for c in self.cells if c.get("cell_id") == self.selected_cell_id), None)

    def status_of(self, cell: dict) -> str:
        copies = list(self.copies.get(cell.get("cell_id"), []))
        known = self._pulled_here.get((self.target_notebook, cell.get("cell_id")))
        if known is not None and all(c.version < known for c in copies):
            # pulled live a moment ago: the file on disk catches up when the document is saved
            copies.append(PulledCopy(cell["cell_id"], known, "", -1, None))
        return cell_status(cell, copies)

    def feed(self) -> list[tuple[dict, str]]:
        """``(cell, status)`` for every published cell, in the teacher's order, then what the
        student pulled of cells the teacher has withdrawn since."""
        published = [(cell, self.status_of(cell)) for cell in self.cells]
        return published + [(cell, WITHDRAWN) for cell in withdrawn_cells(self.cells, self.copies)]

    def selected_diff(self) -> str | None:
        """For an updated cell: diff from the student's copy (with edits) to the teacher's version."""
        cell = self.selected_cell
        if cell is None or self.status_of(cell) != UPDATED:
            return None
        copy = newest_copy(self.copies.get(cell["cell_id"]))
        if copy is None:
            return None
        return source_diff(copy.source, cell.get("source", ""), version_from=copy.version,
                           version_to=int(cell.get("version", 1)))

    # -- the event relay ------------------------------------------------------------------
    async def _listen(self) -> None:
        """Follow the relay for the dashboard's lifetime; reconnect with Last-Event-ID after a drop."""
        failures = 0
        try:
            while True:
                if not self.configured:
                    if self.connection != "error":
                        self.connection = "not_configured"
                    await self._wait_for_config()
                    failures = 0
                    continue
                self._config_changed.clear()
                self.connection = "connecting" if failures == 0 else "reconnecting"
                try:
                    async for event in self.client.events(EVENTS_PATH, self._last_event_id,
                                                          on_open=self._stream_opened,
                                                          on_comment=self._relay_comment):
                        failures = 0
                        await self._handle_event(event)
                        if event.event == EVENT_SESSION_ENDED:
                            break
                    if self.connection == "error":  # the session ended: wait for a new configuration
                        await self._wait_for_config()
                        continue
                    problem, problem_code = "The connection to the teacher closed; reconnecting.", ""
                except APIError as exc:
                    problem, problem_code = self._plain(exc.code, exc.message), exc.code
                    if exc.code in NEEDS_NEW_CONFIG:
                        self.param.update(connection="error", connection_message=problem)
                        await self._wait_for_config(timeout=RETRY_SECONDS[-1])
                        continue
                failures += 1
                never = not self._reached_teacher and problem_code in ("unreachable", "timeout")
                self.param.update(connection="unreachable" if never else "reconnecting", connection_message=problem)
                await self._wait_for_config(timeout=RETRY_SECONDS[min(failures, len(RETRY_SECONDS)) - 1])
        finally:
            await self.client.aclose()

    async def _wait_for_config(self, timeout: float | None = None) -> None:
        """Sleep until the configuration changes (or ``timeout`` passes)."""
        try:
            await asyncio.wait_for(self._config_changed.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _stream_opened(self) -> None:
        self.param.update(connection="connected", connection_message=(
            f"Following session {self.session_code}" + (f": {self.session_title}" if self.session_title else "")))
        # Last-Event-ID replays what the relay still has; the list catches up on anything else
        self._tasks.spawn(self.refresh_cells(), name="codestream-student-resync")

    def _relay_comment(self, text: str) -> None:
        """The student server's relay says when the teacher stops and starts answering: the
        stream to the student's own server stays open meanwhile, so only it can tell."""
        if text == TEACHER_UNREACHABLE:
            self._show_unreachable()
        elif text == TEACHER_REACHABLE:
            self._reached_teacher = True
            self._stream_opened()
        elif text.startswith(TEACHER_STREAM_REFUSED):  # the reason follows: show it as it is
            self.param.update(connection="reconnecting", connection_message=(
                text[len(TEACHER_STREAM_REFUSED):].strip() + " Retrying."))

    def _show_unreachable(self) -> None:
        """Never reached since this configuration: "cannot reach"; lost after it answered: "reconnecting"."""
        state = "reconnecting" if self._reached_teacher else "unreachable"
        self.param.update(connection=state, connection_message=(
            self._plain("unreachable", "") + " Retrying; new cells arrive when it answers again."))

    async def _handle_event(self, event) -> None:
        if event.id:
            self._last_event_id = event.id
        try:
            data = event.json()
        except ValueError:
            data = {}
        if event.event in CELL_EVENTS:
            cell_id = str(data.get("cell_id", ""))
            known = {"number": data.get("number") or self._numbers.get(cell_id)}
            await self.refresh_feed()  # badge and diff start from the student's copy as saved now
            cell = next((c for c in self.cells if c.get("cell_id") == cell_id), None)
            name = cell_label(cell or known)
            what = f"{name}: {snippet(cell.get('source', ''))}" if cell else name
            if event.event == EVENT_PUBLISHED:
                self._toast("info", f"New cell from the teacher — {what}")
            elif event.event == EVENT_UPDATED and data.get("outputs_changed"):
                self._toast("info", f"The teacher changed the output of {name}.")
            elif event.event == EVENT_UPDATED:
                self._toast("warning", f"The teacher updated {what} (now v{data.get('version', '?')})")
            else:
                held = " What you pulled of it stays in your notebook." if self.copies.get(cell_id) else ""
                self._toast("info", f"The teacher withdrew {name}.{held}")
        elif event.event == EVENT_SESSION_ENDED:
            message = "The teacher ended this session. Enter a new session code when you get one."
            self.param.update(connection="error", connection_message=message, cells=[], selected_cell_id=None)
            self._last_event_id = None
            self._toast("warning", message)

    # -- helpers --------------------------------------------------------------------------
    def _plain(self, code: str, message: str) -> str:
        """Words for an error of the *saved* configuration (what the server tested), not the form."""
        return plain_error(code, message, url=self.saved_teacher_url, session_code=self.saved_session_code)

    def _toast(self, kind: str, message: str) -> None:
        """A toast in the page (notifications render HTML, so the text goes escaped)."""
        self.notices = [*self.notices, (kind, message)]
        notify(kind, escape(message))

    # -- views ----------------------------------------------------------------------------
    def __panel__(self):
        light = pn.pane.HTML(pn.bind(light_html, self.param.connection, self.param.connection_message),
                             sizing_mode="stretch_width", margin=(5, 10))
        key_input = pn.widgets.PasswordInput.from_param(
            self.param.student_key, placeholder="Key from your teacher", sizing_mode="stretch_width")
        form = pn.Card(
            pn.Row(pn.widgets.PasswordInput.from_param(self.param.join_link, sizing_mode="stretch_width",
                                                       placeholder="http://teacher-host:8888/codestream/join/…"),
                   pn.widgets.Button.from_param(self.param.join, color="primary", align="end",
                                                disabled=self.param.busy, css_classes=["cs-join-button"]),
                   sizing_mode="stretch_width"),
            pn.pane.HTML("<div class='cs-or' style='font-size:13px;color:#57606a'>or enter the three parts:</div>",
                         sizing_mode="stretch_width"),
            pn.widgets.TextInput.from_param(self.param.teacher_url, placeholder="http://teacher-host:8888/",
                                            sizing_mode="stretch_width"),
            pn.widgets.TextInput.from_param(self.param.session_code, placeholder="ABC234",
                                            sizing_mode="stretch_width"),
            key_input,
            pn.Row(pn.widgets.Button.from_param(self.param.save, color="primary",
                                                disabled=self.param.busy),
                   pn.widgets.Button.from_param(self.param.test, disabled=self.param.busy)),
            pn.pane.HTML(pn.bind(message_html, self.param.form_message, self.param.form_ok),
                         sizing_mode="stretch_width", css_classes=["cs-form-message"]),
            title="Connection", collapsed=self.configured, sizing_mode="stretch_width",
        )

        def on_configured(*events):
            key_input.placeholder = ("A key is saved — leave empty to keep it" if self.has_key
                                     else "Key from your teacher")
            if any(e.name == "configured" and e.new and not e.old for e in events):
                form.collapsed = True

        self.param.watch(on_configured, ["configured", "has_key"])
        pull_box = pn.Column(
            pn.widgets.Select.from_param(self.param.target_notebook, sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.param.position, sizing_mode="stretch_width"),
            pn.widgets.Toggle.from_param(self.param.with_outputs, css_classes=["cs-with-outputs"], visible=pn.bind(
                self._selected_has_outputs, self.param.selected_cell_id, self.param.cells)),
            pn.Row(pn.widgets.Button.from_param(self.param.pull, color="success",
                                                disabled=self.param.busy),
                   pn.widgets.Button.from_param(self.param.refresh)),
            pn.pane.HTML(pn.bind(message_html, self.param.pull_message, self.param.pull_ok),
                         sizing_mode="stretch_width", css_classes=["cs-pull-message"]),
            visible=self.param.selected_cell_id.rx.is_not(None), sizing_mode="stretch_width",
        )
        notices = pn.pane.HTML(pn.bind(notices_html, self.param.notices), stylesheets=[NOTICES_CSS],
                               sizing_mode="stretch_width", css_classes=["cs-notices-pane"])
        return with_focus_ring(pn.Column(
            light, notices, form, self._feed_view, self._detail_view, pull_box,
            sizing_mode="stretch_width", min_width=300, max_width=900, css_classes=["cs-student"],
        ))

    @param.depends("cells", "copies", "selected_cell_id", "session_title", "configured")
    def _feed_view(self):
        heading = "Published cells" + (f" — {self.session_title}" if self.session_title else "")
        items = [pn.pane.HTML(f"<h2 class='cs-feed-heading' style='margin:4px 0;font-size:17px'>{escape(heading)}</h2>",
                              sizing_mode="stretch_width")]
        feed = self.feed()
        if not feed:
            hint = ("Nothing published yet: new cells appear here as the teacher shares them."
                    if self.configured else "Connect to your teacher's session to see the cells.")
            items.append(pn.pane.HTML(f"<em class='cs-feed-empty'>{escape(hint)}</em>", sizing_mode="stretch_width"))
        for cell, status in feed:
            items.append(self._feed_item(cell, status))
        return pn.Column(*items, sizing_mode="stretch_width", css_classes=["cs-feed"])

    def _feed_item(self, cell: dict, status: str):
        label = pn.pane.HTML(feed_item_html(cell, status, snippet(cell.get("source", ""))),
                             sizing_mode="stretch_width")
        parts = [label]
        if status != WITHDRAWN:  # a withdrawn cell has nothing to pull: the student's copy is all there is
            shown = cell["cell_id"] == self.selected_cell_id
            button = pn.widgets.Button(label="Shown" if shown else "Preview", color="primary", variant="outline",
                                       width=80, align="center", stylesheets=[FOCUS_CSS])
            button.on_click(lambda _event, cell_id=cell["cell_id"]: self.preview(cell_id))
            parts.append(button)
        return pn.Row(*parts, sizing_mode="stretch_width", css_classes=["cs-feed-item", f"cs-feed-item-{status}"],
                      styles={"border-bottom": "1px solid #d0d7de"})

    def preview(self, cell_id: str) -> None:
        """The Preview button: the student's notebook is read first, so the detail (and its diff)
        shows their copy as saved now from its first render."""
        async def read_then_show():
            await self.refresh_target()
            self.selected_cell_id = cell_id
        self._tasks.spawn(read_then_show(), name="codestream-student-preview")

    @param.depends("selected_cell_id", "cells", "copies")
    def _detail_view(self):
        cell = self.selected_cell
        if cell is None:
            return pn.Column(sizing_mode="stretch_width")
        status = self.status_of(cell)
        parts = [pn.pane.HTML(
            f"<h3 class='cs-detail-heading' style='margin:4px 0;font-size:15px'>{badge_html(status)} "
            f"{escape(cell_label(cell))} <span style='color:#57606a;font-weight:normal'>"
            f"({escape(cell.get('cell_type', ''))}, v{int(cell.get('version', 1))})</span></h3>",
            sizing_mode="stretch_width"),
            pn.pane.HTML(cell_preview_html(cell), sizing_mode="stretch_width", css_classes=["cs-preview-pane"]),
        ]
        shown_outputs = outputs_html(cell.get("outputs"))
        if shown_outputs:
            parts += [
                pn.pane.HTML("<div style='font-size:13px'>What the teacher's cell shows when it runs:</div>",
                             sizing_mode="stretch_width"),
                pn.pane.HTML(shown_outputs, sizing_mode="stretch_width", css_classes=["cs-outputs-pane"],
                             stylesheets=[OUTPUTS_CSS]),
            ]
        diff = self.selected_diff()
        if diff is not None:
            parts += [
                pn.pane.HTML("<div style='font-size:13px'>Changes from <b>your copy</b> to the teacher's new "
                             "version. Pulling adds the new version right after your copy; your copy stays "
                             "as it is.</div>", sizing_mode="stretch_width"),
                pn.pane.HTML(diff_html(diff), sizing_mode="stretch_width", css_classes=["cs-diff-pane"]),
            ]
        return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["cs-detail"])
