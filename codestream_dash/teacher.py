"""The teacher dashboard: start a session, choose which notebook cells students get.

``TeacherState`` (teacher_state.py) holds the state and does the work; this module is the
view: widgets built in ``__panel__`` from the state's parameters, HTML from teacher_render.py,
the cell rows in one ``CellList`` (teacher_cells.py).
"""

from __future__ import annotations

import asyncio
import operator

import panel as pn
import param

from .clipboard import copy_button
from .common import with_focus_ring
from .join import JoinPanel
from .notices import NOTICES_CSS, notices_html
from .publish_failures import PublishFailuresNotice
from .teacher_cells import CellList, CellRow, row_view_state
from .teacher_render import (
    TEACHER_CSS,
    code_html,
    confirm_html,
    confirm_label,
    html_pane,
    key_html,
    labelled_html,
    others_html,
    progress_text,
    students_html,
    title_html,
    note_html,
    warning_html,
)
from .teacher_state import STUDENT_REFRESH_MS, TeacherState
from .teacher_urls import student_url_advice

__all__ = ["CellRow", "TeacherDashboard", "student_url_advice"]

PUSH_DELAY_SECONDS = 0.15


class TeacherDashboard(TeacherState, pn.viewable.Viewer):
    """One browser session's teacher dashboard (every widget is built in ``__panel__``)."""

    def __init__(self, client, **params):
        self._cell_lists: list[CellList] = []
        self._push_scheduled = False
        super().__init__(client, **params)
        self._join = JoinPanel(join_link=self.join_link)
        self.param.watch(lambda event: setattr(self._join, "join_link", event.new), "join_link")
        self._publish_failures = PublishFailuresNotice(client, session_code=self.session_code)
        self.param.watch(lambda event: setattr(self._publish_failures, "session_code", event.new), "session_code")

    def attach_to_served_session(self) -> None:
        """Start loading, the student count refresh and the cleanup of this browser session."""
        pn.state.onload(self.load)
        pn.state.add_periodic_callback(self.refresh_students, period=STUDENT_REFRESH_MS)
        pn.state.add_periodic_callback(self._publish_failures.refresh, period=STUDENT_REFRESH_MS)
        pn.state.on_session_destroyed(self._on_session_destroyed)

    # -- view ---------------------------------------------------------------------------------
    def __panel__(self):
        return with_focus_ring(pn.Column(
            self._header(), self._notices(), self._publish_failures, self._confirmation(), self._reachability(), self._start_row(),
            self._session_card(),
            pn.layout.Divider(), self._notebook_bar(), self._progress(),
            html_pane(pn.bind(others_html, self.param.other_published)),
            self._new_cell_list(),
            sizing_mode="stretch_width", css_classes=["cs-teacher"], stylesheets=[TEACHER_CSS],
        ))

    def _header(self):
        return pn.Row(
            html_pane(title_html(), sizing_mode="stretch_width"),
            html_pane(pn.bind(students_html, self.param.students, self.param.session_code),
                      css_classes=["cs-students"], width=260, align="center"),
            sizing_mode="stretch_width",
        )

    def _notices(self):
        return pn.pane.HTML(pn.bind(notices_html, self.param.notices), stylesheets=[NOTICES_CSS],
                            sizing_mode="stretch_width", css_classes=["cs-notices-pane"])

    def _confirmation(self):
        """The second step of End session and Unpublish all."""
        return pn.Row(
            html_pane(pn.bind(confirm_html, self.param.confirming, self.param.session_code),
                      sizing_mode="stretch_width"),
            pn.widgets.Button.from_param(self.param.confirm, label=pn.bind(confirm_label, self.param.confirming),
                                         color="danger", width=220, css_classes=["cs-confirm"]),
            pn.widgets.Button.from_param(self.param.cancel, variant="outline", width=120),
            visible=pn.bind(bool, self.param.confirming), sizing_mode="stretch_width",
            css_classes=["cs-confirm-bar"], styles={"border": "2px solid #cf222e", "border-radius": "6px",
                                                    "padding": "6px"},
        )

    def _reachability(self):
        return pn.Column(
            html_pane(pn.bind(warning_html, self.param.reachability_warning),
                      visible=pn.bind(bool, self.param.reachability_warning),
                      css_classes=["cs-reachability"], sizing_mode="stretch_width"),
            html_pane(pn.bind(note_html, self.param.reachability_note),
                      visible=pn.bind(bool, self.param.reachability_note),
                      css_classes=["cs-reachability-note"], sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def _start_row(self):
        return pn.Row(
            pn.widgets.TextInput.from_param(self.param.title, name="Session title (optional)",
                                            placeholder="e.g. Week 3: loops", width=320),
            pn.widgets.Button.from_param(self.param.start, color="primary", align="end", width=160,
                                         css_classes=["cs-start"]),
            visible=pn.bind(operator.not_, self.param.session_code), sizing_mode="stretch_width",
        )

    def _session_card(self):
        code_column = pn.Column(
            html_pane("<div class='cs-label'>Session code</div>", margin=(0, 10)),
            html_pane(pn.bind(code_html, self.param.session_code), css_classes=["cs-code"]),
            pn.bind(copy_button, self.param.session_code, "session code"),
            self._join,
            width=560,
        )
        access_column = pn.Column(
            html_pane(pn.bind(labelled_html, "Students enter this URL", self.param.student_url, "cs-url"),
                      sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.student_url, "teacher URL"),
            html_pane(pn.bind(key_html, self.param.student_key), sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.student_key, "student key"),
            pn.Row(
                pn.widgets.Button.from_param(self.param.rotate, color="warning", variant="outline", width=140),
                pn.widgets.Button.from_param(self.param.end, color="danger", variant="outline", width=140),
                margin=(15, 0, 0, 0),
            ),
            sizing_mode="stretch_width",
        )
        return pn.Row(code_column, access_column, visible=pn.bind(bool, self.param.session_code),
                      sizing_mode="stretch_width", css_classes=["cs-session"])

    def _notebook_bar(self):
        bulk_disabled = pn.bind(self._bulk_disabled, self.param.busy, self.param.session_code)
        return pn.Row(
            pn.widgets.Select.from_param(self.param.notebook_path, name="Notebook", width=360),
            pn.widgets.Button.from_param(self.param.reload, align="end", variant="outline", width=100),
            pn.widgets.Button.from_param(self.param.publish_all_cells, color="success", align="end", width=140,
                                         disabled=bulk_disabled, css_classes=["cs-publish-all"]),
            pn.widgets.Button.from_param(self.param.unpublish_all_cells, align="end", variant="outline", width=140,
                                         disabled=bulk_disabled, css_classes=["cs-unpublish-all"]),
            sizing_mode="stretch_width",
        )

    def _progress(self):
        return pn.Row(
            pn.indicators.Progress(value=self.param.progress, max=pn.bind(max, self.param.progress_total, 1),
                                   width=360, bar_color="success"),
            html_pane(pn.bind(progress_text, self.param.progress, self.param.progress_total)),
            visible=self.param.busy,
        )

    @staticmethod
    def _bulk_disabled(busy: bool, code: str) -> bool:
        return busy or not code

    # -- the cell rows: one CellList model, pushed once per burst of changes --------------------
    def _new_cell_list(self) -> CellList:
        cell_list = CellList(sizing_mode="stretch_width", css_classes=["cs-cell-list"])
        cell_list.param.watch(self._on_toggle, "toggle")
        cell_list.param.watch(self._on_output_toggle, "output_toggle")
        self._cell_lists.append(cell_list)
        self._push_rows()
        return cell_list

    def _watch_row(self, row: CellRow) -> None:
        super()._watch_row(row)
        row.param.watch(self._schedule_push, ["html", "published", "with_outputs"])

    @param.depends("rows", "session_code", "notebook_path", watch=True)
    def _schedule_push(self, *_events) -> None:
        """Send the rows to the browser once per burst of changes: a refresh changes many rows, and a
        bulk publish changes one row per answer (pushing each would send n rows n times)."""
        if not self._cell_lists or self._push_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._push_rows()
            return
        self._push_scheduled = True
        loop.call_later(PUSH_DELAY_SECONDS, self._push_rows)

    def _push_rows(self) -> None:
        self._push_scheduled = False
        live = bool(self.session_code)
        rows = [row_view_state(row, live) for row in self.rows]
        empty = "Pick a notebook to see its cells." if not self.notebook_path else "This notebook has no cells."
        for cell_list in self._cell_lists:
            unchanged = cell_list.rows == rows
            cell_list.param.update(rows=rows, empty_text=empty)
            if unchanged:
                cell_list.param.trigger("rows")  # undo a switch the browser flipped ahead of us

    def _on_toggle(self, event: param.parameterized.Event) -> None:
        """A switch flipped in the browser: the row's ``published`` parameter drives the rest."""
        wanted = event.new or {}
        row = self._rows_by_id.get(str(wanted.get("cell_id", "")))
        if row is None or not isinstance(wanted.get("published"), bool):
            self._schedule_push()
            return
        if row.published == wanted["published"]:
            self._schedule_push()
        else:
            row.published = wanted["published"]

    def _on_output_toggle(self, event: param.parameterized.Event) -> None:
        """The "+ output" box of a code cell: the row's ``with_outputs`` parameter drives the rest."""
        wanted = event.new or {}
        row = self._rows_by_id.get(str(wanted.get("cell_id", "")))
        if row is None or not isinstance(wanted.get("with_outputs"), bool):
            self._schedule_push()
            return
        row.with_outputs = wanted["with_outputs"]
