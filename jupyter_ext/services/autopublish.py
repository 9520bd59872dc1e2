"""Publish on save: the contents manager's save event republishes changed published cells.

No file polling: Jupyter emits a ``contents_service`` event on every save, and this listener
reacts to it. With real-time collaboration only the teacher's explicit save counts (Ctrl+S,
the save command), never the room's own autosave (``collab_save``).
"""

from __future__ import annotations

import logging

from jupyter_core.utils import ensure_async

from ..domain import CodeStreamError
from ..domain.outputs import validate_outputs
from ..domain.republish import republish_plan
from .collab_save import ROOM_AUTOSAVE, save_origin
from .teacher import TeacherService

CONTENTS_SCHEMA_ID = "https://events.jupyter.org/jupyter_server/contents_service/v1"


class PublishOnSave:
    def __init__(self, service: TeacherService, contents_manager, log: logging.Logger | None = None,
                 owner: str | None = None):
        self.service = service
        self.owner = owner  # only this owner's sessions are republished (None: every session)
        self.contents_manager = contents_manager
        self.log = log or logging.getLogger(__name__)

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
        except CodeStreamError as exc:
            self.log.warning("codestream: publish on save of %s failed: %s", data["path"], exc.message)

    async def republish(self, path: str) -> int:
        """Republish the changed published cells of ``path`` in every live session; returns how many."""
        store = await self.service.provider.store(start=False)
        if store is None:
            return 0
        sessions = await store.list_sessions(self.owner)
        notebook_cells = None
        count = 0
        for session in sessions:
            _record, published, _last = await store.list_cells(session["code"])
            if not any(cell.notebook_path == path for cell in published):
                continue
            if notebook_cells is None:
                model = await ensure_async(self.contents_manager.get(path, content=True, type="notebook"))
                notebook_cells = model["content"].get("cells", [])
            for cell_id, clean in republish_plan(published, notebook_cells, path):
                self._cap_outputs(clean, cell_id)
                cell = await store.publish_cell(session["code"], cell_id, clean)
                count += 1
                self.log.debug("codestream: %s cell %s republished on save (v%s)",
                               session["code"], cell_id, cell.version)
        return count

    def _cap_outputs(self, clean: dict, cell_id: str) -> None:
        """A saved output over the limit (or not valid) goes out as no output, with a log line."""
        if clean.get("outputs") is None:
            return
        try:
            clean["outputs"] = validate_outputs(clean["outputs"], clean["cell_type"],
                                                self.service.limits.max_output_bytes)
        except CodeStreamError as exc:
            self.log.warning("codestream: the output of cell %s is not republished: %s", cell_id, exc.message)
            clean["outputs"] = []
