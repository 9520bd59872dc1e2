"""The teacher dashboard: start a session, choose which notebook cells students get, help the
students who raise a hand.

``TeacherState`` (teacher_state.py and its parts) holds the state and does the work; this module
is the view, laid out for teaching: a slim session bar (the code, Projector, Download the
lesson, End session), then the cells and, beside them, the hands queue and how students join.
Notices float in a fixed corner so they never push the cells down. Everything wraps down to a
600 px wide JupyterLab tab.
"""

from __future__ import annotations

import asyncio
import io

import panel as pn
import param

from .clipboard import copy_button
from .common import with_focus_ring
from .join import JoinPanel
from .notices import NOTICES_CSS, notices_html
from .publish_failures import PublishFailuresNotice
from .teacher_cells import CellList, CellRow, row_view_state
from .teacher_hands_view import HandsQueue, hand_view_state
from .teacher_render import (
    TEACHER_CSS,
    code_html,
    confirm_html,
    confirm_label,
    hands_title_html,
    html_pane,
    key_html,
    labelled_html,
    note_html,
    others_html,
    progress_text,
    projector_link_html,
    students_html,
    title_html,
    warning_html,
)
from .teacher_state import STUDENT_REFRESH_MS, TeacherState
from .teacher_urls import student_url_advice

__all__ = ["CellRow", "TeacherDashboard", "student_url_advice"]

PUSH_DELAY_SECONDS = 0.15
SIDE_WIDTH = 400
FLOATING_CSS = """
.cs-notices { position: fixed; right: 12px; bottom: 12px; z-index: 1000; width: min(420px, calc(100vw - 24px));
              pointer-events: none; }
.cs-notice { box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2); animation: cs-notice-fade 0.4s ease-in 12s forwards; }
.cs-notice-error { animation-delay: 30s; }
@keyframes cs-notice-fade { to { opacity: 0; visibility: hidden; } }
"""  # clicks go through to what is under a notice, and a notice fades after a while


def hands_button_label(hands_open: bool) -> str:
    return "Close hands" if hands_open else "Open hands"


def wrapping_row(*objects, **params) -> pn.FlexBox:
    """A row that wraps instead of being cut off in a narrow tab."""
    return pn.FlexBox(*objects, flex_wrap="wrap", align_items="flex-end", gap="6px",
                      sizing_mode="stretch_width", **params)


