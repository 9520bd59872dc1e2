"""Contract v3 *Past versions*, *Catch up and take home* and *Merge a teacher's update into my
edited copy*, on real servers: a teacher's Jupyter server on a real Redis, a student's Jupyter
server, notebooks on disk (the live, collaborative cases: tests/test_instep_collab.py)."""

from __future__ import annotations

import json

import nbformat
import pytest
from redis import Redis
from student_fixtures import configure

from jupyter_ext.domain.history import KEEP_VERSIONS
from jupyter_ext.testing import create_session, publish, write_notebook


def error_code(response):
    return response.json()["error"]["code"]


@pytest.fixture
def classroom(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, title="Lesson: loops / ünïcode")
    code, key = session["code"], session["student_key"]
    configure(student, cs_teacher.url, code, key)
    reader = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    return cs_teacher, teacher, cs_student, student, reader, code


def read_notebook(server, path):
    nb = nbformat.read(str(server.root_dir / path), as_version=4)
    nbformat.validate(nb)
    return nb


def origin(cell):
    return cell.metadata.get("codestream") or {}


# -- past versions -------------------------------------------------------------------------------
def test_past_versions_are_kept_and_read_by_every_reader(classroom):
    server, teacher, _student_server, student, reader, code = classroom
    for n in range(1, 4):
        publish(teacher, code, "c1", f"x = {n}", 1.0)
    path = f"codestream/api/sessions/{code}/cells/c1"
    for client in (teacher, reader):
        assert client.get(path, params={"version": 1}).json()["source"] == "x = 1"
        assert client.get(path, params={"version": 2}).json()["version"] == 2
        assert client.get(path).json()["source"] == "x = 3"
    # proxied by the student's own server
    proxied = student.get("codestream/api/student/cells/c1", params={"version": 2})
    assert proxied.status_code == 200, proxied.text
    assert proxied.json()["source"] == "x = 2" and proxied.json()["number"] == 1
    assert student.get("codestream/api/student/cells/c1").json()["version"] == 3
    # a version not made yet, a bad version, an unknown cell
    assert error_code(reader.get(path, params={"version": 4})) == "version_not_found"
    assert error_code(student.get("codestream/api/student/cells/c1", params={"version": 9})) == "version_not_found"
    assert reader.get(path, params={"version": "0"}).status_code == 400
    assert reader.get(path, params={"version": "x"}).status_code == 400
    assert error_code(reader.get(f"codestream/api/sessions/{code}/cells/nope", params={"version": 1})) == \
        "cell_not_found"


def test_only_the_last_versions_are_kept_and_they_go_with_the_session(classroom, cs_module_redis):
    _server, teacher, _student_server, _student, reader, code = classroom
    for n in range(1, KEEP_VERSIONS + 3):
        publish(teacher, code, "c1", f"x = {n}", 1.0)
    path = f"codestream/api/sessions/{code}/cells/c1"
    assert error_code(reader.get(path, params={"version": 1})) == "version_not_found"
    assert error_code(reader.get(path, params={"version": 2})) == "version_not_found"
    assert reader.get(path, params={"version": 3}).json()["source"] == "x = 3"
    redis = Redis.from_url(cs_module_redis.url, socket_timeout=5)
    versions_key = f"codestream:{{{code}}}:versions"
    assert redis.hlen(versions_key) == KEEP_VERSIONS
    # an unpublished cell is not readable, not even its past versions
    assert teacher.delete(path).status_code == 204
    assert error_code(reader.get(path, params={"version": 5})) == "cell_not_found"
    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    assert not redis.exists(versions_key)


