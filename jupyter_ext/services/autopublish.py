"""Publish on save: the teacher's explicit save republishes the changed published cells.

No file polling and no save event: an explicit save is the checkpoint JupyterLab creates right
after it (``handlers/explicit_save.py``), which none of the autosaves do, with or without
real-time collaboration. Half-typed code stays with the teacher until they save.

Every changed cell is sent on its own: one that fails (or whose output is too large) never
stops the others, and is kept in ``failures`` for the teacher's dashboard, with a retry.
"""

from __future__ import annotations

import logging

from jupyter_core.utils import ensure_async

from ..domain import CodeStreamError
from ..domain.outputs import validate_outputs
from ..domain.republish import republish_plan
from .publish_failures import PublishFailures
from .session_service import SessionService

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

    async def on_explicit_save(self, path: str) -> None:
        """The teacher saved ``path`` (a checkpoint was created right after the save)."""
        path = str(path or "").lstrip("/")
        if not path.endswith(".ipynb"):
            return
        try:
            await self.republish(path)
        except CodeStreamError as exc:  # no session list: nothing known to tell a session about
            self.log.warning("codestream: publish on save of %s failed: %s", path, exc.message)

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