class TeacherDashboard(TeacherState, pn.viewable.Viewer):
    """One browser session's teacher dashboard (every widget is built in ``__panel__``)."""

    def __init__(self, client, **params):
        self._cell_lists: list[CellList] = []
        self._hand_queues: list[HandsQueue] = []
        self._push_scheduled = False
        super().__init__(client, **params)
        self._join = JoinPanel(join_link=self.join_link, session_code=self.session_code)
        self.param.watch(lambda *events: self._join.param.update({e.name: e.new for e in events}),
                         ["join_link", "session_code"])
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
            pn.FlexBox(self._cells_column(), self._side_column(), flex_wrap="wrap", gap="16px",
                       align_items="flex-start", sizing_mode="stretch_width"),
            sizing_mode="stretch_width", min_width=580, css_classes=["cs-teacher"], stylesheets=[TEACHER_CSS],
        ))

    def _header(self):
        return wrapping_row(
            html_pane(title_html(), min_width=300, sizing_mode="stretch_width"),
            html_pane(pn.bind(students_html, self.param.students, self.param.session_code),
                      css_classes=["cs-students"], width=260),
        )

    def _notices(self):
        """A fixed corner of the window: notices stack there and never move the cells."""
        return pn.pane.HTML(pn.bind(notices_html, self.param.notices), stylesheets=[NOTICES_CSS, FLOATING_CSS],
                            css_classes=["cs-notices-pane"], height=0, margin=0,
                            styles={"pointer-events": "none"})

    def _confirmation(self):
        """The second step of End session, Unpublish all and Rotate key."""
        return wrapping_row(
            html_pane(pn.bind(confirm_html, self.param.confirming, self.param.session_code),
                      min_width=280, sizing_mode="stretch_width"),
            pn.widgets.Button.from_param(self.param.confirm, label=pn.bind(confirm_label, self.param.confirming),
                                         color="danger", width=200, css_classes=["cs-confirm"]),
            pn.widgets.Button.from_param(self.param.cancel, variant="outline", width=100),
            visible=pn.bind(bool, self.param.confirming), css_classes=["cs-confirm-bar"],
            styles={"border": "2px solid #cf222e", "border-radius": "6px", "padding": "6px"},
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
        return wrapping_row(
            pn.widgets.TextInput.from_param(self.param.title, name="Session title (optional)",
                                            placeholder="e.g. Week 3: loops", width=300),
            pn.widgets.Button.from_param(self.param.start, color="primary", width=160, css_classes=["cs-start"]),
            visible=pn.bind(self._offers_start, self.param.loaded, self.param.session_code),
        )

    @staticmethod
    def _offers_start(loaded: bool, code: str) -> bool:
        return loaded and not code

    def _session_card(self):
        """The slim session bar: the code, the projector view, the lesson as a notebook, End session."""
        return wrapping_row(
            html_pane("<div class='cs-label'>Session</div>", margin=(0, 10)),
            html_pane(pn.bind(code_html, self.param.session_code), css_classes=["cs-code"]),
            pn.bind(copy_button, self.param.session_code, "session code"),
            html_pane(pn.bind(projector_link_html, self.param.session_code), css_classes=["cs-projector-pane"]),
            self._download_button(),
            pn.widgets.Button.from_param(self.param.end, color="danger", variant="outline", width=130),
            visible=pn.bind(bool, self.param.session_code), css_classes=["cs-session"],
        )

    def _download_button(self):
        """"Download the lesson": the published cells as one notebook, from GET …/notebook."""
        button = pn.widgets.FileDownload(label="Download the lesson", filename="lesson.ipynb", width=190,
                                         embed=False, css_classes=["cs-download"])

        async def fetch():
            got = await self.download_lesson()
            if got is None:
                return io.BytesIO(b"")
            content, name = got
            button.filename = name
            return io.BytesIO(content)

        button.callback = fetch
        return button

    def _join_card(self):
        """How students join: the URL and key to type, the join link and its QR code, Rotate key."""
        return pn.Column(
            html_pane("<h2 class='cs-side-title'>Students join</h2>"),
            html_pane(pn.bind(labelled_html, "Students enter this URL", self.param.student_url, "cs-url"),
                      sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.student_url, "teacher URL"),
            html_pane(pn.bind(key_html, self.param.student_key), sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.student_key, "student key"),
            self._join,
            pn.widgets.Button.from_param(self.param.rotate, color="warning", variant="outline", width=140),
            visible=pn.bind(bool, self.param.session_code), sizing_mode="stretch_width",
            css_classes=["cs-join-card"],
        )

    def _side_column(self):
        return pn.Column(self._hands_panel(), self._join_card(), width=SIDE_WIDTH, css_classes=["cs-side"],
                         styles={"flex": "1 1 340px", "max-width": "100%"})

    def _hands_panel(self):
        queue = HandsQueue(sizing_mode="stretch_width", css_classes=["cs-hands-queue"],
                           include_output=self.spotlight_outputs)
        queue.param.watch(self._on_hand_action, "action")
        queue.param.watch(lambda event: setattr(self, "spotlight_outputs", event.new), "include_output")
        self.param.watch(lambda event: setattr(queue, "include_output", event.new), "spotlight_outputs")
        self._hand_queues.append(queue)
        self._push_hands()
        return pn.Column(
            wrapping_row(
                html_pane(pn.bind(lambda hands, open_: hands_title_html(len(hands), open_),
                                  self.param.hands, self.param.hands_open)),
                pn.widgets.Button.from_param(self.param.toggle_hands, variant="outline", width=120,
                                             label=pn.bind(hands_button_label, self.param.hands_open),
                                             css_classes=["cs-toggle-hands"]),
            ),
            queue,
            visible=pn.bind(bool, self.param.session_code), sizing_mode="stretch_width",
            css_classes=["cs-hands-panel"],
        )

    def _cells_column(self):
        return pn.Column(
            self._notebook_bar(), self._progress(),
            html_pane(pn.bind(others_html, self.param.other_published)),
            self._new_cell_list(),
            min_width=340, sizing_mode="stretch_width", css_classes=["cs-cells-column"],
            styles={"flex": "3 1 480px"},
        )

    def _notebook_bar(self):
        bulk_disabled = pn.bind(self._bulk_disabled, self.param.busy, self.param.session_code)
        return wrapping_row(
            pn.widgets.Select.from_param(self.param.notebook_path, name="Notebook", width=300),
            pn.widgets.Button.from_param(self.param.reload, variant="outline", width=90),
            pn.widgets.Button.from_param(self.param.publish_all_cells, color="success", width=120,
                                         disabled=bulk_disabled, css_classes=["cs-publish-all"]),
            pn.widgets.Button.from_param(self.param.unpublish_all_cells, variant="outline", width=130,
                                         disabled=bulk_disabled, css_classes=["cs-unpublish-all"]),
        )

    def _progress(self):
        return pn.Row(
            pn.indicators.Progress(value=self.param.progress, max=pn.bind(max, self.param.progress_total, 1),
                                   width=300, bar_color="success"),
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
        cell_list.param.watch(self._on_show, "show")
        cell_list.param.watch(lambda _event: self.request_refresh(), "window_focus")
        self._cell_lists.append(cell_list)
        self._push_rows()
        return cell_list

    def _watch_row(self, row: CellRow) -> None:
        super()._watch_row(row)
        row.param.watch(self._schedule_push, ["html", "wanted", "published", "with_outputs", "focused"])

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

    def _row_for(self, wanted: dict) -> CellRow | None:
        return self._rows_by_id.get(str((wanted or {}).get("cell_id", "")))

    def _on_toggle(self, event: param.parameterized.Event) -> None:
        """A switch flipped in the browser: the row's ``wanted`` parameter drives the one request."""
        row, wanted = self._row_for(event.new), (event.new or {}).get("published")
        if row is None or not isinstance(wanted, bool) or row.wanted == wanted:
            self._schedule_push()
        else:
            row.wanted = wanted

    def _on_output_toggle(self, event: param.parameterized.Event) -> None:
        """The "+ output" box of a code cell: the row's ``with_outputs`` parameter drives the rest."""
        row, wanted = self._row_for(event.new), (event.new or {}).get("with_outputs")
        if row is None or not isinstance(wanted, bool):
            self._schedule_push()
            return
        row.with_outputs = wanted

    def _on_show(self, event: param.parameterized.Event) -> None:
        """Show (or stop showing) a published cell to the class: one PUT …/focus."""
        row, focused = self._row_for(event.new), (event.new or {}).get("focused")
        if row is None or not isinstance(focused, bool) or not row.published:
            self._schedule_push()
            return
        self._spawn(self.show_to_class(row.cell_id if focused else None), name="show cell")

    # -- the hands queue ----------------------------------------------------------------------
    @param.depends("hands", watch=True)
    def _push_hands(self) -> None:
        shown = [hand_view_state(hand, place) for place, hand in enumerate(self.hands, start=1)]
        for queue in self._hand_queues:
            queue.hands = shown

    def _on_hand_action(self, event: param.parameterized.Event) -> None:
        wanted = event.new or {}
        hand_id, action = wanted.get("hand_id"), wanted.get("action")
        if not isinstance(hand_id, str) or not any(hand["hand_id"] == hand_id for hand in self.hands):
            return
        if action in ("helping", "done"):
            self._spawn(self.set_hand(hand_id, action), name=f"hand {action}")
        elif action == "spotlight":
            self._spawn(self.spotlight(hand_id), name="spotlight")
