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
from typing import Protocol

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

    def _lock_for(self, path: str) -> asyncio.Lock:
        lock = self._locks.get(path)
        if lock is None:
            lock = self._locks[path] = asyncio.Lock()
        return lock

    async def edit(self, notebook_path: str, change: NotebookChange, *, create: bool = False) -> tuple[object, bool]:
        """One change of a notebook under its pull lock: on the live document when it is open with
        collaboration (``change.live``: one synchronous step, nothing else runs in between), else
        on the file (``change.file``: one read, and one save when it says it changed something).
        ``create``: a missing notebook is created first. Returns ``(result, live)``."""
        path = notebook_file_path(notebook_path)
        async with self._lock_for(path):
            if create:
                await self._create_if_missing(path)
            else:
                await self._require_notebook(path)
            document = await self._live_document(path)
            if document is not None:
                return change.live(document), True
            nb = await self._read_notebook(path)
            result, changed = change.file(nb)
            if changed:
                await self._save_notebook(path, nb)
            return result, False

    def collaborative(self) -> bool:
        return self._web_settings().get(YDOC_SETTINGS_KEY) is not None

    async def pull(self, cell: Mapping, *, session: str, teacher_url: str, notebook_path: str,
                   position: Position, with_outputs: bool = False) -> dict:
        notebook_path = notebook_file_path(notebook_path)  # one lock per file, however spelled
        async with self._lock_for(notebook_path):
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

    async def _create_if_missing(self, path: str) -> None:
        contents = self._contents_manager()
        if await ensure_async(contents.file_exists(path)):
            return
        if await ensure_async(contents.dir_exists(path)):
            raise InvalidInput(f"{path} is a folder, not a notebook; choose a notebook.")
        folder = path.rpartition("/")[0]
        if folder and not await ensure_async(contents.dir_exists(folder)):
            raise NotebookNotFound(f"There is no folder {folder}; create it in JupyterLab or choose another.")
        await ensure_async(contents.save({"type": "notebook", "format": "json",
                                          "content": nbformat.v4.new_notebook()}, path))
        self.log.info("codestream: created %s", path)

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
        with document.ydoc.transaction():
            document.ycells.insert(where.index, document.create_ycell(value))
            _record_session_live(document, session, teacher_url)
        return where, node

    # -- file --------------------------------------------------------------------------------
    async def _insert_in_file(self, path: str, cell: Mapping, *, session: str, teacher_url: str,
                              position: Position, with_outputs: bool = False) -> tuple[Placement, dict]:
        nb = await self._read_notebook(path)
        where, node = insert_pulled_cell(nb, cell, session=session, teacher_url=teacher_url, position=position,
                                         with_outputs=with_outputs)
        await self._save_notebook(path, nb)
        return where, node

    async def _read_notebook(self, path: str) -> nbformat.NotebookNode:
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
        return nb

    async def _save_notebook(self, path: str, nb: nbformat.NotebookNode) -> None:
        """Save a changed notebook; an invalid result is refused (400) and nothing is written."""
        try:
            nbformat.validate(nb)
        except nbformat.ValidationError:
            raise InvalidInput(f"{path} is not a valid notebook, so nothing was changed; open it in"
                               " JupyterLab, save it, and try again.", code="invalid_notebook") from None
        await ensure_async(self._contents_manager().save({"type": "notebook", "format": "json", "content": nb}, path))


class NotebookChange(Protocol):
    """What ``NotebookPuller.edit`` runs: on the live document, or on the file's notebook."""

    def live(self, document) -> object: ...

    def file(self, nb: nbformat.NotebookNode) -> tuple[object, bool]: ...


def notebook_file_path(raw: str) -> str:
    """The one spelling of a notebook's path (one lock per file); not a notebook: ``400``."""
    path = normalize_notebook_path(raw)
    if not path.endswith(".ipynb"):
        raise InvalidInput("'notebook_path' must be a notebook (a path ending in .ipynb).")
    return path


def live_value(value):
    """A JSON value as the shared document stores it (numbers as floats, like jupyter_ydoc)."""
    return _cast_numbers(copy.deepcopy(value), int, float)


def live_cells(document) -> list[dict]:
    """The live document's cells as ``placement`` and the merge see them (id, Code Stream metadata)."""
    return [_live_cell_view(ycell) for ycell in document.ycells]


def append_live(document, nodes: list, *, session: str, teacher_url: str) -> None:
    """Append ``nodes`` to an open notebook and record the session, in one transaction."""
    with document.ydoc.transaction():
        for node in nodes:
            document.ycells.append(document.create_ycell(_cast_numbers(copy.deepcopy(dict(node)), int, float)))
        _record_session_live(document, session, teacher_url)


def _record_session_live(document, session: str, teacher_url: str) -> None:
    """The notebook's ``codestream`` metadata (where its pulled cells came from), in the caller's transaction."""
    from pycrdt import Map

    meta = document.ydoc.get("meta", type=Map)
    metadata = meta.get("metadata")
    if isinstance(metadata, Map):
        metadata[METADATA_KEY] = notebook_metadata(session, teacher_url)
    else:
        meta["metadata"] = Map({METADATA_KEY: notebook_metadata(session, teacher_url)})


def _live_cell_view(ycell) -> dict:
    """Just what placement needs (id and Code Stream metadata), without copying outputs."""
    metadata = ycell.get("metadata")
    origin = metadata.get(METADATA_KEY) if metadata is not None and hasattr(metadata, "get") else None
    if hasattr(origin, "to_py"):
        origin = origin.to_py()
    return {"id": ycell.get("id"), "metadata": {METADATA_KEY: origin} if origin is not None else {}}
