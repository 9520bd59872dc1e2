"""Two spellings of one notebook (issue 14 item 9): a pull locks on the notebook's one name, so
concurrent pulls that spell the path differently never lose a cell; ``..`` is refused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from student_fixtures import configure

from jupyter_ext.domain import InvalidInput
from jupyter_ext.domain.cells import normalize_notebook_path, validate_notebook_path
from jupyter_ext.pytest_plugin import create_session, publish, write_notebook

SPELLINGS = ["work/lesson.ipynb", "./work/lesson.ipynb", "work//lesson.ipynb", "work/./lesson.ipynb",
             "/work/lesson.ipynb", "work\\lesson.ipynb", " work/lesson.ipynb "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_one_path_is_one_name(spelling):
    assert normalize_notebook_path(spelling) == "work/lesson.ipynb"
    assert validate_notebook_path(spelling) == "work/lesson.ipynb"


@pytest.mark.parametrize("bad", ["../a.ipynb", "work/../../a.ipynb", "./..", "a/..//b.ipynb", "/", ".",
                                 "./", "a\x00.ipynb", "a/" * 600 + "b.ipynb"])
def test_escapes_and_empty_paths_are_refused(bad):
    with pytest.raises(InvalidInput):
        normalize_notebook_path(bad)


def test_concurrent_pulls_with_different_spellings_lose_no_cell(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    cell_ids = [f"c{i}" for i in range(6)]
    for i, cell_id in enumerate(cell_ids):
        publish(teacher, code, cell_id, f"value = {i}", i)
    configure(student, cs_teacher.url, code, key)
    write_notebook(cs_student.root_dir, "work/lesson.ipynb", [("markdown", "# My notes")])
    spellings = SPELLINGS[:5]
    pulls = [(cell_id, spelling) for cell_id in cell_ids for spelling in spellings]

    def pull(job):
        cell_id, spelling = job
        with cs_student.client() as client:
            return client.post("codestream/api/student/pull",
                               json={"cell_id": cell_id, "notebook_path": spelling})

    with ThreadPoolExecutor(max_workers=len(pulls)) as pool:
        answers = list(pool.map(pull, pulls))
    assert [r.status_code for r in answers] == [200] * len(pulls), [r.text for r in answers if r.status_code != 200]
    assert {r.json()["notebook_path"] for r in answers} == {"work/lesson.ipynb"}
    nb = nbformat.read(str(cs_student.root_dir / "work/lesson.ipynb"), as_version=4)
    nbformat.validate(nb)
    pulled = [c.metadata["codestream"]["cell_id"] for c in nb.cells if "codestream" in c.metadata]
    assert sorted(pulled) == sorted(cell_id for cell_id, _ in pulls), "a concurrent pull lost a cell"
    assert nb.cells[0].source == "# My notes"
    assert not (cs_student.root_dir / "lesson.ipynb").exists()


def test_a_path_escaping_the_root_is_refused_and_nothing_is_written(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    publish(teacher, session["code"], "c1", "x = 1", 0)
    configure(student, cs_teacher.url, session["code"], session["student_key"])
    write_notebook(cs_student.root_dir, "work/lesson.ipynb", [("markdown", "# My notes")])
    before = sorted(p.name for p in cs_student.workdir.rglob("*.ipynb"))
    for bad in ["work/../../lesson.ipynb", "./../lesson.ipynb", "work//..//..//x.ipynb"]:
        r = student.post("codestream/api/student/pull", json={"cell_id": "c1", "notebook_path": bad})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", r.text
    assert sorted(p.name for p in cs_student.workdir.rglob("*.ipynb")) == before
