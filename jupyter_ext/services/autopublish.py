"""Publish on save: the contents manager's save event republishes changed published cells.

No file polling: Jupyter emits a ``contents_service`` event on every save, and this listener
reacts to it. With real-time collaboration only the teacher's explicit save counts (Ctrl+S,
the save command), never the room's own autosave (``collab_save``).

Every changed cell is sent on its own: one that fails (or whose output is too large) never
stops the others, and is kept in ``failures`` for the teacher's dashboard, with a retry.
"""

from __future__ import annotations

import logging

from jupyter_core.utils import ensure_async

from ..domain import CodeStreamError
from ..domain.outputs import validate_outputs
from ..domain.republish import republish_plan
from .collab_save import ROOM_AUTOSAVE, save_origin
from .publish_failures import PublishFailures
from .session_service import SessionService

CONTENTS_SCHEMA_ID = "https://events.jupyter.org/jupyter_server/contents_service/v1"
INTERNAL_MESSAGE = "The server failed to publish this cell; its log has the details."


def _reason(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, CodeStreamError):
        return exc.code, exc.message
    return "internal_error", INTERNAL_MESSAGE


class PublishOnSave:
    def __init__(self, service: SessionService, contents_manager, log: logging.Logger | None = None,
                 owner: str | None = None, failures: PublishFailures | None = None):
        self.service = service
        self.owner = owner  # only this owner's sessions are republished (None: every session)
        self.contents_manager = contents_manager
        self.log = log or logging.getLogger(__name__)
        self.failures = failures or PublishFailures()

    async def on_contents_event(self, logger=None, schema_id=None, data=None) -> None:
        """``jupyter_events`` listener; runs as a task that jupyter_events keeps."""
        data = data or {}
        if data.get("action") != "save" or not str(data.get("path", "")).endswith(".ipynb"):
            return
        if save_origin() == ROOM_AUTOSAVE:  # half-typed code stays with the teacher
            self.log.debug("codestream: %s autosaved by its collaboration room: not published", data["path"])
            return
        try:
            await self.republish(data["path"].lstrip("/"))
        except CodeStreamError as exc:  # no session list: nothing known to tell a session about
            self.log.warning("codestream: publish on save of %s failed: %s", data["path"], exc.message)

    async def retry(self, session: str | None = None) -> int:
        """Republish the notebooks of the kept failures (of ``session``); returns how many cells."""
        count = 0
        for path in sorted(self.failures.notebooks(session)):
            count += await self.republish(path)
        return count

    async def republish(self, path: str) -> int:
        """Republish the changed published cells of ``path`` in every live session; returns how many."""
        store = await self.service.provider.store(start=False)
        if store is None:
            return 0
        sessions = await store.list_sessions(self.owner)
        notebook_cells = None
        count = 0
        for session in sessions:
            code = session["code"]
            try:
                _record, published, _last = await store.list_cells(code)
                if not any(cell.notebook_path == path for cell in published):
                    continue
                if notebook_cells is None:
                    model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))
                    notebook_cells = model["content"].get("cells", [])
                plan = republish_plan(published, notebook_cells, path)
            except Exception as exc:  # this session's save failed as a whole; the others go on
                self._failed(code, None, path, None, exc)
                continue
            self.failures.clear_notebook(code, path)
            for cell_id, clean in plan:
                count += await self._publish_one(store, code, cell_id, clean, path)
        return count

    async def _publish_one(self, store, code: str, cell_id: str, clean: dict, path: str) -> int:
        number = clean.get("number")
        try:
            dropped = self._cap_outputs(clean, cell_id)
            cell = await store.publish_cell(code, cell_id, clean)
        except Exception as exc:
            self._failed(code, cell_id, path, number, exc)
            return 0
        self.failures.clear(code, cell_id)
        if dropped is not None:
            self.failures.record(code, cell_id, path, number=number, code=dropped.code, went_out=True,
                                 message=f"Its source went out without its output: {dropped.message}")
        self.log.debug("codestream: %s cell %s republished on save (v%s)", code, cell_id, cell.version)
        return 1

    def _failed(self, code: str, cell_id: str | None, path: str, number: int | None, exc: BaseException) -> None:
        error_code, message = _reason(exc)
        what = f"cell {cell_id}" if cell_id else "its cells"
        if isinstance(exc, CodeStreamError):
            self.log.warning("codestream: publish on save of %s to session %s: %s failed: %s",
                             path, code, what, message)
        else:
            self.log.error("codestream: publish on save of %s to session %s: %s failed", path, code, what,
                           exc_info=exc)
        self.failures.record(code, cell_id, path, number=number, code=error_code, message=message)

    def _cap_outputs(self, clean: dict, cell_id: str) -> CodeStreamError | None:
        """A saved output over the limit (or not valid) goes out as no output; returns why."""
        if clean.get("outputs") is None:
            return None
        try:
            clean["outputs"] = validate_outputs(clean["outputs"], clean["cell_type"],
                                                self.service.limits.max_output_bytes)
        except CodeStreamError as exc:
            self.log.warning("codestream: the output of cell %s is not republished: %s", cell_id, exc.message)
            clean["outputs"] = []
            return exc
        return None
