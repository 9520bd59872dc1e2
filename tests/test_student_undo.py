"""``POST codestream/api/student/merge/undo`` (the student dashboard's "Undo merge") on a real
student server: bad input is the contract's error and changes nothing."""

from __future__ import annotations

from student_fixtures import configure

from jupyter_ext.testing import create_session, publish, write_notebook


def test_undo_refuses_what_it_cannot_undo_and_changes_nothing(cs_teacher, cs_student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    client = cs_student.client()
    configure(client, cs_teacher.url, code, session["student_key"])
    write_notebook(cs_student.root_dir, "work.ipynb", [("code", "x = 1")])
    publish(teacher, code, "c1", "y = 2\n", 1)
    assert client.post("codestream/api/student/pull", json={"cell_id": "c1", "notebook_path": "work.ipynb"}).status_code == 200
    before = client.get("api/contents/work.ipynb", params={"content": 1}).json()["content"]["cells"]

    never_merged = client.post("codestream/api/student/merge/undo", json={"notebook_path": "work.ipynb", "cell_id": "c1"})
    assert never_merged.status_code == 404 and never_merged.json()["error"]["code"] == "cell_not_found"
    for body in ({"notebook_path": "../outside.ipynb", "cell_id": "c1"},
                 {"notebook_path": "work.ipynb"},
                 {"notebook_path": "work.ipynb", "cell_id": "c1", "version": 0},
                 {"notebook_path": "work.ipynb", "cell_id": "c1", "version": True},
                 {"notebook_path": "notes.txt", "cell_id": "c1"}):
        r = client.post("codestream/api/student/merge/undo", json=body)
        assert r.status_code == 400 and set(r.json()["error"]) == {"code", "message"}, (body, r.text)
    assert client.get("api/contents/work.ipynb", params={"content": 1}).json()["content"]["cells"] == before


def test_undo_after_a_merge_restores_the_text_and_the_version(cs_teacher, cs_student):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code = session["code"]
    client = cs_student.client()
    configure(client, cs_teacher.url, code, session["student_key"])
    write_notebook(cs_student.root_dir, "undo.ipynb", [("code", "x = 1")])
    publish(teacher, code, "c1", "a\nb\nc\nd\ne\n", 1)
    assert client.post("codestream/api/student/pull", json={"cell_id": "c1", "notebook_path": "undo.ipynb"}).status_code == 200
    nb = client.get("api/contents/undo.ipynb", params={"content": 1}).json()["content"]
    nb["cells"][1]["source"] = "a  # mine\nb\nc\nd\ne\n"
    assert client.put("api/contents/undo.ipynb", json={"type": "notebook", "format": "json", "content": nb}).status_code == 200
    publish(teacher, code, "c1", "a\nb\nc\nd\ne = 5\n", 1)
    merged = client.post("codestream/api/student/merge", json={"notebook_path": "undo.ipynb", "cell_id": "c1", "apply": True})
    assert merged.status_code == 200 and merged.json()["applied"], merged.text

    r = client.post("codestream/api/student/merge/undo", json={"notebook_path": "undo.ipynb", "cell_id": "c1", "version": 1})
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "a  # mine\nb\nc\nd\ne\n" and r.json()["version"] == 1 and r.json()["index"] == 1
    cell = client.get("api/contents/undo.ipynb", params={"content": 1}).json()["content"]["cells"][1]
    assert "".join(cell["source"]) == "a  # mine\nb\nc\nd\ne\n"
    assert cell["metadata"]["codestream"]["version"] == 1 and "before_merge" not in cell["metadata"]["codestream"]
    again = client.post("codestream/api/student/merge/undo", json={"notebook_path": "undo.ipynb", "cell_id": "c1"})
    assert again.status_code == 404  # undone once: nothing left to undo