# -- take home -----------------------------------------------------------------------------------
def test_the_lesson_notebook_downloads_valid_in_order_with_outputs(classroom):
    _server, teacher, _student_server, student, reader, code = classroom
    publish(teacher, code, "b", "# Second", 2.0, cell_type="markdown")
    publish(teacher, code, "a", "print('hi')", 1.0)
    output = {"output_type": "stream", "name": "stdout", "text": "hi\n"}
    r = teacher.put(f"codestream/api/sessions/{code}/cells/c", json={
        "source": "1 + 1", "cell_type": "code", "position": 3.0, "outputs": [output]})
    assert r.status_code == 200, r.text
    for client, path in ((teacher, f"codestream/api/sessions/{code}/notebook"),
                         (reader, f"codestream/api/sessions/{code}/notebook"),
                         (student, "codestream/api/student/notebook")):
        answer = client.get(path)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("application/x-ipynb+json")
        disposition = answer.headers["Content-Disposition"]
        assert disposition.startswith('attachment; filename="Lesson loops unicode.ipynb"'), disposition
        nb = nbformat.reads(answer.text, as_version=4)
        nbformat.validate(nb)
        assert [c.source for c in nb.cells] == ["print('hi')", "# Second", "1 + 1"]
        assert [origin(c)["cell_id"] for c in nb.cells] == ["a", "b", "c"]
        assert all(origin(c)["session"] == code and origin(c)["version"] == 1 for c in nb.cells)
        assert nb.cells[2].outputs == [output] and nb.cells[0].outputs == []
    assert reader.get("codestream/api/sessions/ZZZZZZ/notebook").status_code in (401, 404)


# -- catch up ------------------------------------------------------------------------------------
def test_pull_all_appends_what_is_missing_and_twice_adds_nothing(classroom):
    _server, teacher, student_server, student, _reader, code = classroom
    for i, cell_id in enumerate(["c1", "c2", "c3"]):
        publish(teacher, code, cell_id, f"step = {i}", float(i))
    write_notebook(student_server.root_dir, "mine.ipynb", [("code", "mine = 1")])
    assert student.post("codestream/api/student/pull", json={"cell_id": "c2", "notebook_path": "mine.ipynb"}
                        ).status_code == 200
    first = student.post("codestream/api/student/pull-all", json={"notebook_path": "mine.ipynb"})
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 2 and first.json()["skipped"] == 1 and first.json()["live"] is False
    nb = read_notebook(student_server, "mine.ipynb")
    assert [c.source for c in nb.cells] == ["mine = 1", "step = 1", "step = 0", "step = 2"]
    again = student.post("codestream/api/student/pull-all", json={"notebook_path": "mine.ipynb"}).json()
    assert again["added"] == 0 and again["skipped"] == 3
    assert len(read_notebook(student_server, "mine.ipynb").cells) == 4
    # a newer version is pulled (after the older copy stays as it is); a missing notebook is created
    publish(teacher, code, "c1", "step = 'new'", 0.0)
    assert student.post("codestream/api/student/pull-all", json={"notebook_path": "mine.ipynb"}).json()["added"] == 1
    assert [c.source for c in read_notebook(student_server, "mine.ipynb").cells][-1] == "step = 'new'"
    created = student.post("codestream/api/student/pull-all", json={"notebook_path": "new/lesson.ipynb"})
    assert created.status_code == 404  # no such folder: nothing created
    created = student.post("codestream/api/student/pull-all", json={"notebook_path": "lesson.ipynb"})
    assert created.status_code == 200 and created.json()["added"] == 3
    assert [c.source for c in read_notebook(student_server, "lesson.ipynb").cells] == \
        ["step = 'new'", "step = 1", "step = 2"]


def test_pull_all_reports_pulls_to_the_teacher(classroom):
    server, teacher, student_server, student, _reader, code = classroom
    publish(teacher, code, "c1", "a = 1", 1.0)
    publish(teacher, code, "c2", "b = 2", 2.0)
    from jupyter_ext.testing import SSEReader, wait_until

    # counted: a student server that holds the session's event stream (its dashboard listens)
    stream = SSEReader(f"{student_server.url}codestream/api/student/events", student_server.auth_headers())
    try:
        assert student.post("codestream/api/student/pull-all", json={"notebook_path": "p.ipynb"}).status_code == 200

        def counted():
            cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
            return all(c.get("pulls") == {"1": 1} for c in cells)
        wait_until(counted, timeout=20)
    finally:
        stream.close()


# -- merge ---------------------------------------------------------------------------------------
BASE = "a = 1\nb = 2\nc = 3\nd = 4\n"


@pytest.fixture
def pulled_copy(classroom):
    _server, teacher, student_server, student, _reader, code = classroom
    publish(teacher, code, "m", BASE, 1.0)
    write_notebook(student_server.root_dir, "work.ipynb", [("code", "first = 0")])
    assert student.post("codestream/api/student/pull", json={"cell_id": "m", "notebook_path": "work.ipynb"}
                        ).status_code == 200
    return classroom


def edit_copy(student_server, source):
    path = student_server.root_dir / "work.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[1].source = source
    nbformat.write(nb, str(path))


