"""The student's side of talking back: raising a hand with a cell of my notebook, and telling
the teacher how my runs of pulled cells ended (state and exception class name, nothing else).

Both read the student's notebook as it is: the live jupyter-collaboration document when the
notebook is open in a room, else the saved file (as ``services/pull.py`` writes to them).
Both reach the teacher through the student's one teacher client: the session's key on a
laptop, the hub token (to the hub service) under JupyterHub.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict

from jupyter_core.utils import ensure_async

from ..domain import CodeStreamError, InvalidInput, NotebookNotFound, iso_timestamp, validate_notebook_path
from ..domain.events import EVENT_HAND_STATE, Event
from ..domain.notebooks import pulled_from
from ..domain.talkback import HAND_LOWERED, HAND_STATES, MAX_NOTE_CHARS, kept_hands, validate_hand_id
from .student import StudentService

# Jupyter emits one on every save of the contents manager (the student's runs are heard there)
CONTENTS_SCHEMA_ID = "https://events.jupyter.org/jupyter_server/contents_service/v1"
PASSED_ON = ("hands_closed", "too_many_requests", "payload_too_large", "hand_not_found", "cell_not_found",
             "invalid_input", "forbidden")
MAX_OWN_HANDS = 50
MAX_REPORTED_CELLS = 2000


async def read_notebook_cells(student: StudentService, path: str) -> list[dict]:
    """The notebook's cells as plain dicts: the live document when open, else the file."""
    document = await student.puller._live_document(path)
    if document is not None:
        return list(document.get().get("cells", []))
    contents = student.puller._contents_manager()
    if not await ensure_async(contents.file_exists(path)):
        raise NotebookNotFound(f"There is no notebook {path}; choose one of your notebooks.")
    model = await ensure_async(contents.get(path, content=True, type="notebook"))
    return list(model["content"].get("cells", []))


def pick_cell(cells: list[dict], body: dict) -> dict:
    """``cell_index`` (0-based) or ``cell_id`` (the notebook cell's id, or the teacher's cell id
    of a pulled copy: the newest copy)."""
    index, cell_id = body.get("cell_index"), body.get("cell_id")
    if index is not None:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(cells):
            raise InvalidInput(f"'cell_index' must be the index of a cell of the notebook (0 to {len(cells) - 1}).")
        return cells[index]
    if not isinstance(cell_id, str):
        raise InvalidInput("Say which cell: 'cell_index' (from 0) or 'cell_id'.")
    for cell in cells:
        if cell.get("id") == cell_id:
            return cell
    copies = [c for c in cells if (pulled_from(c) or {}).get("cell_id") == cell_id]
    if not copies:
        raise InvalidInput(f"The notebook has no cell {cell_id}.")
    return max(copies, key=lambda c: float((pulled_from(c) or {}).get("version") or 0))


def source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def run_result(cell: dict) -> tuple[str, str] | None:
    """How the cell's last run ended: ``("error", ename)``, ``("ok", "")``, or None (no result)."""
    if cell.get("cell_type") != "code":
        return None
    outputs = cell.get("outputs") or []
    for output in outputs:
        if isinstance(output, dict) and output.get("output_type") == "error":
            ename = str(output.get("ename") or "Exception")[:64]
            return "error", ename if ename.replace(".", "_").isidentifier() else "Exception"
    if outputs or cell.get("execution_count") is not None:
        return "ok", ""
    return None


