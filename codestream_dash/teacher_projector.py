"""The projector view: what a teacher puts on the beamer, in a tab of its own.

The session code, the join link as a QR code, and the cell the teacher shows (Show) in large
type, following ``focus`` events live. Nothing a teacher would not project: the link's key is
in the QR code (that is how students join) but not written out unless the teacher asks.
It is a route of the teacher app (``?view=projector``) and a client of its own server only.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

import panel as pn
import param
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import MarkdownLexer, PythonLexer, TextLexer

from jupyter_ext.clients import APIError, ServerClient
from jupyter_ext.domain.events import CELL_EVENTS, EVENT_FOCUS, EVENT_SESSION_ENDED

from .common import BackgroundTasks, cell_source, client_from_environment, escape
from .join import qr_svg
from .teacher_events import event_data

PROJECTOR_CSS = """
:host { --cs-mono: 'DejaVu Sans Mono', Menlo, Consolas, monospace; color: #1f2328; }
.cs-projector-code { font-family: var(--cs-mono); font-size: 112px; font-weight: 700; letter-spacing: 0.12em;
                     line-height: 1.05; color: #0b3d91; }
.cs-projector-title { font-size: 32px; margin: 0; }
.cs-projector-link { font-family: var(--cs-mono); font-size: 24px; overflow-wrap: anywhere; }
.cs-projector-qr svg { display: block; width: 380px; height: 380px; }
.cs-projector-cell { font-family: var(--cs-mono); font-size: 30px; line-height: 1.35; white-space: pre-wrap;
                     background: #f6f8fa; border-left: 8px solid #0969da; padding: 12px 18px; margin: 0;
                     overflow-wrap: anywhere; }
.cs-projector-label { font-size: 24px; color: #57606a; }
.cs-projector-none { font-size: 24px; color: #57606a; }
"""


def link_without_key(link: str) -> str:
    """The join link as text on a projector: the key (its fragment) left out."""
    return link.split("#", 1)[0]


def focused_cell_html(cell: Mapping | None) -> str:
    if not cell:
        return "<div class='cs-projector-none'>No cell shown yet: press Show beside a cell in the dashboard.</div>"
    cell_type = cell.get("cell_type", "code")
    lexer = {"code": PythonLexer, "markdown": MarkdownLexer}.get(cell_type, TextLexer)()
    body = highlight(cell_source(cell), lexer, HtmlFormatter(noclasses=True, nowrap=True)).rstrip("\n")
    number = cell.get("number")
    origin = " · from a student" if cell.get("origin") == "student" else ""
    label = f"Cell {number}{origin}" if isinstance(number, int) else f"The teacher's cell{origin}"
    return (f"<div class='cs-projector-label'>{escape(label)}</div>"
            f"<pre class='cs-projector-cell'>{body}</pre>")


def join_block_html(code: str, link: str, show_key: bool) -> str:
    if not code:
        return "<div class='cs-projector-none'>No live session: start one in the teacher dashboard.</div>"
    shown = link if show_key else link_without_key(link)
    qr = f"<div class='cs-projector-qr'>{qr_svg(link)}</div>" if link else ""
    return (f"<div class='cs-projector-label'>Session code</div><div class='cs-projector-code'>{escape(code)}</div>"
            f"{qr}<div class='cs-projector-link'>{escape(shown)}</div>")


class ProjectorView(pn.viewable.Viewer):
    """The newest live session of this server, for the beamer; follows what the teacher shows."""

    session_code = param.String(default="")
    title = param.String(default="")
    join_link = param.String(default="")
    show_key = param.Boolean(default=False, label="Show the key",
                             doc="Write the join link out with its key (the QR code always carries it).")
    cell = param.Dict(default=None, allow_None=True, doc="The focused cell (None: nothing shown).")

    def __init__(self, client: ServerClient, **params):
        super().__init__(**params)
        self.client = client
        self._tasks = BackgroundTasks()
        self._focus_id: str | None = None
        self._last_event_id: str | None = None

    @classmethod
    def from_environment(cls, **params) -> ProjectorView:
        return cls(client_from_environment(os.environ), **params)

    def attach_to_served_session(self) -> None:
        pn.state.onload(self.load)
        pn.state.on_session_destroyed(lambda _context: self._tasks.cancel_all())

    async def load(self) -> None:
        try:
            sessions = await self.client.list_sessions()
        except APIError:
            return
        if not sessions:
            return
        newest = sessions[-1]
        self.param.update(session_code=newest["code"], title=newest.get("title") or "",
                          join_link=newest.get("join_link") or "")
        await self.read_focus()
        self._tasks.spawn(self._listen(newest["code"]), name="projector events")

    async def read_focus(self) -> None:
        """The focused cell from the cell list (one read: at load, and when that cell changes)."""
        try:
            listing = await self.client.session_cells(self.session_code)
        except APIError:
            return
        self._focus_id = listing.get("focus")
        self.cell = next((dict(c) for c in listing["cells"] if c["cell_id"] == self._focus_id), None)

    async def _listen(self, code: str) -> None:
        while self.session_code == code:
            try:
                async for event in self.client.events(f"codestream/api/sessions/{code}/events",
                                                      last_event_id=self._last_event_id):
                    self._last_event_id = event.id or self._last_event_id
                    if event.event == EVENT_SESSION_ENDED:
                        self.param.update(session_code="", join_link="", cell=None)
                        return
                    data = event_data(event.data)
                    if event.event == EVENT_FOCUS or (event.event in CELL_EVENTS
                                                      and data.get("cell_id") == self._focus_id):
                        await self.read_focus()
            except APIError:
                pass
            await asyncio.sleep(2)

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML(self.param.title.rx.pipe(lambda t: f"<h1 class='cs-projector-title'>{escape(t)}</h1>"
                                                  if t else ""), stylesheets=[PROJECTOR_CSS]),
            pn.FlexBox(
                pn.pane.HTML(pn.bind(join_block_html, self.param.session_code, self.param.join_link,
                                     self.param.show_key), stylesheets=[PROJECTOR_CSS], width=440,
                             css_classes=["cs-projector-join"]),
                pn.pane.HTML(pn.bind(focused_cell_html, self.param.cell), stylesheets=[PROJECTOR_CSS],
                             min_width=400, styles={"flex": "1 1 480px"}, css_classes=["cs-projector-focus"]),
                flex_wrap="wrap", gap="24px", sizing_mode="stretch_width"),
            pn.widgets.Toggle.from_param(self.param.show_key, width=160),
            sizing_mode="stretch_width", css_classes=["cs-projector"],
        )
