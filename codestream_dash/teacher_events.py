"""The teacher dashboard following its session's event stream (teacher-authenticated, so it
also gets the teacher-only events: ``pulled``, ``runs``, ``hand``, ``hand_state``).

What each event costs: a cell event that our own write caused, nothing; another cell event
(a save in JupyterLab republished a cell, another tab), one re-read of notebook and list;
``pulled``/``runs``, one re-read of the cell list (its counts) unless the event carries them;
``focus``, nothing (it says which cell); ``hand``/``hand_state``, nothing (they carry the hand).
"""

from __future__ import annotations

import asyncio
import json

from jupyter_ext.clients import APIError
from jupyter_ext.domain.events import CELL_EVENTS, EVENT_FOCUS, EVENT_SESSION_ENDED

from .teacher_hands import HandsState
from .teacher_bulk import BulkPublishing

EVENT_PULLED = "pulled"
EVENT_RUNS = "runs"
EVENT_HAND = "hand"
EVENT_HAND_STATE = "hand_state"
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 15.0


def event_data(raw: str) -> dict:
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class EventsState(BulkPublishing, HandsState):
    """The listener of the live session's events and what each event changes."""

    def __init__(self, client, **params):
        super().__init__(client, **params)
        self._listener: asyncio.Task | None = None
        self._activity_task: asyncio.Task | None = None
        self._activity_again = False
        self.streams_opened = 0  # event streams that answered (tests wait for the first)

    async def settle(self) -> None:
        """Wait for the one-shot work started by parameter changes (not for the event listener)."""
        await self._tasks.settle(exclude={self._listener} if self._listener else None)

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
            resumed = self.last_event_id is not None
            try:
                async for event in self.client.events(f"codestream/api/sessions/{code}/events",
                                                      last_event_id=self.last_event_id,
                                                      on_open=self._opened if resumed else self._opened_fresh):
                    failures = 0
                    if reported:
                        reported = False
                        self._toast("success", "Following the session's events again.", duration=3000)
                    if event.id:
                        self.last_event_id = event.id
                    if event.event == EVENT_SESSION_ENDED:
                        self._session_over(code)
                        return
                    self.on_event(event.event, event_data(event.data))
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
            self.request_hands()

    def _opened(self) -> None:
        self.streams_opened += 1

    def _opened_fresh(self) -> None:
        """A stream opened without an id to resume from (a new session's empty stream): what
        happened between the first reads and now is read once more (a hand raised meanwhile)."""
        self._opened()
        self.request_hands()
        self.request_refresh()

    def on_event(self, name: str, data: dict) -> None:
        """One event of the session (tests call it too)."""
        if name in CELL_EVENTS:
            if not self.is_own_event(name, data):
                self.request_refresh()
        elif name == EVENT_FOCUS:
            cell_id = data.get("cell_id")
            self.focus = cell_id if isinstance(cell_id, str) else None
        elif name in (EVENT_PULLED, EVENT_RUNS):
            if not self._apply_counts(data):
                self.request_activity()
        elif name == EVENT_HAND:
            self.hand_arrived(data)
        elif name == EVENT_HAND_STATE:
            self.hand_changed(data)

    def _apply_counts(self, data: dict) -> bool:
        """A ``runs`` or ``pulled`` event that carries the cell's new counts: no request at all."""
        row = self._rows_by_id.get(data.get("cell_id")) if isinstance(data.get("cell_id"), str) else None
        carried = {key: data[key] for key in ("runs", "pulls") if isinstance(data.get(key), dict)}
        if not carried:
            return False
        if row is not None and row.published:
            row.show_activity(carried)
        return True

    def request_activity(self) -> None:
        """Re-read the cell list's counts soon; a burst of reports (thirty students) is one read more."""
        if self._activity_task is not None and not self._activity_task.done():
            self._activity_again = True
            return
        self._activity_task = self._spawn(self._activity_until_current(), name="refresh counts")

    async def _activity_until_current(self) -> None:
        while True:
            self._activity_again = False
            await self.refresh_activity()
            if not self._activity_again:
                return