def merge(student, **body):
    return student.post("codestream/api/student/merge", json={"notebook_path": "work.ipynb", "cell_id": "m", **body})


def test_a_clean_merge_keeps_both_changes_and_before_merge(pulled_copy):
    _server, teacher, student_server, student, _reader, code = pulled_copy
    mine = "a = 1  # my note\nb = 2\nc = 3\nd = 4\n"
    edit_copy(student_server, mine)
    publish(teacher, code, "m", "a = 1\nb = 2\nc = 3\nd = 40\n", 1.0)
    preview = merge(student)
    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert answer["clean"] is True and answer["applied"] is False and answer["conflicts"] == []
    assert answer["base_version"] == 1 and answer["version"] == 2
    assert answer["merged"] == "a = 1  # my note\nb = 2\nc = 3\nd = 40\n"
    assert read_notebook(student_server, "work.ipynb").cells[1].source == mine  # a preview changes nothing
    applied = merge(student, apply=True).json()
    assert applied["applied"] is True
    cells = read_notebook(student_server, "work.ipynb").cells
    assert len(cells) == 2 and cells[1].source == answer["merged"]
    assert origin(cells[1])["version"] == 2 and origin(cells[1])["before_merge"] == mine
    # merged again: nothing new from the teacher, the text stays
    assert merge(student).json()["merged"] == answer["merged"]


def test_a_conflict_is_reported_and_applies_only_with_a_resolution(pulled_copy):
    _server, teacher, student_server, student, _reader, code = pulled_copy
    mine = "a = 1\nb = 'mine'\nc = 3\nd = 4\n"
    edit_copy(student_server, mine)
    publish(teacher, code, "m", "a = 1\nb = 'teacher'\nc = 3\nd = 4\n", 1.0)
    answer = merge(student).json()
    assert answer["clean"] is False and answer["applied"] is False
    assert answer["conflicts"] == [{"base": "b = 2\n", "mine": "b = 'mine'\n", "theirs": "b = 'teacher'\n",
                                    "line": 2}]
    assert "<<<<<<< mine" in answer["merged"] and answer["mine"] == mine
    refused = merge(student, apply=True)
    assert refused.status_code == 409 and error_code(refused) == "merge_conflict"
    assert read_notebook(student_server, "work.ipynb").cells[1].source == mine
    resolved = "a = 1\nb = 'both'\nc = 3\nd = 4\n"
    done = merge(student, apply=True, resolution=resolved)
    assert done.status_code == 200 and done.json()["applied"] is True
    cell = read_notebook(student_server, "work.ipynb").cells[1]
    assert cell.source == resolved and origin(cell)["before_merge"] == mine and origin(cell)["version"] == 2


@pytest.mark.parametrize("body, status, code", [
    ({"cell_id": "never"}, 404, "cell_not_found"),
    ({"notebook_path": "../outside.ipynb"}, 400, "invalid_input"),
    ({"notebook_path": "work.txt"}, 400, "invalid_input"),
    ({"apply": "yes"}, 400, "invalid_input"),
    ({"resolution": 3}, 400, "invalid_input"),
    ({"cell_id": 5}, 400, "invalid_input"),
    ({"notebook_path": "missing.ipynb"}, 404, "notebook_not_found"),
])
def test_merge_refuses_bad_input_and_changes_nothing(pulled_copy, body, status, code):
    _server, _teacher, student_server, student, _reader, _code = pulled_copy
    before = (student_server.root_dir / "work.ipynb").read_text()
    answer = merge(student, **{"apply": True, **body})
    assert answer.status_code == status, answer.text
    assert error_code(answer) == code
    assert (student_server.root_dir / "work.ipynb").read_text() == before


def test_merge_of_a_version_no_longer_kept(pulled_copy):
    _server, teacher, student_server, student, _reader, code = pulled_copy
    for n in range(KEEP_VERSIONS + 1):
        publish(teacher, code, "m", f"x = {n}\n", 1.0)
    before = (student_server.root_dir / "work.ipynb").read_text()
    answer = merge(student, apply=True)
    assert answer.status_code == 404 and error_code(answer) == "version_not_found"
    assert (student_server.root_dir / "work.ipynb").read_text() == before
    assert json.loads(before)["cells"][1]["metadata"]["codestream"]["version"] == 1
