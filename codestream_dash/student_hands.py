"""The student dashboard's hands part: ask the teacher for help with a cell of my notebook,
see my hand's state live (``hand_state`` events), lower it; and whether my server shares if
my pulled cells ran (only ok/error and the exception's class name).

A ``param`` class mixed into ``StudentDashboard``. In laptop mode the student gives a name once
(kept in the student config); under JupyterHub the hub user is the name (``needs_name`` False).
"""

from __future__ import annotations

from html import escape

import panel as pn
import param

from jupyter_ext.clients import APIError

from .common import with_focus_ring
from .student_controls import checkbox_for
from .student_merge import MergePart
from .student_render import message_html

RUN_STATUS_TEXT = ("When on, your server tells the teacher whether each cell you pulled ran: only “ok” or “error”"
                   " and the exception's class name (e.g. NameError) — never your code, output or traceback.")


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def hand_state_text(hand: dict) -> str:
    """"waiting, 3rd", "the teacher is looking at it", "done"."""
    state = hand.get("state")
    if state == "helping":
        return "the teacher is looking at it"
    if state == "done":
        return "done"
    position = hand.get("position")
    if isinstance(position, int) and not isinstance(position, bool) and position > 0:
        return f"waiting, {ordinal(position)}"
    return "waiting"


class HandsPart(MergePart):
    """One open hand at a time (a new one replaces it, as the server does)."""

    hand_cell = param.Selector(default=None, objects=[], allow_None=True, label="Cell of my notebook",
                               doc="The cell you need help with (the one you pulled, by default).")
    hand_note = param.String(default="", label="Note for the teacher (optional)")
    hand_with_outputs = param.Boolean(default=True, label="Include my cell's output")
    ask_help = param.Event(label="Ask for help")
    my_hands = param.List(default=[], item_type=dict, doc="This student's hands with their state.")
    hand_message = param.String(default="")
    hand_ok = param.Boolean(default=None, allow_None=True)
    student_name = param.String(default="", label="Your name (shown to the teacher)")
    share_run_status = param.Boolean(default=True, label="Share whether my cells ran")

    needs_name = True  # laptop mode; under JupyterHub the hub user is the name

    def _apply_settings(self, config: dict) -> None:
        self._applying_settings = True
        try:
            self.param.update(student_name=str(config.get("name") or ""),
                              share_run_status=config.get("share_run_status") is not False)
        finally:
            self._applying_settings = False

    @param.depends("notebook_cells", "selected_cell_id", "copies", watch=True, on_init=False)
    def _on_notebook_cells(self):
        options = {label: index for index, label in self.notebook_cells}
        current = self.hand_cell
        self.param.hand_cell.objects = options
        copy = self.selected_copy() if self.selected_cell_id else None
        default = copy.index if copy is not None and copy.index in options.values() else None
        if default is None and self.copies:  # the cell pulled last, in notebook order
            default = max((c.index for held in self.copies.values() for c in held if c.index >= 0), default=None)
        if current not in options.values() or (default is not None and not self._hand_cell_chosen):
            self.hand_cell = default if default is not None else next(iter(options.values()), None)
            self._hand_cell_chosen = False

    @param.depends("ask_help", watch=True)
    def _on_ask_help(self):
        self._tasks.spawn(self.raise_hand(), name="codestream-student-hand")

    @param.depends("share_run_status", watch=True)
    def _on_share_run_status(self):
        if not getattr(self, "_applying_settings", False) and self.configured:
            self._tasks.spawn(self.save_settings(), name="codestream-student-settings")

    async def save_settings(self) -> bool:
        """Name and run-status sharing into the student config (with the teacher it already holds)."""
        body: dict = {"session_code": self.saved_session_code, "share_run_status": self.share_run_status}
        if self.needs_name:
            body.update(teacher_url=self.saved_teacher_url, name=self.student_name.strip())
        try:
            saved = await self.client.save_student_settings(body)
        except APIError as exc:
            self.param.update(hand_ok=False, hand_message=f"Could not save your settings: {exc.message}")
            return False
        if isinstance(saved, dict):
            self._apply_settings({"name": self.student_name, "share_run_status": self.share_run_status, **saved})
        return True

    async def raise_hand(self) -> dict | None:
        path = self.target_notebook
        if not self.configured or not path or self.hand_cell is None:
            self.param.update(hand_ok=False, hand_message="Join a session and choose a cell of your notebook first.")
            return None
        if self.needs_name and not self.student_name.strip():
            self.param.update(hand_ok=False, hand_message="Give your name first, so the teacher knows who asks.")
            return None
        if self.needs_name and self.student_name.strip() != self._saved_name:
            if not await self.save_settings():
                return None
            self._saved_name = self.student_name.strip()
        try:
            raised = await self.client.raise_hand(path, cell_index=int(self.hand_cell), note=self.hand_note.strip(),
                                                  with_outputs=self.hand_with_outputs)
        except APIError as exc:
            self.param.update(hand_ok=False, hand_message=f"Could not ask for help: {self._plain(exc.code, exc.message)}")
            return None
        self.param.update(hand_ok=True, hand_note="", hand_message="Your hand is up: the teacher sees your cell.")
        await self.refresh_hands()
        return raised

    async def hand_state_changed(self, data: dict) -> None:
        """A ``hand_state`` event (only this student's own hands reach this stream): shown at once."""
        hand_id, state = str(data.get("hand_id", "")), data.get("state")
        known = [dict(h) for h in self.my_hands]
        mine = next((h for h in known if str(h.get("hand_id")) == hand_id), None)
        if mine is None or not isinstance(state, str):
            await self.refresh_hands()
            return
        mine["state"] = state
        if state != "waiting":
            mine["position"] = None
        self.my_hands = known

    async def refresh_hands(self) -> None:
        """This student's hands and their state (after a ``hand_state`` event, or a raise)."""
        try:
            hands = await self.client.my_hands()
        except APIError as exc:
            self.param.update(hand_ok=False, hand_message=f"Could not read your hands: {exc.message}")
            return
        self.my_hands = [h for h in hands if isinstance(h, dict) and h.get("state") != "lowered"]

    async def lower(self, hand_id: str) -> bool:
        try:
            await self.client.lower_hand(hand_id)
        except APIError as exc:
            self.param.update(hand_ok=False, hand_message=f"Could not lower your hand: {exc.message}")
            return False
        self.param.update(hand_ok=True, hand_message="Hand lowered.")
        await self.refresh_hands()
        return True

    # -- views -------------------------------------------------------------------------------
    def _hands_box(self):
        cell_select = pn.widgets.Select.from_param(self.param.hand_cell, sizing_mode="stretch_width")
        cell_select.param.watch(lambda _event: setattr(self, "_hand_cell_chosen", True), "value")
        parts = []
        if self.needs_name:
            parts.append(pn.widgets.TextInput.from_param(self.param.student_name, max_length=40,
                                                         sizing_mode="stretch_width"))
        parts += [
            cell_select,
            pn.widgets.TextAreaInput.from_param(self.param.hand_note, max_length=500, height=70,
                                                sizing_mode="stretch_width"),
            checkbox_for(self, "hand_with_outputs", "cs-hand-outputs", margin=(5, 10)),
            pn.widgets.Button.from_param(self.param.ask_help, color="warning", disabled=self.param.busy,
                                         css_classes=["cs-ask-help"]),
            pn.pane.HTML(pn.bind(message_html, self.param.hand_message, self.param.hand_ok),
                         sizing_mode="stretch_width", css_classes=["cs-hand-message"]),
            self._my_hands_view,
            checkbox_for(self, "share_run_status", "cs-share-runs", margin=(5, 10)),
            pn.pane.HTML(f"<div style='font-size:12.5px;color:#57606a'>{escape(RUN_STATUS_TEXT)}</div>",
                         sizing_mode="stretch_width"),
        ]
        return pn.Card(*parts, title="Ask the teacher for help", collapsed=False, sizing_mode="stretch_width",
                       visible=self.param.configured, css_classes=["cs-hands"])

    @param.depends("my_hands")
    def _my_hands_view(self):
        rows = []
        for hand in self.my_hands:
            state = hand_state_text(hand)
            text = pn.pane.HTML(f"<div class='cs-hand-state' data-state='{escape(str(hand.get('state', '')))}'"
                                f" style='font-size:14px'>Your hand: <b>{escape(state)}</b>"
                                f"{' — ' + escape(str(hand.get('note'))) if hand.get('note') else ''}</div>",
                                sizing_mode="stretch_width")
            row = [text]
            if hand.get("state") != "done" and hand.get("hand_id"):
                button = pn.widgets.Button(label="Lower my hand", variant="outline", css_classes=["cs-lower-hand"])
                button.on_click(lambda _e, hand_id=str(hand["hand_id"]): self._tasks.spawn(
                    self.lower(hand_id), name="codestream-student-lower"))
                row.append(button)
            rows.append(pn.Row(*row, sizing_mode="stretch_width"))
        return with_focus_ring(pn.Column(*rows, sizing_mode="stretch_width", css_classes=["cs-my-hands"]))
