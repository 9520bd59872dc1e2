"""Catch up and take home, on the student's server (contract v3): pull every published cell a
notebook lacks in one write (``POST student/pull-all``), the lesson notebook proxied
(``GET student/notebook``), and past versions of a cell proxied (``GET student/cells/{id}?version=N``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import nbformat

from ..domain import CodeStreamError, InvalidInput, validate_cell_id, validate_notebook_path
from ..domain.errors import UpstreamError
from ..domain.lesson import content_disposition, held_versions, lesson_filename, missing_cells
from ..domain.notebooks import METADATA_KEY, build_cell, ensure_cell_ids, notebook_metadata
from .pull import append_live, live_cells, notebook_file_path
from .student import StudentService, check_teacher_outputs

FILENAME_RE = re.compile(r'filename="([^"]*)"')


class PullAll:
    """The ``NotebookChange`` of a pull-all: the cells the notebook lacks, appended in order."""

    def __init__(self, published: list[Mapping], *, session: str, teacher_url: str, with_outputs: bool):
        self.published = published
        self.session = session
        self.teacher_url = teacher_url
        self.with_outputs = with_outputs

    def _nodes(self, cells) -> list[tuple[Mapping, nbformat.NotebookNode]]:
        todo = missing_cells(self.published, held_versions(cells, self.session))
        return [(cell, build_cell(cell, self.session, with_outputs=self.with_outputs)) for cell in todo]

    def live(self, document) -> list[Mapping]:
        added = self._nodes(live_cells(document))
        if added:
            append_live(document, [node for _cell, node in added], session=self.session, teacher_url=self.teacher_url)
        return [cell for cell, _node in added]

    def file(self, nb: nbformat.NotebookNode) -> tuple[list[Mapping], bool]:
        ensure_cell_ids(nb)
        added = self._nodes(nb.cells)
        if added:
            nb.cells.extend(node for _cell, node in added)
            nb.metadata[METADATA_KEY] = notebook_metadata(self.session, self.teacher_url)
        return [cell for cell, _node in added], bool(added)


async def pull_all(student: StudentService, body: dict) -> dict:
    """Every published cell the notebook does not hold at its current version, in the teacher's
    order, appended in one write (live when open); a missing notebook is created."""
    path = notebook_file_path(validate_notebook_path(body.get("notebook_path"), required=True))
    with_outputs = body.get("with_outputs", False)
    if not isinstance(with_outputs, bool):
        raise InvalidInput("'with_outputs' must be true or false.")
    connection = student.connection()
    listing = await student.reader.list_cells(connection)
    published = listing["cells"]  # in position order: the teacher's
    if with_outputs:
        for cell in published:
            check_teacher_outputs(cell)
    change = PullAll(published, session=connection.session_code, teacher_url=connection.teacher_url,
                     with_outputs=with_outputs)
    added, live = await student.puller.edit(path, change, create=True)
    if added:
        student.report_pulls(connection, [(cell["cell_id"], int(cell["version"])) for cell in added])
    student.log.info("codestream: pulled %d cells into %s (%s)", len(added), path, "live" if live else "file")
    return {"notebook_path": path, "added": len(added), "skipped": len(published) - len(added), "live": live,
            "cells": [{"cell_id": c["cell_id"], "version": int(c["version"])} for c in added],
            "reload_needed": bool(added) and not live and not student.puller.collaborative()}


async def cell_version(student: StudentService, cell_id: str, version: int | None) -> dict:
    """The teacher's cell (``version``: that past version of it), read as cells are."""
    cell_id = validate_cell_id(cell_id)
    connection = student.connection()
    return await student.reader.read(
        connection, lambda source: student.teacher.get_cell(source, cell_id, version=version))


async def lesson_notebook(student: StudentService) -> tuple[bytes, str]:
    """The lesson notebook from the teacher, checked to be a valid notebook before it is passed
    on; returns the bytes and the Content-Disposition (a safe file name, made here again)."""
    connection = student.connection()
    raw, disposition = await student.reader.read(connection, student.teacher.get_notebook)
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=nbformat.NO_CONVERT)
        nbformat.validate(nb)
        if nb.get("nbformat") != 4:
            raise ValueError("not nbformat 4")
    except (ValueError, UnicodeDecodeError, nbformat.ValidationError, CodeStreamError, KeyError, TypeError):
        raise UpstreamError("The teacher's server did not send a valid notebook; ask your teacher to"
                            " check their server.") from None
    title = str((nb.metadata.get(METADATA_KEY) or {}).get("title") or "")
    sent = FILENAME_RE.search(disposition or "")
    stem = sent.group(1).removesuffix(".ipynb") if sent else title
    filename = lesson_filename(stem, connection.session_code or "")
    body = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    return body.encode("utf-8"), content_disposition(filename, title)


__all__ = ["PullAll", "cell_version", "lesson_notebook", "pull_all"]
