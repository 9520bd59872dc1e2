"""Building pulled cells and inserting them into nbformat notebooks (pure domain code)."""

from __future__ import annotations

import copy
import random

import nbformat
import pytest

from jupyter_ext.domain import InvalidInput
from jupyter_ext.domain.notebooks import (
    Position,
    build_cell,
    insert_pulled_cell,
    parse_position,
    placement,
)

URL = "http://10.0.0.5:8888/"


def teacher_cell(cell_id, version=1, source="x = 1", cell_type="code"):
    return {"cell_id": cell_id, "cell_type": cell_type, "source": source, "version": version,
            "position": 1.0, "updated": "2025-01-01T00:00:00.000+00:00"}


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def pull(nb, cell, position="end", session="ABCDEF", validate=True):
    where, _node = insert_pulled_cell(nb, cell, session=session, teacher_url=URL, position=parse_position(position))
    if validate:
        nbformat.validate(nb)
    return where


@pytest.mark.parametrize("cell_type", ["code", "markdown", "raw"])
def test_built_cells_are_valid_v4(cell_type):
    node = build_cell(teacher_cell("c1", 3, "text", cell_type), "ABCDEF")
    nb = nbformat.v4.new_notebook(cells=[node])
    nbformat.validate(nb)
    assert node.cell_type == cell_type and node.source == "text" and node.id
    assert node.metadata["codestream"] == {"session": "ABCDEF", "cell_id": "c1", "version": 3}
    if cell_type == "code":
        assert node.outputs == [] and node.execution_count is None


def test_positions():
    assert parse_position(None) == parse_position("end") == Position()
    assert parse_position("after:abc-1") == Position(after="abc-1")
    for bad in ("start", "after:", "after:bad id", 3, "AFTER:x"):
        with pytest.raises(InvalidInput):
            parse_position(bad)


def test_new_cell_goes_to_the_end_or_after_a_cell():
    nb = notebook("a = 1", "b = 2")
    assert pull(nb, teacher_cell("c1")).index == 2
    first_id = nb.cells[0].id
    assert pull(nb, teacher_cell("c2"), f"after:{first_id}").index == 1
    # after a teacher cell id: after the newest copy of that cell
    assert pull(nb, teacher_cell("c3"), "after:c2").index == 2
    assert [c.metadata.get("codestream", {}).get("cell_id") for c in nb.cells] == [None, "c2", "c3", None, "c1"]
    assert nb.metadata["codestream"] == {"session": "ABCDEF", "teacher_url": URL}
    with pytest.raises(InvalidInput, match="not in this notebook"):
        pull(nb, teacher_cell("c4"), "after:ghost")


def test_a_newer_version_goes_after_the_newest_copy_and_leaves_it_alone():
    nb = notebook("mine")
    pull(nb, teacher_cell("c1", 1, "v1"))
    pull(nb, teacher_cell("c2", 1, "other"))
    nb.cells[1].source = "v1 edited by the student"
    before = copy.deepcopy(nb.cells)
    where = pull(nb, teacher_cell("c1", 2, "v2"))
    assert (where.index, where.previous_index) == (2, 1)
    assert [c.source for c in nb.cells] == ["mine", "v1 edited by the student", "v2", "other"]
    assert nb.cells[:2] == before[:2] and nb.cells[3] == before[2]
    # the student moved the copies around: the newest version still decides
    nb.cells.insert(0, nb.cells.pop(2))  # v2 now first
    assert pull(nb, teacher_cell("c1", 3, "v3")).index == 1
    # a copy from another session is another cell
    assert pull(nb, teacher_cell("c1", 1, "other session"), session="QWERTY").index == len(nb.cells) - 1


def test_old_notebooks_get_cell_ids():
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = 4
    nb.cells = [nbformat.v4.new_code_cell("old")]
    del nb.cells[0]["id"]
    pull(nb, teacher_cell("c1"))
    assert nb.nbformat_minor == 5 and all(c.get("id") for c in nb.cells)
    assert nb.cells[0].source == "old"


def test_placement_reads_plain_dicts_too():
    cells = [{"id": "x", "metadata": {}},
             {"id": "y", "metadata": {"codestream": {"session": "S", "cell_id": "c", "version": 1.0}}}]
    where = placement(cells, session="S", cell_id="c", position=Position())
    assert (where.index, where.previous_index) == (2, 1)


def test_many_pulls_with_edits_keep_every_edit():
    """100 random pulls (new cells, updates, explicit positions) with the student editing,
    deleting nothing and moving cells: every edit survives and every copy is kept."""
    rng = random.Random(20240601)
    nb = notebook("# my notebook")
    versions: dict[str, int] = {}
    edits: list[str] = []
    pulls = 0
    for step in range(100):
        cell_id = f"c{rng.randrange(15)}"
        versions[cell_id] = versions.get(cell_id, 0) + 1
        position = "end"
        if rng.random() < 0.2:
            position = f"after:{rng.choice(nb.cells).id}"
        where = pull(nb, teacher_cell(cell_id, versions[cell_id], f"teacher {cell_id} v{versions[cell_id]}"), position,
                     validate=False)
        pulls += 1
        mark = f"# edit {step}"
        nb.cells[where.index].source += "\n" + mark
        edits.append(mark)
        if rng.random() < 0.1:  # the student moves a cell
            nb.cells.insert(rng.randrange(len(nb.cells)), nb.cells.pop(rng.randrange(len(nb.cells))))
    nbformat.validate(nb)
    assert len(nb.cells) == 1 + pulls
    text = "\n".join(c.source for c in nb.cells)
    assert all(mark in text for mark in edits)
    copies = {}
    for cell in nb.cells:
        origin = cell.metadata.get("codestream")
        if origin:
            copies.setdefault(origin["cell_id"], []).append(origin["version"])
    assert {k: sorted(v) for k, v in copies.items()} == {k: list(range(1, n + 1)) for k, n in versions.items()}
    assert len({c.id for c in nb.cells}) == len(nb.cells)
