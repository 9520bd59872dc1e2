"""Putting a pulled cell into a student's notebook without destroying anything.

When the notebook is open with real-time collaboration, the cell goes into the live shared
document (it appears in the open tab; the student's concurrent typing is merged by the CRDT,
and the collaboration room saves the file). Otherwise the notebook file is read, changed and
written through the server's contents manager, one pull per notebook at a time.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import weakref
from collections.abc import Callable, Mapping

import nbformat
from jupyter_core.utils import ensure_async
from tornado import web

from ..domain import InvalidInput, NotebookNotFound
from ..domain.cells import normalize_notebook_path
from ..domain.notebooks import (
    METADATA_KEY,
    Placement,
    Position,
    build_cell,
    insert_pulled_cell,
    notebook_metadata,
    placement,
)

YDOC_SETTINGS_KEY = "jupyter_server_ydoc"


def _cast_numbers(value, from_type, to_type):
    """Yjs stores numbers as floats (as jupyter_ydoc does); the saved file gets ints back."""
    if isinstance(value, dict):
        return {k: _cast_numbers(v, from_type, to_type) for k, v in value.items()}
    if isinstance(value, list):
        return [_cast_numbers(v, from_type, to_type) for v in value]
    if type(value) is from_type:
        return to_type(value)
    return value


class NotebookPuller:
    """Inserts pulled cells; ``contents_manager`` and ``web_settings`` are looked up per call."""

    def __init__(self, contents_manager: Callable[[], object], web_settings: Callable[[], Mapping],
                 log: logging.Logger | None = None):
        self._contents_manager = contents_manager
        self._web_settings = web_settings
        self.log = log or logging.getLogger(__name__)
        # one lock per notebook while pulls into it are running; gone with the last of them
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def collaborative(self) -> bool:
        return self._web_settings().get(YDOC_SETTINGS_KEY) is not None

    async def pull(self, cell: Mapping, *, session: str, teacher_url: str, notebook_path: str,
                   position: Position, with_outputs: bool = False) -> dict:
        notebook_path = normalize_notebook_path(notebook_path)  # one lock per file, however spelled
        if not notebook_path.endswith(".ipynb"):
            raise InvalidInput("'notebook_path' must be a notebook (a path ending in .ipynb).")
        lock = self._locks.get(notebook_path)
        if lock is None:
            lock = self._locks[notebook_path] = asyncio.Lock()
        async with lock:
            await self._require_notebook(notebook_path)
            document = await self._live_document(notebook_path)
            if document is not None:
                where, node = self._insert_live(document, cell, session=session, teacher_url=teacher_url,
                                                position=position, with_outputs=with_outputs)
                live = True
            else:
                where, node = await self._insert_in_file(notebook_path, cell, session=session,
                                                         teacher_url=teacher_url, position=position,
                                                         with_outputs=with_outputs)
                live = False
        self.log.info("codestream: pulled cell %s v%s into %s at %d (%s)", cell["cell_id"],
                      cell["version"], notebook_path, where.index, "live" if live else "file")
        return {
            "notebook_path": notebook_path,
            "cell_id": cell["cell_id"],
            "index": where.index,
            "live": live,
            "version": cell["version"],
            "number": cell.get("number"),
            "with_outputs": bool(with_outputs and node.get("outputs")),
            "notebook_cell_id": node["id"],
            "previous_index": where.previous_index,
            # A tab open without collaboration still shows the old file: it must be reloaded.
            "reload_needed": not live and not self.collaborative(),
        }

    async def _require_notebook(self, path: str) -> None:
        contents = self._contents_manager()
        if not await ensure_async(contents.file_exists(path)):
            if await ensure_async(contents.dir_exists(path)):
                raise InvalidInput(f"{path} is a folder, not a notebook; choose a notebook.")
            raise NotebookNotFound(f"There is no notebook {path}; create it in JupyterLab or choose another.")

    # -- live (real-time collaboration) ------------------------------------------------------
    async def _live_document(self, path: str):
        extension = self._web_settings().get(YDOC_SETTINGS_KEY)
        if extension is None:
            return None
        try:
            document = await extension.get_document(path=path, content_type="notebook",
                                                    file_format="json", copy=False)
        except Exception as exc:  # the collaboration layer failing must not lose the pull
            self.log.warning("codestream: could not reach the live document of %s (%s); writing the file",
                             path, type(exc).__name__)
            return None
        if document is None or not hasattr(document, "ycells") or not hasattr(document, "create_ycell"):
            return None
        return document

    def _insert_live(self, document, cell: Mapping, *, session: str, teacher_url: str,
                     position: Position, with_outputs: bool = False) -> tuple[Placement, dict]:
        """One synchronous transaction: nothing else on the event loop runs in between."""
        cells = [_live_cell_view(ycell) for ycell in document.ycells]
        where = placement(cells, session=session, cell_id=cell["cell_id"], position=position)
        node = build_cell(cell, session, with_outputs=with_outputs)
        value = _cast_numbers(copy.deepcopy(dict(node)), int, float)
        from pycrdt import Map

        meta = document.ydoc.get("meta", type=Map)
        with document.ydoc.transaction():
            document.ycells.insert(where.index, document.create_ycell(value))
            metadata = meta.get("metadata")
            if isinstance(metadata, Map):
                metadata[METADATA_KEY] = notebook_metadata(session, teacher_url)
            else:
                meta["metadata"] = Map({METADATA_KEY: notebook_metadata(session, teacher_url)})
        return where, node

    # -- file --------------------------------------------------------------------------------
    async def _insert_in_file(self, path: str, cell: Mapping, *, session: str, teacher_url: str,
                              position: Position, with_outputs: bool = False) -> tuple[Placement, dict]:
        contents = self._contents_manager()
        try:
            model = await ensure_async(contents.get(path, content=True, type="notebook"))
        except web.HTTPError as exc:
            if exc.status_code == 404:
                raise NotebookNotFound(f"There is no notebook {path}; create it in JupyterLab or choose another.") from None
            raise InvalidInput(f"{path} could not be read as a notebook; open it in JupyterLab to check it.") from None
        nb = nbformat.from_dict(model["content"])
        if nb.get("nbformat") != 4:
            raise InvalidInput(f"{path} is not an nbformat 4 notebook; open and save it in JupyterLab first.")
        where, node = insert_pulled_cell(nb, cell, session=session, teacher_url=teacher_url, position=position,
                                         with_outputs=with_outputs)
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            raise InvalidInput(f"{path} is not a valid notebook, so nothing was added; open it in"
                               " JupyterLab, save it, and pull again.", code="invalid_notebook") from None
        await ensure_async(contents.save({"type": "notebook", "format": "json", "content": nb}, path))
        return where, node


def _live_cell_view(ycell) -> dict:
    """Just what placement needs (id and Code Stream metadata), without copying outputs."""
    metadata = ycell.get("metadata")
    origin = metadata.get(METADATA_KEY) if metadata is not None and hasattr(metadata, "get") else None
    if hasattr(origin, "to_py"):
        origin = origin.to_py()
    return {"id": ycell.get("id"), "metadata": {METADATA_KEY: origin} if origin is not None else {}}
