"""Merge a teacher's update into the copy a student edited (contract v3), on the student's server.

base = the version the copy was pulled at (a past version from the teacher), mine = the copy
now (the live document when the notebook is open), theirs = the teacher's newest version. The
merge (``domain/merge.py``, merge3) and, with ``apply``, the replacement of the copy's source
run in one step under the notebook's pull lock, on the text the copy has at that moment: what
the student typed just before is merged, never overwritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import nbformat

from ..domain import CellNotFound, InvalidInput, validate_cell_id, validate_notebook_path
from ..domain.cells import DEFAULT_MAX_SOURCE_BYTES
from ..domain.errors import MergeConflict, PayloadTooLarge
from ..domain.merge import MergeResult, merge_texts, merged_metadata
from ..domain.notebooks import METADATA_KEY, pulled_from
from .pull import live_cells, live_value, notebook_file_path
from .student import StudentService


@dataclass(frozen=True)
class MergeRequest:
    notebook_path: str
    cell_id: str
    apply: bool = False
    resolution: str | None = None


def parse_merge(body: dict) -> MergeRequest:
    path = notebook_file_path(validate_notebook_path(body.get("notebook_path"), required=True))
    if not isinstance(body.get("cell_id"), str):
        raise InvalidInput("'cell_id' is required: the id of the teacher's cell to merge.")
    apply, resolution = body.get("apply", False), body.get("resolution")
    if not isinstance(apply, bool):
        raise InvalidInput("'apply' must be true or false.")
    if resolution is not None and not isinstance(resolution, str):
        raise InvalidInput("'resolution' must be the merged source, as a string.")
    if resolution is not None and len(resolution.encode("utf-8", "surrogatepass")) > DEFAULT_MAX_SOURCE_BYTES:
        raise PayloadTooLarge(f"'resolution' is larger than {DEFAULT_MAX_SOURCE_BYTES} bytes.")
    return MergeRequest(path, validate_cell_id(body["cell_id"]), apply, resolution)


def newest_copy(cells, *, session: str, cell_id: str) -> tuple[int, Mapping] | None:
    """The index and ``codestream`` metadata of the newest copy of teacher cell ``cell_id``
    (highest version, the later one of equals), or ``None``."""
    copies = [(i, origin) for i, cell in enumerate(cells)
              if (origin := pulled_from(cell)) is not None
              and origin.get("session") == session and origin.get("cell_id") == cell_id]
    return max(copies, key=lambda item: (_version(item[1]), item[0])) if copies else None


def _version(origin: Mapping) -> int:
    try:
        return int(origin.get("version"))
    except (TypeError, ValueError):
        return 0


def _source(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


class MergeChange:
    """The ``NotebookChange`` of a merge: find the copy, merge, and (``apply``) replace it."""

    def __init__(self, request: MergeRequest, *, session: str, theirs: Mapping, base_source: str | None,
                 base_version: int | None):
        self.request = request
        self.session = session
        self.theirs = theirs
        self.base_source = base_source
        self.base_version = base_version

    def locate(self, cells) -> tuple[int, Mapping]:
        found = newest_copy(cells, session=self.session, cell_id=self.request.cell_id)
        if found is None:
            raise CellNotFound(f"{self.request.notebook_path} holds no pulled copy of cell {self.request.cell_id}"
                               " of this session; pull it first.")
        return found

    def merge(self, mine: str) -> tuple[MergeResult, str | None]:
        """The merge, and the source to write (``None``: nothing to write)."""
        result = merge_texts(self.base_source or "", mine, str(self.theirs["source"]))
        if not self.request.apply:
            return result, None
        if self.request.resolution is not None:
            return result, self.request.resolution
        if not result.clean:
            raise MergeConflict(f"The merge of cell {self.request.cell_id} has {len(result.conflicts)}"
                                " conflict(s): send 'resolution' (the merged source) to apply it. Nothing was changed.")
        return result, result.merged

    def metadata(self, origin: Mapping, mine: str) -> dict:
        return merged_metadata(origin, int(self.theirs["version"]), mine)

    def live(self, document) -> dict:
        index, origin = self.locate(live_cells(document))
        ycell = document.ycells[index]
        mine = str(ycell["source"])
        result, write = self.merge(mine)
        if write is not None:
            with document.ydoc.transaction():
                if hasattr(document, "set_cell"):
                    try:
                        document.set_cell(index, source=write)  # granular text edits (jupyter_ydoc)
                    except TypeError:
                        _replace_text(ycell["source"], write)
                else:
                    _replace_text(ycell["source"], write)
                ycell["metadata"][METADATA_KEY] = live_value(self.metadata(origin, mine))
        return self.answer(index, ycell.get("id"), mine, result, write is not None)

    def file(self, nb: nbformat.NotebookNode) -> tuple[dict, bool]:
        index, origin = self.locate(nb.cells)
        cell = nb.cells[index]
        mine = _source(cell.get("source"))
        result, write = self.merge(mine)
        if write is not None:
            cell["source"] = write
            cell.setdefault("metadata", {})[METADATA_KEY] = self.metadata(origin, mine)
        return self.answer(index, cell.get("id"), mine, result, write is not None), write is not None

    def answer(self, index: int, notebook_cell_id, mine: str, result: MergeResult, applied: bool) -> dict:
        return {"base_version": self.base_version, "version": int(self.theirs["version"]), "merged": result.merged,
                "clean": result.clean, "conflicts": [c.to_dict() for c in result.conflicts], "applied": applied,
                "notebook_path": self.request.notebook_path, "cell_id": self.request.cell_id, "index": index,
                "notebook_cell_id": notebook_cell_id, "base": self.base_source, "mine": mine,
                "theirs": str(self.theirs["source"])}


def _replace_text(text, value: str) -> None:
    del text[0:len(text)]
    text += value


async def merge_cell(student: StudentService, body: dict) -> dict:
    """``POST student/merge``: the three-way merge of the copy with the teacher's newest version."""
    request = parse_merge(body)
    connection = student.connection()
    session = connection.session_code
    # the copy's base version is read first (no lock held over the network), then again under the lock
    probe = MergeChange(request, session=session, theirs={}, base_source=None, base_version=None)
    found, _live = await student.puller.edit(request.notebook_path, _Locate(probe))
    base_version = _version(found[1])
    theirs = await student.reader.get_cell(connection, request.cell_id)
    base = await student.reader.read(
        connection, lambda source: student.teacher.get_cell(source, request.cell_id, version=base_version))
    change = MergeChange(request, session=session, theirs=theirs, base_source=str(base["source"]),
                         base_version=base_version)
    answer, live = await student.puller.edit(request.notebook_path, _Pinned(change, base_version))
    if answer["applied"]:
        student.report_pulls(connection, [(request.cell_id, answer["version"])])
        student.log.info("codestream: merged cell %s v%s into %s (%s)", request.cell_id, answer["version"],
                         request.notebook_path, "live" if live else "file")
    return {**answer, "live": live}


class _Locate:
    """Read-only: where the newest copy is and which version it was pulled at."""

    def __init__(self, change: MergeChange):
        self.change = change

    def live(self, document):
        return self.change.locate(live_cells(document))

    def file(self, nb):
        return self.change.locate(nb.cells), False


class _Pinned:
    """The merge, provided the copy is still at the version whose base was fetched (a pull or
    another merge in between moved it: the student is asked to try again, nothing changes)."""

    def __init__(self, change: MergeChange, base_version: int):
        self.change = change
        self.base_version = base_version

    def _check(self, cells) -> None:
        _index, origin = self.change.locate(cells)
        if _version(origin) != self.base_version:
            raise MergeConflict("The copy changed version while merging (another pull or merge); merge again.")

    def live(self, document):
        self._check(live_cells(document))
        return self.change.live(document)

    def file(self, nb):
        self._check(nb.cells)
        return self.change.file(nb)


__all__ = ["MergeChange", "merge_cell", "newest_copy", "parse_merge"]
