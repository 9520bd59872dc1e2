"""The lesson as one notebook (take home) and what a student's notebook still lacks (catch up).

Pure: contract cell objects and nbformat nodes in, nbformat nodes out.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import quote

import nbformat

from .notebooks import METADATA_KEY, build_cell, pulled_from

MAX_FILENAME_STEM = 100
NOTEBOOK_MEDIA_TYPE = "application/x-ipynb+json"


def lesson_notebook(session: str, title: str, cells: Iterable[Mapping]) -> nbformat.NotebookNode:
    """A valid nbformat 4 notebook of the published ``cells`` in the order given (the teacher's),
    with the outputs that were published, each cell carrying its ``codestream`` metadata."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [build_cell(cell, session, with_outputs=True) for cell in cells]
    nb.metadata[METADATA_KEY] = {"session": session, "title": title}
    if title:
        nb.metadata["title"] = title
    return nb


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


__all__ = ["NOTEBOOK_MEDIA_TYPE", "content_disposition", "held_versions", "lesson_filename",
           "lesson_notebook", "missing_cells"]
