"""Undo a merge (contract v3 *Merge*: "nothing the student wrote is ever lost"), on the student's server.

The newest copy of the teacher's cell that holds ``codestream.before_merge`` gets that text back
and loses the key; with ``version`` (the version it was pulled at, which the dashboard knows)
its metadata moves back too, so the feed shows the teacher's update as not merged again. Like
the merge, one step under the notebook's pull lock, on the live document when it is open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import nbformat

from ..domain import CellNotFound, InvalidInput, validate_cell_id, validate_notebook_path
from ..domain.merge import BEFORE_MERGE
from ..domain.notebooks import METADATA_KEY
from .pull import live_cells, live_value, notebook_file_path
from .student import StudentService
from .student_merge import newest_copy


@dataclass(frozen=True)
class UndoRequest:
    notebook_path: str
    cell_id: str
    version: int | None = None


def parse_undo(body: dict) -> UndoRequest:
    path = notebook_file_path(validate_notebook_path(body.get("notebook_path"), required=True))
    if not isinstance(body.get("cell_id"), str):
        raise InvalidInput("'cell_id' is required: the id of the teacher's cell whose merge to undo.")
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
        raise InvalidInput("'version' must be a positive integer: the version the copy was pulled at.")
    return UndoRequest(path, validate_cell_id(body["cell_id"]), version)


class UndoChange:
    """The ``NotebookChange`` of an undo: find the merged copy and give it its text back."""

    def __init__(self, request: UndoRequest, session: str):
        self.request = request
        self.session = session

    def locate(self, cells) -> tuple[int, Mapping]:
        found = newest_copy(cells, session=self.session, cell_id=self.request.cell_id)
        if found is None or not isinstance(found[1].get(BEFORE_MERGE), str):
            raise CellNotFound(f"{self.request.notebook_path} holds no merged copy of cell {self.request.cell_id}"
                               " to undo.")
        return found

    def metadata(self, origin: Mapping) -> dict:
        restored = {key: value for key, value in origin.items() if key != BEFORE_MERGE}
        if self.request.version is not None:
            restored["version"] = self.request.version
        return restored

    def answer(self, index: int, source: str, origin: Mapping) -> dict:
        return {"notebook_path": self.request.notebook_path, "cell_id": self.request.cell_id, "index": index,
                "source": source, "version": int(self.metadata(origin).get("version") or 0)}

    def live(self, document) -> dict:
        index, origin = self.locate(live_cells(document))
        ycell = document.ycells[index]
        before = str(origin[BEFORE_MERGE])
        with document.ydoc.transaction():
            text = ycell["source"]
            del text[0:len(text)]
            text += before
            ycell["metadata"][METADATA_KEY] = live_value(self.metadata(origin))
        return self.answer(index, before, origin)

    def file(self, nb: nbformat.NotebookNode) -> tuple[dict, bool]:
        index, origin = self.locate(nb.cells)
        cell = nb.cells[index]
        before = str(origin[BEFORE_MERGE])
        cell["source"] = before
        cell.setdefault("metadata", {})[METADATA_KEY] = self.metadata(origin)
        return self.answer(index, before, origin), True


async def undo_merge(student: StudentService, body: dict) -> dict:
    """``POST student/merge/undo``: the copy's text as it was before the merge."""
    request = parse_undo(body)
    session = student.connection().session_code
    answer, live = await student.puller.edit(request.notebook_path, UndoChange(request, session))
    student.log.info("codestream: undid the merge of cell %s in %s (%s)", request.cell_id,
                     request.notebook_path, "live" if live else "file")
    return {**answer, "live": live}


__all__ = ["UndoChange", "parse_undo", "undo_merge"]
