"""The student dashboard's feed part: the teacher's published cells, the one on show, and
"Follow the teacher" (the cell the teacher shows is highlighted, selected and scrolled to).

A ``param`` class mixed into ``StudentDashboard``. The diff of an updated cell uses the
version the student pulled as its merge base (``GET student/cells/{id}?version=N``), so what
the teacher changed and what the student changed are shown apart.
"""

from __future__ import annotations

import asyncio
import logging
from html import escape

import panel as pn
import param

from jupyter_ext.clients import APIError

from .common import FOCUS_CSS
from .student_connection import ConnectionPart
from .outputs_render import OUTPUTS_CSS, outputs_html
from .student_model import (
    END, NEEDS_NEW_CONFIG, UPDATED, WITHDRAWN, PulledCopy, cell_label, cell_status, newest_copy, snippet, source_diff,
    update_diffs, withdrawn_cells,
)
from .student_render import badge_html, cell_preview_html, diff_html, feed_item_html

log = logging.getLogger(__name__)
FOCUSED_CSS = ":host(.cs-feed-item-focused) { background: #fbefff; outline: 3px solid #6639ba; outline-offset: -3px; }"


class FeedPart(ConnectionPart):
    """What the teacher published, what the student has of it, and what the teacher is showing."""

    session_title = param.String(default="")
    cells = param.List(default=[], item_type=dict, doc="The teacher's published cells, in the teacher's order.")
    copies = param.Dict(default={}, doc="Pulled copies in the target notebook, per teacher cell id.")
    selected_cell_id = param.String(default=None, allow_None=True, doc="The cell being previewed.")
    notices = param.List(default=[], doc="Messages shown in this session, oldest first: (kind, message).")

    focus_cell_id = param.String(default=None, allow_None=True, doc="The cell the teacher is showing.")
    follow_teacher = param.Boolean(default=True, label="Follow the teacher (jump to the cell the teacher shows)",
                                   doc="Jump to the cell the teacher shows (remembered in this browser).")
    scroll_request = param.Integer(default=0, doc="Bumped when the page should scroll to the focused cell.")
    base_sources = param.Dict(default={}, doc="Past versions read so far: (cell_id, version) -> source or None.")

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
        if "focus" in listing and listing.get("focus") != self._listed_focus:
            self._listed_focus = listing.get("focus")  # a list read after a missed `focus` event
            self.apply_focus(self._listed_focus)
        self._want_base()

    # -- follow the teacher -----------------------------------------------------------------
    def apply_focus(self, cell_id) -> None:
        """The teacher shows ``cell_id`` (or nothing): mark it; while following, select and scroll to it."""
        cell_id = str(cell_id) if cell_id else None
        self.focus_cell_id = cell_id
        if cell_id and self.follow_teacher:
            self._go_to_focus()

    def _go_to_focus(self) -> None:
        if not any(c.get("cell_id") == self.focus_cell_id for c in self.cells):
            return
        if self.merge_result is None:  # never pull a half-resolved merge out from under the student
            self.selected_cell_id = self.focus_cell_id
        self.scroll_request += 1

    @param.depends("follow_teacher", watch=True)
    def _on_follow(self):
        if self.follow_teacher and self.focus_cell_id:
            self._go_to_focus()

    # -- selection ---------------------------------------------------------------------------
    @param.depends("selected_cell_id", watch=True)
    def _on_select(self):
        # a new choice starts from the default place and without the teacher's output (per pull)
        self.param.update(position=END, with_outputs=False, pull_message="", pull_ok=None)
        self.clear_merge()
        # re-read the notebook so the diff shows the student's latest saved edits
        if self.selected_cell_id and self.target_notebook:
            self._tasks.spawn(self.refresh_target(), name="codestream-student-select")
        self._want_base()

    def preview(self, cell_id: str) -> None:
        """The Preview button: the student's notebook is read first, so the detail (and its diff)
        shows their copy as saved now from its first render."""
        async def read_then_show():
            await self.refresh_target()
            self.selected_cell_id = cell_id
        self._tasks.spawn(read_then_show(), name="codestream-student-preview")

    @property
    def selected_cell(self) -> dict | None:
        return next((c for c in self.cells if c.get("cell_id") == self.selected_cell_id), None)

    def selected_copy(self) -> PulledCopy | None:
        """The student's newest copy of the cell on show, if they pulled it."""
        return newest_copy(self.copies.get(self.selected_cell_id)) if self.selected_cell_id else None

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

    # -- the merge base ----------------------------------------------------------------------
    def _want_base(self) -> None:
        """Read the version the student pulled of the updated cell on show (once per version)."""
        cell, copy = self.selected_cell, self.selected_copy()
        if cell is None or copy is None or self.status_of(cell) != UPDATED:
            return
        key = (cell["cell_id"], copy.version)
        if key not in self.base_sources and key not in self._base_reads:
            self._base_reads.add(key)
            self._tasks.spawn(self._read_base(*key), name="codestream-student-base")

    async def _read_base(self, cell_id: str, version: int) -> None:
        try:
            past = await self.client.student_cell(cell_id, version)
            source = str(past.get("source", ""))
        except APIError as exc:  # no longer kept (or an older teacher server): the plain diff stays
            log.info("codestream student: version %s of a cell not readable: %s", version, exc.code)
            source = None
        finally:
            self._base_reads.discard((cell_id, version))
        self.base_sources = {**self.base_sources, (cell_id, version): source}

    def base_of_selected(self) -> str | None:
        copy = self.selected_copy()
        return self.base_sources.get((self.selected_cell_id, copy.version)) if copy else None

    def selected_diffs(self) -> tuple[str, str] | None:
        """For an updated cell with a known base: ``(teacher's change, student's change)``."""
        cell, copy, base = self.selected_cell, self.selected_copy(), self.base_of_selected()
        if cell is None or copy is None or base is None or self.status_of(cell) != UPDATED:
            return None
        return update_diffs(base, copy.source, cell.get("source", ""), base_version=copy.version,
                            version=int(cell.get("version", 1)))

    def selected_diff(self) -> str | None:
        """Without a base: the diff from the student's copy (with edits) to the teacher's version."""
        cell = self.selected_cell
        if cell is None or self.status_of(cell) != UPDATED:
            return None
        copy = self.selected_copy()
        if copy is None:
            return None
        return source_diff(copy.source, cell.get("source", ""), version_from=copy.version,
                           version_to=int(cell.get("version", 1)))

    def merge_offered(self) -> bool:
        """An updated cell whose copy the student changed since pulling (or whose base is unknown)."""
        cell, copy = self.selected_cell, self.selected_copy()
        if cell is None or copy is None or copy.index < 0 or self.status_of(cell) != UPDATED:
            return False
        base = self.base_of_selected()
        return base is None or base != copy.source

    # -- views -------------------------------------------------------------------------------
    @param.depends("cells", "copies", "selected_cell_id", "session_title", "configured", "focus_cell_id")
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
        focused = cell.get("cell_id") == self.focus_cell_id and status != WITHDRAWN
        label = pn.pane.HTML(feed_item_html(cell, status, snippet(cell.get("source", "")), focused),
                             sizing_mode="stretch_width")
        parts = [label]
        if status != WITHDRAWN:  # a withdrawn cell has nothing to pull: the student's copy is all there is
            shown = cell["cell_id"] == self.selected_cell_id
            button = pn.widgets.Button(label="Shown" if shown else "Preview", color="primary", variant="outline",
                                       width=80, align="center", stylesheets=[FOCUS_CSS])
            button.on_click(lambda _event, cell_id=cell["cell_id"]: self.preview(cell_id))
            parts.append(button)
        classes = ["cs-feed-item", f"cs-feed-item-{status}"] + (["cs-feed-item-focused"] if focused else [])
        return pn.Row(*parts, sizing_mode="stretch_width", css_classes=classes, stylesheets=[FOCUSED_CSS],
                      styles={"border-bottom": "1px solid #d0d7de"})

    @param.depends("selected_cell_id", "cells", "copies", "base_sources")
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
        parts += self._diff_parts()
        return pn.Column(*parts, sizing_mode="stretch_width", css_classes=["cs-detail"])

    def _diff_parts(self) -> list:
        def text(words: str):
            return pn.pane.HTML(f"<div style='font-size:13px'>{words}</div>", sizing_mode="stretch_width")

        diffs = self.selected_diffs()
        if diffs is not None:
            teacher, mine = diffs
            return [text("<b>What the teacher changed</b> since the version you pulled:"),
                    pn.pane.HTML(diff_html(teacher), sizing_mode="stretch_width",
                                 css_classes=["cs-diff-pane", "cs-diff-teacher"]),
                    text("<b>What you changed</b> in your copy:"),
                    pn.pane.HTML(diff_html(mine, empty="You have not changed your copy."),
                                 sizing_mode="stretch_width", css_classes=["cs-diff-pane", "cs-diff-mine"])]
        diff = self.selected_diff()
        if diff is None:
            return []
        return [text("Changes from <b>your copy</b> to the teacher's new version. Pulling adds the new version"
                     " right after your copy; your copy stays as it is."),
                pn.pane.HTML(diff_html(diff), sizing_mode="stretch_width", css_classes=["cs-diff-pane"])]
