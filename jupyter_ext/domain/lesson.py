"""The lesson as one notebook (take home) and what a student's notebook still lacks (catch up).

Pure: contract cell objects and nbformat nodes in, nbformat nodes out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

from nbformat.v4.nbbase import random_cell_id

from .cells import CELL_TYPES
from .errors import InvalidInput
from .notebooks import METADATA_KEY, pulled_from, pulled_metadata

MAX_FILENAME_STEM = 100
NOTEBOOK_MEDIA_TYPE = "application/x-ipynb+json"


def lesson_cell(cell: Mapping, session: str) -> dict:
    """One nbformat 4.5 cell of a published cell: its source, its ``codestream`` metadata, a
    fresh id and, for code, the outputs that were published (validated when published)."""
    cell_type = cell.get("cell_type")
    if cell_type not in CELL_TYPES:
        raise InvalidInput("A published cell has an unknown type; publish it again.")
    node = {"cell_type": cell_type, "id": random_cell_id(), "metadata": {METADATA_KEY: pulled_metadata(session, cell)},
            "source": str(cell.get("source", ""))}
    if cell_type == "code":
        outputs = cell.get("outputs")
        node["execution_count"] = None
        node["outputs"] = list(outputs) if isinstance(outputs, list) else []
    return node


def lesson_notebook(session: str, title: str, cells: Iterable[Mapping]) -> dict:
    """A valid nbformat 4 notebook of the published ``cells`` in the order given (the teacher's),
    with the outputs that were published, each cell carrying its ``codestream`` metadata.

    Plain dicts, not ``nbformat.v4.new_*_cell``: those validate every cell against the schema,
    which made a 200-cell lesson cost ten times its cell list (bench ``lesson-200``)."""
    metadata: dict = {METADATA_KEY: {"session": session, "title": title}}
    if title:
        metadata["title"] = title
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata,
            "cells": [lesson_cell(cell, session) for cell in cells]}


def lesson_filename(title: str, session: str) -> str:
    """A file name anyone's system accepts: letters, digits, spaces, ``-``, ``_`` and ``.``
    of the title (accents dropped), else ``codestream-<CODE>``; always ``.ipynb``."""
    ascii_title = unicodedata.normalize("NFKD", title or "").encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9 _.\-]+", " ", ascii_title)
    stem = re.sub(r"\s+", " ", stem).strip(" .")[:MAX_FILENAME_STEM].strip(" .")
    return f"{stem or 'codestream-' + session}.ipynb"


def content_disposition(filename: str, title: str = "") -> str:
    """``attachment; filename="…"`` (the safe name), plus the title itself in UTF-8 (RFC 6266
    ``filename*``) when the safe name had to change it."""
    header = f'attachment; filename="{filename}"'
    wanted = f"{title.strip()}.ipynb" if title and title.strip() else filename
    if wanted != filename:
        header += "; filename*=UTF-8''" + quote(wanted.replace("/", "-"), safe="")
    return header


def held_versions(cells: Sequence[Mapping], session: str) -> set[tuple[str, int]]:
    """``(teacher cell id, version)`` of every pulled copy of ``session`` in a notebook."""
    held = set()
    for cell in cells:
        origin = pulled_from(cell)
        if origin is None or origin.get("session") != session or not isinstance(origin.get("cell_id"), str):
            continue
        try:
            held.add((origin["cell_id"], int(origin.get("version"))))
        except (TypeError, ValueError):
            continue
    return held


def missing_cells(published: Sequence[Mapping], held: set[tuple[str, int]]) -> list[Mapping]:
    """The published cells (in the teacher's order) a notebook does not hold at their current version."""
    return [cell for cell in published if (cell["cell_id"], int(cell["version"])) not in held]


__all__ = ["NOTEBOOK_MEDIA_TYPE", "content_disposition", "held_versions", "lesson_cell", "lesson_filename",
           "lesson_notebook", "missing_cells"]
