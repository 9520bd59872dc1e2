"""Publish on save: saving the notebook republishes its changed published cells."""

from __future__ import annotations

import json

import nbformat

from jupyter_ext.domain import Cell
from jupyter_ext.domain.republish import republish_plan
from jupyter_ext.testing import SSEReader, save_like_jupyterlab, write_notebook


def test_republish_plan_only_touches_changed_cells_of_that_notebook():
    published = [
        Cell("a", "code", "x = 1", 0.0, 1, "", "lesson.ipynb"),
        Cell("b", "markdown", "# Hi", 1.0, 3, "", "lesson.ipynb"),
        Cell("c", "code", "y", 2.0, 1, "", "other.ipynb"),
        Cell("gone", "code", "z", 3.0, 1, "", "lesson.ipynb"),
    ]
    saved = [{"id": "b", "cell_type": "markdown", "source": ["# Hi"]},
             {"id": "a", "cell_type": "code", "source": "x = 2"},
             {"id": "c", "cell_type": "code", "source": "changed elsewhere"}]
    plan = dict(republish_plan(published, saved, "lesson.ipynb"))
    assert set(plan) == {"a", "b"}
    assert plan["a"] == {"source": "x = 2", "cell_type": "code", "position": 1.0, "notebook_path": "lesson.ipynb",
                         "number": 2}
    assert plan["b"]["position"] == 0.0 and plan["b"]["source"] == "# Hi"
    assert republish_plan(published, [], "lesson.ipynb") == []


def test_saving_the_notebook_republishes_changed_cells(cs_teacher):
    path = write_notebook(cs_teacher.root_dir, "lessons/intro.ipynb",
                          [("markdown", "# Loops"), ("code", "for i in range(3):\n    print(i)"), ("code", "x = 1")])
    nb = nbformat.read(str(path), as_version=4)
    ids = [cell.id for cell in nb.cells]
    teacher = cs_teacher.client()
    session = teacher.post("codestream/api/sessions", json={"notebook_path": "lessons/intro.ipynb"}).json()
    code = session["code"]
    for position in (0, 1):
        r = teacher.put(f"codestream/api/sessions/{code}/cells/{ids[position]}",
                        json={"source": nb.cells[position].source, "cell_type": nb.cells[position].cell_type,
                              "position": position, "notebook_path": "lessons/intro.ipynb"})
        assert r.json()["version"] == 1
    reader = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events", cs_teacher.auth_headers())

    model = teacher.get("api/contents/lessons/intro.ipynb", params={"content": 1}).json()
    model["content"]["cells"][1]["source"] = "for i in range(5):\n    print(i * i)"
    model["content"]["cells"][2]["source"] = "x = 2  # not published: stays unpublished"
    save_like_jupyterlab(teacher, "lessons/intro.ipynb", model["content"])

    event = reader.wait_for(1, timeout=10)[0]
    reader.close()
    assert event["event"] == "updated"
    data = json.loads(event["data"])
    assert data["cell_id"] == ids[1] and data["version"] == 2
    cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["version"]) for c in cells] == [(ids[0], 1), (ids[1], 2)]
    assert cells[1]["source"] == "for i in range(5):\n    print(i * i)"
