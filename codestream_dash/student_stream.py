"""The student dashboard's event part: one kept task follows ``GET codestream/api/student/events``.

It resumes with ``Last-Event-ID`` after a drop, drives the connection light, and hands each
event to the part that owns it (feed, follow-the-teacher, hands).
"""

from __future__ import annotations

import asyncio
import logging

import param

from jupyter_ext.clients import APIError
from jupyter_ext.domain.events import (
    CELL_EVENTS,
    EVENT_FOCUS,
    EVENT_PUBLISHED,
    EVENT_SESSION_ENDED,
    EVENT_UPDATED,
    TEACHER_REACHABLE,
    TEACHER_STREAM_REFUSED,
    TEACHER_UNREACHABLE,
)

from .student_model import NEEDS_NEW_CONFIG, cell_label, snippet

log = logging.getLogger(__name__)

EVENTS_PATH = "codestream/api/student/events"
EVENT_HAND_STATE = "hand_state"  # v3: the state of this student's own hand
RETRY_SECONDS = (0.5, 1, 2, 4, 8, 15)
SESSION_ENDED_TEXT = "The teacher ended this session. Pick or enter a new session when you get one."
STOPPED = ("error", "ended")  # the light states after which only a new configuration helps


class EventStreamPart(param.Parameterized):
    """Follows the relay for the dashboard's lifetime (the task is started by ``start``)."""

    async def _listen(self) -> None:
        """Follow the relay; reconnect with Last-Event-ID after a drop."""
        failures = 0
        try:
            while True:
                if not self.configured:
                    if self.connection not in STOPPED:
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
                    if self.connection in STOPPED:  # the session ended: wait for a new configuration
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
        if not isinstance(data, dict):
            data = {}
        if event.event in CELL_EVENTS:
            await self._cell_event(event.event, data)
        elif event.event == EVENT_FOCUS:
            self.apply_focus(data.get("cell_id"))
        elif event.event == EVENT_HAND_STATE:
            await self.hand_state_changed(data)
        elif event.event == EVENT_SESSION_ENDED:
            # a normal end of a lesson, not a failure: a grey light and a plain notice
            self.param.update(connection="ended", connection_message=SESSION_ENDED_TEXT, cells=[],
                              selected_cell_id=None, focus_cell_id=None)
            self._last_event_id = None
            self._toast("info", SESSION_ENDED_TEXT)

    async def _cell_event(self, name: str, data: dict) -> None:
        cell_id = str(data.get("cell_id", ""))
        known = {"number": data.get("number") or self._numbers.get(cell_id)}
        await self.refresh_feed()  # badge and diff start from the student's copy as saved now
        cell = next((c for c in self.cells if c.get("cell_id") == cell_id), None)
        label = cell_label(cell or known)
        what = f"{label}: {snippet(cell.get('source', ''))}" if cell else label
        if name == EVENT_PUBLISHED:
            self._toast("info", f"New cell from the teacher — {what}")
        elif name == EVENT_UPDATED and data.get("outputs_changed"):
            self._toast("info", f"The teacher changed the output of {label}.")
        elif name == EVENT_UPDATED:
            self._toast("warning", f"The teacher updated {what} (now v{data.get('version', '?')})")
        else:
            held = " What you pulled of it stays in your notebook." if self.copies.get(cell_id) else ""
            self._toast("info", f"The teacher withdrew {label}.{held}")