class StudentTalkback:
    """Hands raised by this student server, and the run reports it sends."""

    def __init__(self, student: StudentService, *, share_run_status: bool = True,
                 log: logging.Logger | None = None):
        self.student = student
        self.share_run_status = share_run_status  # c.CodeStreamApp.share_run_status
        self.log = log or logging.getLogger(__name__)
        # the hands this server raised, kept on disk so a restart of the student's server keeps them
        self.hands: OrderedDict[str, dict] = OrderedDict(
            (hand["hand_id"], hand) for hand in kept_hands(student.store.load_hands())[-MAX_OWN_HANDS:])
        self._reported: OrderedDict[tuple[str, str], tuple] = OrderedDict()  # (session, cell) -> sent
        self._tasks: set[asyncio.Task] = set()

    # -- hands ---------------------------------------------------------------------------
    async def raise_hand(self, body: dict) -> dict:
        path = validate_notebook_path(body.get("notebook_path"), required=True)
        note = body.get("note") or ""
        if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
            raise InvalidInput(f"'note' is at most {MAX_NOTE_CHARS} characters.")
        with_outputs = body.get("with_outputs", False)
        if not isinstance(with_outputs, bool):
            raise InvalidInput("'with_outputs' must be true or false.")
        cell = pick_cell(await read_notebook_cells(self.student, path), body)
        origin = pulled_from(cell) or {}
        connection = self.student._connection()
        config = self.student.config()
        hand = {"client": self.student.store.client_id(), "source": source_text(cell), "note": note}
        if config.name:
            hand["name"] = config.name
        if origin.get("cell_id") and origin.get("session") == connection.session_code:
            hand["cell_id"] = origin["cell_id"]
        if with_outputs and cell.get("cell_type") == "code":
            hand["outputs"] = list(cell.get("outputs") or [])
        answer = await self.student.teacher.send_json(
            connection, "POST", f"codestream/api/sessions/{connection.session_code}/hands", hand,
            passed_on=PASSED_ON)
        hand_id = validate_hand_id((answer or {}).get("hand_id"))
        for mine in self.hands.values():  # the teacher keeps one open hand per client
            if mine["state"] in ("waiting", "helping"):
                mine["state"] = HAND_LOWERED
        self.hands[hand_id] = {"hand_id": hand_id, "session": connection.session_code, "notebook_path": path,
                               "cell_id": hand.get("cell_id"), "note": note, "raised": iso_timestamp_now(),
                               "state": "waiting", "position": (answer or {}).get("position")}
        while len(self.hands) > MAX_OWN_HANDS:
            self.hands.popitem(last=False)
        self._keep_hands()
        return {"hand_id": hand_id, "position": self.hands[hand_id]["position"]}

    def _keep_hands(self) -> None:
        self.student.store.save_hands(list(self.hands.values()))

    def list_hands(self) -> dict:
        return {"hands": [dict(h) for h in reversed(self.hands.values())]}

    async def lower_hand(self, hand_id: str) -> None:
        hand_id = validate_hand_id(hand_id)
        mine = self.hands.get(hand_id)
        if mine is None:
            raise CodeStreamError(f"This server raised no hand {hand_id}.", code="hand_not_found", status=404)
        connection = self.student._connection(mine["session"])
        client = self.student.store.client_id()
        try:
            await self.student.teacher.send_json(
                connection, "DELETE",
                f"codestream/api/sessions/{mine['session']}/hands/{hand_id}?client={client}", passed_on=PASSED_ON)
        except CodeStreamError as exc:
            if exc.code != "hand_not_found":  # already gone there: gone here too
                raise
        self.hands.pop(hand_id, None)
        self._keep_hands()

    def observe(self, event: Event) -> None:
        """A ``hand_state`` event of my upstream stream (only my own hands' reach it)."""
        if event.name != EVENT_HAND_STATE:
            return
        mine = self.hands.get(str(event.data.get("hand_id")))
        state = event.data.get("state")
        if mine is not None and state in (*HAND_STATES, HAND_LOWERED) and state != mine["state"]:
            mine["state"] = state
            if state != "waiting":
                mine["position"] = None
            self._keep_hands()

    # -- run status ----------------------------------------------------------------------
    def sharing(self) -> bool:
        config = self.student.store.config
        return self.share_run_status and config is not None and config.share_run_status

    async def on_contents_event(self, logger=None, schema_id=None, data=None) -> None:
        """``contents_service`` save of a notebook (the student's own save, or a collaboration
        room's autosave, which carries the kernel's results): report changed run results."""
        data = data or {}
        if data.get("action") != "save" or not str(data.get("path", "")).endswith(".ipynb"):
            return
        if not self.sharing() or not self.student.is_configured():
            return
        try:
            await self.report_runs(data["path"].lstrip("/"))
        except CodeStreamError as exc:
            self.log.info("codestream: run status of %s not sent: %s", data["path"], exc.code)
        except Exception as exc:  # a notebook we cannot read is no reason to fail a save
            self.log.info("codestream: run status of %s not read (%s)", data["path"], type(exc).__name__)

    async def report_runs(self, path: str) -> int:
        """Send the teacher each pulled cell of this session whose result changed; how many."""
        connection = self.student._connection()
        code = connection.session_code
        latest: dict[str, tuple[int, str, str]] = {}
        for cell in await read_notebook_cells(self.student, path):
            origin = pulled_from(cell) or {}
            if origin.get("session") != code or not isinstance(origin.get("cell_id"), str):
                continue
            result = run_result(cell)
            if result is None:
                continue
            try:
                version = int(origin.get("version") or 0)
            except (TypeError, ValueError):
                continue
            if version >= 1:
                latest[origin["cell_id"]] = (version, *result)
        sent = 0
        for cell_id, (version, state, ename) in latest.items():
            if self._reported.get((code, cell_id)) == (version, state, ename):
                continue
            body = {"client": self.student.store.client_id(), "version": version, "state": state}
            if ename:
                body["ename"] = ename
            try:
                await self.student.teacher.send_json(
                    connection, "POST", f"codestream/api/sessions/{code}/cells/{cell_id}/runs", body,
                    passed_on=PASSED_ON)
            except CodeStreamError as exc:
                self.log.info("codestream: run of cell %s not reported: %s", cell_id, exc.code)
                continue
            self._reported[(code, cell_id)] = (version, state, ename)
            self._reported.move_to_end((code, cell_id))
            while len(self._reported) > MAX_REPORTED_CELLS:
                self._reported.popitem(last=False)
            sent += 1
        return sent


def iso_timestamp_now() -> str:
    import time

    return iso_timestamp(time.time())
