"""The student dashboard: connect to a teacher, watch the feed of published cells, pull them,
merge the teacher's updates into an edited copy, follow the teacher, catch up, take the lesson
home, and ask for help with a cell.

A ``pn.viewable.Viewer`` whose whole state is ``param`` parameters, so tests drive it without a
browser. It is made of parts, each a ``param`` class in its own module, each part building on
the one before (a part's ``param.depends`` names the parameters of those before it):
connection (``student_connection``) ← feed and follow (``student_feed``) ← pulls
(``student_pull``) ← merge (``student_merge``) ← hands (``student_hands``); the event stream
(``student_stream``) is mixed in beside them. It is a client of the student's own Jupyter server only: the contract's
student routes and the contents/sessions API.
"""

from __future__ import annotations

import asyncio
from html import escape

import panel as pn

from jupyter_ext.clients import APIError, ServerClient

from .common import BackgroundTasks, client_from_environment, notify, with_focus_ring
from .notices import NOTICES_CSS, notices_html
from .student_bridge import BrowserBridge
from .student_controls import checkbox_for
from .student_hands import HandsPart
from .student_stream import EventStreamPart


class StudentDashboard(HandsPart, EventStreamPart, pn.viewable.Viewer):
    """One browser session's student dashboard (every widget is built in ``__panel__``)."""

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
        self._listed_focus: str | None = None  # the focus of the last cell list read
        self._base_reads: set[tuple[str, int]] = set()  # past versions being read
        self._hand_cell_chosen = False  # the student picked the hand's cell: keep it
        self._saved_name = ""
        self._auto_target: str | None = None  # the notebook the dashboard chose itself (not the student)
        self._applying_settings = False

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
        self._saved_name = self.student_name.strip()
        await self.refresh_notebooks()
        if self.configured:
            await self.refresh_cells(resync=True)
            await self.refresh_hands()

    def _toast(self, kind: str, message: str) -> None:
        """A notice in the page (notifications render HTML, so the text goes escaped)."""
        self.notices = [*self.notices, (kind, message)]
        notify(kind, escape(message))

    # -- views ----------------------------------------------------------------------------
    def _bridge(self) -> BrowserBridge:
        """The browser side of follow (remembered, scrolled to) and of full-page detection."""
        bridge = BrowserBridge(follow=self.follow_teacher, height=0, width=0, margin=0)
        bridge.param.watch(lambda e: setattr(self, "follow_teacher", e.new), "follow")
        bridge.param.watch(lambda e: self._on_full_page(e.new), "full_page")
        self.param.watch(lambda e: setattr(bridge, "follow", e.new), "follow_teacher")

        def scroll(_event):
            bridge.scroll_target = self.focus_cell_id or ""
            bridge.scroll_request += 1
        self.param.watch(scroll, "scroll_request")
        return bridge

    def _on_full_page(self, full_page: bool) -> None:
        self.full_page = full_page
        if full_page:  # opened from a join link: a new notebook on offer at once
            self._tasks.spawn(self.refresh_notebooks(), name="codestream-student-notebooks")

    def _follow_switch(self):
        return checkbox_for(self, "follow_teacher", "cs-follow", visible=self.param.configured,
                            sizing_mode="stretch_width", margin=(5, 10))

    def __panel__(self):
        notices = pn.pane.HTML(pn.bind(notices_html, self.param.notices), stylesheets=[NOTICES_CSS],
                               sizing_mode="stretch_width", css_classes=["cs-notices-pane"])
        return with_focus_ring(pn.Column(
            self._light_view(), notices, self._connection_form(), self._follow_switch(), self._feed_view,
            self._detail_view, self._merge_view, self._pull_box(), self._target_box(), self._hands_box(),
            self._bridge(),
            sizing_mode="stretch_width", min_width=300, max_width=900, css_classes=["cs-student"],
        ))
