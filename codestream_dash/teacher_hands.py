"""The teacher's side of students talking back: the hands queue, Show (the class's focus) and
the lesson as a notebook to download.

Everything a hand carries (name, note, source, outputs) was written by a student and is
hostile to this page: it is kept here as data and only ever drawn by teacher_hands_view.py,
as escaped text or through the output sanitiser.
"""

from __future__ import annotations

import asyncio

import param

from jupyter_ext.clients import APIError

from .teacher_base import TeacherBase

HAND_STATES = ("waiting", "helping", "done")
MAX_SHOWN_HANDS = 500  # the contract's cap of open hands per session


def clean_hand(raw: dict) -> dict | None:
    """A hand as the dashboard keeps it: known fields of known types only."""
    if not isinstance(raw, dict) or not isinstance(raw.get("hand_id"), str) or not raw["hand_id"]:
        return None
    text = lambda key, limit: str(raw.get(key) or "")[:limit]  # noqa: E731
    number = raw.get("number")
    return {"hand_id": raw["hand_id"][:64], "name": text("name", 40), "note": text("note", 500),
            "cell_id": text("cell_id", 64), "number": number if isinstance(number, int) else None,
            "source": text("source", 64 * 1024), "raised": text("raised", 40),
            "outputs": [o for o in raw.get("outputs") or [] if isinstance(o, dict)][:50],
            "state": raw.get("state") if raw.get("state") in HAND_STATES else "waiting"}


class HandsState(TeacherBase):
    """The open hands of the live session, Show, and the lesson download."""

    hands = param.List(default=[], doc="Open hands, oldest first (clean_hand dicts).")
    hands_open = param.Boolean(default=True, doc="Students may raise hands (off for an exam).")
    spotlight_outputs = param.Boolean(default=False, doc="'Show to class' also shows the hand's output.")
    toggle_hands = param.Event(label="Close hands")
    lesson_file = param.Parameter(default=None, doc="(bytes, file name) of the last lesson download.")

    def __init__(self, client, **params):
        super().__init__(client, **params)
        self._hands_task: asyncio.Task | None = None

    # -- the queue ----------------------------------------------------------------------------
    def request_hands(self) -> None:
        if self.session_code and (self._hands_task is None or self._hands_task.done()):
            self._hands_task = self._spawn(self.refresh_hands(), name="read hands")

    async def refresh_hands(self) -> None:
        code = self.session_code
        if not code:
            return
        try:
            listing = await self.client.hands_listing(code)
        except APIError as exc:
            if exc.status != 404 or exc.code == "session_not_found":
                self._report(exc, "read the raised hands")
                self._forget_session_if_gone(exc)
            return
        if code == self.session_code:
            self._show_hands([hand for hand in map(clean_hand, listing.get("hands") or []) if hand])
            if isinstance(listing.get("hands_open"), bool):
                self.hands_open = listing["hands_open"]  # the switch as it is, after a reload

    def _show_hands(self, hands: list[dict]) -> None:
        open_hands = [hand for hand in hands if hand["state"] != "done"]
        open_hands.sort(key=lambda hand: hand["raised"])  # ISO times: oldest first
        self.hands = open_hands[:MAX_SHOWN_HANDS]

    def hand_arrived(self, data: dict) -> None:
        """The ``hand`` event: add (or replace, one hand per student) and tell the teacher quietly."""
        hand = clean_hand(data)
        if hand is None or not hand["source"] and "source" not in data:
            self.request_hands()  # an event that only names the hand: read the queue
            return
        self._show_hands([other for other in self.hands if other["hand_id"] != hand["hand_id"]] + [hand])
        where = f" on Cell {hand['number']}" if hand["number"] else ""
        self._toast("info", f"{hand['name'] or 'A student'} raised a hand{where}.", duration=5000)

    def hand_changed(self, data: dict) -> None:
        """The ``hand_state`` event: a hand is being helped, done, or lowered by its student."""
        hand_id, state = data.get("hand_id"), data.get("state")
        if not isinstance(hand_id, str):
            return
        if state in ("waiting", "helping"):
            self.hands = [{**hand, "state": state} if hand["hand_id"] == hand_id else hand for hand in self.hands]
        else:  # done, lowered, deleted
            self.hands = [hand for hand in self.hands if hand["hand_id"] != hand_id]

    async def set_hand(self, hand_id: str, state: str) -> None:
        """"Helping" / "Done" (one PATCH; the answer is the hand)."""
        if state not in ("helping", "done") or not self.session_code:
            return
        try:
            await self.client.set_hand_state(self.session_code, hand_id, state)
        except APIError as exc:
            self._report(exc, "change the hand's state")
            if exc.status == 404:
                self.hand_changed({"hand_id": hand_id, "state": "done"})
            return
        self.hand_changed({"hand_id": hand_id, "state": state})

    async def spotlight(self, hand_id: str) -> None:
        """"Show to class": the hand's code as a new cell marked "From a student", no name."""
        if not self.session_code:
            return
        try:
            cell = await self.client.spotlight_hand(self.session_code, hand_id, self.spotlight_outputs)
        except APIError as exc:
            self._report(exc, "show the student's code to the class")
            return
        self._toast("success", f"Shown to the class as a cell from a student, without a name "
                               f"(version {cell.get('version', 1)}).", duration=4000)

    async def set_hands_open(self, hands_open: bool) -> None:
        if not self.session_code:
            return
        try:
            await self.client.set_hands_open(self.session_code, hands_open)
        except APIError as exc:
            self._report(exc, "open hands" if hands_open else "close hands")
            return
        self.hands_open = hands_open
        self._toast("info", "Students can raise hands." if hands_open else
                    "Hands are closed: students cannot raise a hand until you open them.", duration=4000)

    @param.depends("toggle_hands", watch=True)
    def _on_toggle_hands(self):
        self._spawn(self.set_hands_open(not self.hands_open), name="hands open")

    @param.depends("hands_open", watch=True, on_init=True)
    def _hands_button_label(self):
        """The parameter's label says what the button does now (the view binds the same)."""
        self.param.toggle_hands.label = "Close hands" if self.hands_open else "Open hands"

    # -- Show (the class's focus) -------------------------------------------------------------
    async def show_to_class(self, cell_id: str | None) -> None:
        """One PUT …/focus; the ``focus`` event it causes marks the row (and every student's)."""
        if not self.session_code:
            return
        try:
            shown = await self.client.show_cell(self.session_code, cell_id)
        except APIError as exc:
            self._report(exc, "show the cell to the class")
            return
        self.focus = shown.get("cell_id")

    # -- the lesson as a notebook -------------------------------------------------------------
    async def download_lesson(self) -> tuple[bytes, str] | None:
        """The published cells as one notebook (``GET …/notebook``), or None (with a notice)."""
        if not self.session_code:
            return None
        try:
            self.lesson_file = await self.client.lesson_notebook(self.session_code)
        except APIError as exc:
            self._report(exc, "download the lesson")
            return None
        return self.lesson_file
