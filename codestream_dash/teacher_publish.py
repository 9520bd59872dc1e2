"""The chosen notebook's cells and their switches: one request per flip.

A flip sets the row's ``wanted``; one PUT (or DELETE) moves the server there and its answer
sets ``published``. Nothing is re-read before it, and the event our own write causes is
recognised and not re-read either. Flips made while a request is in flight are coalesced: when
the answer comes, one more request is sent only if ``wanted`` still differs.
"""

from __future__ import annotations

import asyncio

import param

from jupyter_ext.clients import APIError

from .common import cell_source
from .teacher_base import TeacherBase, log
from .teacher_rows import CellRow

# A 503 store_unavailable (Redis restarting, a Redis Cluster failover: a few seconds) is sent
# again after these waits; publishing the same cell again is safe (same source, same version).
STORE_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0)


class PublishingState(TeacherBase):
    """The notebook shown, its rows, and publishing them (one at a time or all at once)."""

    notebook_path = param.Selector(default=None, objects=[], allow_None=True, doc="The notebook shown.")
    rows = param.List(default=[], item_type=CellRow, doc="The notebook's cells, in notebook order.")
    other_published = param.Integer(default=0, doc="Published cells of this session from other notebooks.")
    focus = param.String(default=None, allow_None=True, doc="The cell shown to the class (Show).")
    busy = param.Boolean(default=False, doc="A bulk publish/unpublish is running (teacher_bulk.py).")
    last_event_id = param.String(default=None, allow_None=True, doc="Where the event stream resumes.")

    def __init__(self, client, **params):
        super().__init__(client, **params)
        self._rows_by_id: dict[str, CellRow] = {}
        self._refresh_task: asyncio.Task | None = None
        self._refresh_again = False
        self._refresh_after_bulk = False
        self._writing: dict[str, asyncio.Task] = {}  # cell id -> its flip in flight
        self._own_writes: dict[str, int] = {}  # cell id -> version our last write made (0: unpublished)
        self._writes_done = 0  # answers of our own writes so far; a list read before one is older
        self._written_at: dict[str, int] = {}  # cell id -> _writes_done when its last answer came
        self.requests_sent = 0  # PUT/DELETE of cells, for tests of "one request per flip"

    # -- notebooks and cells ------------------------------------------------------------------
    async def refresh_notebooks(self) -> None:
        try:
            paths = await self.client.list_notebooks()
        except APIError as exc:
            self._report(exc, "list the notebooks")
            return
        current = self.notebook_path
        self.param.notebook_path.objects = paths
        if current not in paths:
            self.notebook_path = paths[0] if paths and current is None else None

    @param.depends("notebook_path", watch=True)
    def _on_notebook_chosen(self):
        self.request_refresh()

    def request_refresh(self) -> None:
        """Re-read notebook and cells soon; requests made during a refresh coalesce into one more,
        and those made during a bulk publish wait for its end (it knows every new version)."""
        if self.busy:
            self._refresh_after_bulk = True
            return
        if self._refresh_task is not None and not self._refresh_task.done():
            self._refresh_again = True
            return
        self._refresh_task = self._spawn(self._refresh_until_current(), name="refresh cells")

    async def _refresh_until_current(self) -> None:
        while True:
            self._refresh_again = False
            await self.refresh_cells()
            if not self._refresh_again:
                return

    async def refresh_cells(self) -> bool:
        """Re-read the saved notebook and the session's published cells; update every row.

        False when that failed (the teacher got a notice saying why).
        """
        path, code = self.notebook_path, self.session_code
        started = self._writes_done
        notebook_cells = await self._read_notebook(path) if path else []
        if notebook_cells is None:
            return False
        listing = await self._read_cells(code) if code else {"cells": []}
        if listing is None:
            return False
        if path != self.notebook_path or code != self.session_code:
            return True  # the teacher switched meanwhile; that switch asked for its own refresh
        self._apply(notebook_cells, {cell["cell_id"]: cell for cell in listing["cells"]}, started)
        return True

    async def refresh_activity(self) -> None:
        """Re-read only the session's cell list (pulls, runs, focus): a student's report changes no notebook."""
        code = self.session_code
        listing = await self._read_cells(code) if code else None
        if listing is None or code != self.session_code:
            return
        for cell in listing["cells"]:
            row = self._rows_by_id.get(cell["cell_id"])
            if row is not None and row.published:
                row.show_activity(cell)

    async def _read_cells(self, code: str) -> dict | None:
        try:
            listing = await self.client.session_cells(code)
        except APIError as exc:
            self._report(exc, "read the published cells")
            self._forget_session_if_gone(exc)
            return None
        if self.last_event_id is None:
            self.last_event_id = listing.get("last_event_id")
        if "focus" in listing:
            self.focus = listing.get("focus")
        return listing

    async def _read_notebook(self, path: str) -> list[dict] | None:
        try:
            model = await self.client.get_notebook(path)
        except APIError as exc:
            if exc.status == 404:
                message = (f"The notebook {path} is gone (deleted, moved or renamed). "
                           "Pick it again from the list once it is back, or pick another one.")
                self.last_error = message
                self._toast("error", message)
                self._rows_by_id.clear()
                self.rows = []
                await self.refresh_notebooks()
            else:
                self._report(exc, f"read {path}")
            return None
        return (model.get("content") or {}).get("cells") or []

    def _apply(self, notebook_cells: list[dict], published: dict[str, dict], started: int | None = None) -> None:
        """``started``: ``_writes_done`` when the reads began; a row whose own write was answered
        since then keeps that answer (the list is older than it)."""
        rows, seen = [], set()
        for index, cell in enumerate(notebook_cells):
            cell_id = cell.get("id") or ""
            if cell_id in seen:
                cell_id = ""  # a duplicated id cannot be published reliably
            seen.add(cell_id)
            key = cell_id or f"#{index}"
            row = self._rows_by_id.get(key)
            shown = {"index": index, "cell_type": cell.get("cell_type", "code"), "source": cell_source(cell),
                     "outputs": [dict(o) for o in cell.get("outputs") or []] if cell.get("cell_type") == "code" else []}
            if row is None:
                row = CellRow(cell_id=cell_id, **shown)
                self._watch_row(row)
                self._rows_by_id[key] = row
            else:
                row.param.update(**shown)
            newer = cell_id in self._writing or (started is not None and self._written_at.get(cell_id, -1) > started)
            if not newer:  # a flip in flight or answered meanwhile is newer than this list
                row.show_published(published.get(cell_id) if cell_id else None)
            rows.append(row)
        shown_ids = {row.cell_id for row in rows}
        self.other_published = sum(1 for cell_id in published if cell_id not in shown_ids)
        kept = {id(row) for row in rows}
        for key in [k for k, row in self._rows_by_id.items() if id(row) not in kept]:
            del self._rows_by_id[key]
        if len(rows) != len(self.rows) or any(a is not b for a, b in zip(rows, self.rows)):
            self.rows = rows
        self._mark_focus()

    @param.depends("focus", watch=True)
    def _mark_focus(self):
        for row in self.rows:
            focused = bool(row.cell_id) and row.cell_id == self.focus
            if row.focused != focused:
                row.focused = focused

    def row(self, cell_id: str) -> CellRow:
        return self._rows_by_id[cell_id]

    def _watch_row(self, row: CellRow) -> None:
        """A new row: its switch publishes, its output choice republishes (the view adds its own watcher)."""
        row.param.watch(self._on_wanted, "wanted")
        row.param.watch(self._on_output_choice, "with_outputs")

    # -- one flip, one request ----------------------------------------------------------------
    def _on_wanted(self, event: param.parameterized.Event) -> None:
        row: CellRow = event.obj
        if row.wanted != row.published and row.cell_id not in self._writing:
            self._start_write(row)

    def _on_output_choice(self, event: param.parameterized.Event) -> None:
        row: CellRow = event.obj
        if event.new == (row.published_outputs is not None):
            return  # the server already agrees (the choice followed a list)
        if row.published and row.wanted and row.cell_id not in self._writing:
            self._start_write(row, with_outputs=event.new)

    def _start_write(self, row: CellRow, *, with_outputs: bool | None = None) -> None:
        self._writing[row.cell_id] = self._spawn(self._converge(row, with_outputs), name=f"switch {row.cell_id}")

    async def _converge(self, row: CellRow, with_outputs: bool | None) -> None:
        """Send the one request that makes ``published`` what ``wanted`` says; again only if the
        teacher flipped once more meanwhile."""
        try:
            if self._refresh_task is not None and not self._refresh_task.done():
                await asyncio.shield(self._refresh_task)  # a read already asked for (e.g. the tab got focus)
            first = True
            while first or row.wanted != row.published:
                first = False
                if not await self._write(row, row.wanted, with_outputs):
                    row.wanted = row.published  # the switch goes back
                    return
                with_outputs = None
        finally:
            self._writing.pop(row.cell_id, None)

    async def set_published(self, cell_id: str, publish: bool, *, with_outputs: bool | None = None) -> None:
        """The switch of one cell, awaited (tests and the bulk buttons' single-cell cousin)."""
        row = self._rows_by_id.get(cell_id)
        if row is None:
            return
        row.wanted = publish
        if publish and row.published and with_outputs is not None and cell_id not in self._writing:
            row.with_outputs = with_outputs
        task = self._writing.get(cell_id)
        if task is not None:
            await asyncio.shield(task)

    async def _write(self, row: CellRow, publish: bool, with_outputs: bool | None) -> bool:
        """One PUT or DELETE; False (and a notice) when it failed or cannot be sent."""
        if not self.session_code:
            self._toast("warning", "Start a session first: students can only get cells of a live session.")
            return False
        if not row.cell_id:
            self._toast("warning", "This cell has no id; save the notebook in JupyterLab 4 to give it one.")
            return False
        try:
            await self._publish_one(row, publish, with_outputs)
        except APIError as exc:
            self._report(exc, f"{'publish' if publish else 'unpublish'} Cell {row.number}")
            self._forget_session_if_gone(exc)
            return False
        return True

    async def _publish_one(self, row: CellRow, publish: bool, with_outputs: bool | None = None, *,
                           follow_switch: bool = False) -> None:
        """``with_outputs`` (the teacher's new choice) wins over the row's, which a list reset."""
        code = self.session_code
        try:
            for delay in (*STORE_RETRY_DELAYS, None):
                self.requests_sent += 1
                try:
                    await self._send(row, code, publish, with_outputs, follow_switch)
                    break
                except APIError as exc:  # Redis restarting or failing over: a few seconds
                    if exc.code != "store_unavailable" or delay is None:
                        raise
                    log.info("codestream teacher dashboard: Redis unavailable; sending Cell %s again in %.1f s",
                             row.number, delay)
                    await asyncio.sleep(delay)
        finally:
            self._writes_done += 1
            self._written_at[row.cell_id] = self._writes_done

    async def _send(self, row: CellRow, code: str, publish: bool, with_outputs: bool | None,
                    follow_switch: bool) -> None:
        if publish:
            source, cell_type = row.source, row.cell_type
            outputs = row.outputs_to_publish if with_outputs is None else row.outputs_for(with_outputs)
            result = await self.client.publish_cell(code, row.cell_id, source, cell_type, float(row.index),
                                                    notebook_path=self.notebook_path, number=row.number,
                                                    outputs=outputs)
            published = {"version": result["version"], "source": source, "cell_type": cell_type}
            if outputs is not None:
                published["outputs"] = outputs
            self._own_writes[row.cell_id] = int(result["version"])
            pulls, runs = row.pulls, row.runs
            row.show_published(published, follow_switch=follow_switch)
            if int(result["version"]) == row.published_version:
                row.param.update(pulls=pulls, runs=runs)  # a republish keeps what students did
        else:
            try:
                await self.client.unpublish_cell(code, row.cell_id)
            except APIError as exc:
                if exc.code != "cell_not_found":
                    raise
            self._own_writes[row.cell_id] = 0
            row.show_published(None, follow_switch=follow_switch)

    def is_own_event(self, name: str, data: dict) -> bool:
        """The event our own write caused (or one a write in flight will answer for): nothing to re-read."""
        cell_id = data.get("cell_id") if isinstance(data, dict) else None
        if not isinstance(cell_id, str):
            return False
        if cell_id in self._writing:
            return True
        version = 0 if name == "unpublished" else data.get("version")
        if cell_id in self._own_writes and self._own_writes[cell_id] == version:
            del self._own_writes[cell_id]
            return True
        return False
