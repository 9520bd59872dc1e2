"""Pulled cells on nbformat objects: building them and deciding where they go.

Pure: works on ``nbformat`` nodes (or plain dicts of the same shape) and never reads or
writes a file. The one rule that matters: a pull only ever *adds* a cell. A newer version
of a cell the student already has goes right after the newest copy they hold, and no
existing cell (which the student may have edited) is changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import nbformat
from nbformat.v4.nbbase import random_cell_id

from .cells import CELL_TYPES, validate_cell_id
from .errors import InvalidInput

METADATA_KEY = "codestream"
POSITION_END = "end"
POSITION_AFTER = "after:"


@dataclass(frozen=True)
class Position:
    """Where the student asked for the cell: at the end, or after a cell of their notebook."""

    after: str | None = None  # a notebook cell id, or a teacher cell id of a pulled copy

    @property
    def explicit(self) -> bool:
        return self.after is not None


@dataclass(frozen=True)
class Placement:
    index: int
    previous_index: int | None  # the newest copy of the same teacher cell, if the student had one


def parse_position(raw: object) -> Position:
    if raw is None or raw == POSITION_END:
        return Position()
    if isinstance(raw, str) and raw.startswith(POSITION_AFTER):
        target = raw[len(POSITION_AFTER):]
        if target:
            return Position(after=validate_cell_id(target))
    raise InvalidInput("'position' must be \"end\" or \"after:<cell_id>\" (a cell id of the notebook).")


def pulled_metadata(session: str, cell: Mapping) -> dict:
    """Where a pulled copy came from; ``number`` lets the student's dashboard name the copy
    ("Cell 3") even after the teacher withdrew the cell."""
    meta = {"session": session, "cell_id": cell["cell_id"], "version": int(cell["version"])}
    if isinstance(cell.get("number"), int) and not isinstance(cell.get("number"), bool):
        meta["number"] = cell["number"]
    return meta


def build_cell(cell: Mapping, session: str, *, with_outputs: bool = False) -> nbformat.NotebookNode:
    """A valid nbformat v4 cell for a contract cell object; a fresh id; the teacher's outputs
    only when asked for (and only a code cell has them)."""
    cell_type = cell.get("cell_type")
    if cell_type not in CELL_TYPES:
        raise InvalidInput("The teacher's cell has an unknown type; ask your teacher to publish it again.")
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
              "raw": nbformat.v4.new_raw_cell}
    node = makers[cell_type](source=str(cell.get("source", "")))
    node["id"] = random_cell_id()
    node["metadata"][METADATA_KEY] = pulled_metadata(session, cell)
    if with_outputs and cell_type == "code" and isinstance(cell.get("outputs"), list):
        node["outputs"] = [nbformat.from_dict(output) for output in cell["outputs"]]
    return node


def notebook_metadata(session: str, teacher_url: str) -> dict:
    """What the notebook records about where its pulled cells came from (never the key)."""
    return {"session": session, "teacher_url": teacher_url}


def pulled_from(cell: Mapping) -> Mapping | None:
    metadata = cell.get("metadata") or {}
    origin = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    return origin if isinstance(origin, Mapping) else None


def _version(origin: Mapping) -> float:
    try:
        return float(origin.get("version", 0))
    except (TypeError, ValueError):
        return 0.0


def placement(cells: Sequence[Mapping], *, session: str, cell_id: str, position: Position) -> Placement:
    """The index for a newly pulled copy of teacher cell ``cell_id``.

    ``after:<id>`` is honoured first (a notebook cell id, else the newest pulled copy of that
    teacher cell). Otherwise the new copy goes right after the newest copy the student already
    has of the same cell, or at the end when there is none.
    """
    copies = [
        (i, origin) for i, c in enumerate(cells)
        if (origin := pulled_from(c)) is not None
        and origin.get("session") == session and origin.get("cell_id") == cell_id
    ]
    previous = max(copies, key=lambda item: (_version(item[1]), item[0]))[0] if copies else None
    if position.explicit:
        return Placement(_index_after(cells, position.after, session), previous)
    if previous is not None:
        return Placement(previous + 1, previous)
    return Placement(len(cells), None)


def _index_after(cells: Sequence[Mapping], target: str, session: str) -> int:
    for i, cell in enumerate(cells):
        if cell.get("id") == target:
            return i + 1
    pulled = [i for i, c in enumerate(cells)
              if (origin := pulled_from(c)) is not None and origin.get("cell_id") == target]
    if pulled:
        return pulled[-1] + 1
    raise InvalidInput(f"'position' names cell {target}, which is not in this notebook;"
                       " choose another cell or \"end\".")


def ensure_cell_ids(nb: nbformat.NotebookNode) -> None:
    """Notebooks older than nbformat 4.5 get cell ids (as JupyterLab gives them on save)."""
    if nb.get("nbformat") == 4 and nb.get("nbformat_minor", 0) < 5:
        nb["nbformat_minor"] = 5
    for cell in nb.get("cells", []):
        if not cell.get("id"):
            cell["id"] = random_cell_id()


def insert_pulled_cell(nb: nbformat.NotebookNode, cell: Mapping, *, session: str, teacher_url: str,
                       position: Position, with_outputs: bool = False) -> tuple[Placement, nbformat.NotebookNode]:
    """Insert a pulled copy of ``cell`` into ``nb`` (in place) and record the session in its metadata."""
    ensure_cell_ids(nb)
    where = placement(nb.cells, session=session, cell_id=cell["cell_id"], position=position)
    node = build_cell(cell, session, with_outputs=with_outputs)
    nb.cells.insert(where.index, node)
    nb.metadata[METADATA_KEY] = notebook_metadata(session, teacher_url)
    return where, node


__all__ = [
    "METADATA_KEY",
    "Placement",
    "Position",
    "build_cell",
    "ensure_cell_ids",
    "insert_pulled_cell",
    "notebook_metadata",
    "parse_position",
    "placement",
    "pulled_from",
    "pulled_metadata",
]
