"""Take the lesson home: the session's published cells as one notebook (contract v3 *Catch up
and take home*), for every reader of the session."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..domain.lesson import content_disposition, lesson_filename, lesson_notebook
from .session_service import SessionService


@dataclass(frozen=True)
class LessonFile:
    body: bytes
    filename: str
    disposition: str


async def lesson_file(service: SessionService, code: str) -> LessonFile:
    """The published cells in the teacher's order, outputs included, as ``.ipynb`` bytes (for a
    reader the route has authorized)."""
    listing = await service.list_cells(code)
    nb = lesson_notebook(listing["session"], listing["title"], listing["cells"])
    # nbformat's own layout (indent 1, sorted keys), without its validation pass per download:
    # the cells were validated when they were published (tests validate the result).
    body = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    filename = lesson_filename(listing["title"], listing["session"])
    return LessonFile(body.encode("utf-8"), filename, content_disposition(filename, listing["title"]))
