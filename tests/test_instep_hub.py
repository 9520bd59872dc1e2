"""Catch up, take home, past versions and merge under JupyterHub: a student's own server joins
by hub identity (no URL, no key) and reaches the hub service with its hub token."""

from __future__ import annotations

import nbformat
import pytest

from jupyter_ext.testing import SSEReader, create_session, publish, wait_until


def notebook(cells):
    return {"type": "notebook", "content": {
        "nbformat": 4, "nbformat_minor": 5, "metadata": {},
        "cells": [{"id": f"n{i}", "cell_type": "code", "source": source, "metadata": {},
                   "outputs": [], "execution_count": None} for i, source in enumerate(cells)]}}


@pytest.fixture(scope="module")
def hub_lesson(cs_hub):
    cs_hub.start_servers("teacher1", "student2")
    teacher = cs_hub.server("teacher1")
    session = create_session(teacher, title="Hub lesson", group="algebra")
    code = session["code"]
    publish(teacher, code, "k1", "a = 1\nb = 2\nc = 3\n", 1.0)
    publish(teacher, code, "k2", "print('two')", 2.0)
    student = cs_hub.server("student2")
    joined = student.put("codestream/api/student/config", json={"session_code": code})
    assert joined.status_code == 200, joined.text
    return cs_hub, teacher, student, code


def test_pull_all_merge_and_download_under_the_hub(hub_lesson):
    hub, teacher, student, code = hub_lesson
    student.put("api/contents/hub-work.ipynb", json=notebook(["mine = 0"]))
    # counted: a hub user who holds the session's event stream (their dashboard listens)
    stream = SSEReader(f"{student.base_url}codestream/api/student/events", dict(student.headers))
    try:
        pull_all_and_merge(teacher, student, code)
    finally:
        stream.close()


def pull_all_and_merge(teacher, student, code):
    first = student.post("codestream/api/student/pull-all", json={"notebook_path": "hub-work.ipynb"})
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 2
    assert student.post("codestream/api/student/pull-all", json={"notebook_path": "hub-work.ipynb"}
                        ).json()["added"] == 0
    content = student.get("api/contents/hub-work.ipynb").json()["content"]
    assert [c["source"] for c in content["cells"]] == ["mine = 0", "a = 1\nb = 2\nc = 3\n", "print('two')"]

    # the pulls were reported by hub identity
    def pulls():
        return {c["cell_id"]: c.get("pulls") for c in teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]}
    wait_until(lambda: pulls() == {"k1": {"1": 1}, "k2": {"1": 1}}, 20, what="the pull reports")

    # the student edits the copy, the teacher updates the cell: merged by past version 1
    content["cells"][1]["source"] = "a = 1\nb = 2\nc = 3\n# mine\n"
    assert student.put("api/contents/hub-work.ipynb", json={"type": "notebook", "content": content}
                       ).status_code == 200
    publish(teacher, code, "k1", "a = 100\nb = 2\nc = 3\n", 1.0)
    assert student.get("codestream/api/student/cells/k1", params={"version": 1}).json()["source"] == \
        "a = 1\nb = 2\nc = 3\n"
    merged = student.post("codestream/api/student/merge",
                          json={"notebook_path": "hub-work.ipynb", "cell_id": "k1", "apply": True})
    assert merged.status_code == 200, merged.text
    assert merged.json()["clean"] is True and merged.json()["base_version"] == 1 and merged.json()["version"] == 2
    cell = student.get("api/contents/hub-work.ipynb").json()["content"]["cells"][1]
    assert cell["source"] == "a = 100\nb = 2\nc = 3\n# mine\n"
    assert cell["metadata"]["codestream"]["before_merge"] == "a = 1\nb = 2\nc = 3\n# mine\n"

    # take the lesson home, through the student's own server
    answer = student.get("codestream/api/student/notebook")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/x-ipynb+json")
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="Hub lesson.ipynb"')
    nb = nbformat.reads(answer.text, as_version=4)
    nbformat.validate(nb)
    assert [c.source for c in nb.cells] == ["a = 100\nb = 2\nc = 3\n", "print('two')"]

    never = student.post("codestream/api/student/merge", json={"notebook_path": "hub-work.ipynb", "cell_id": "zz"})
    assert never.status_code == 404 and never.json()["error"]["code"] == "cell_not_found"
    outside = student.post("codestream/api/student/pull-all", json={"notebook_path": "../x.ipynb"})
    assert outside.status_code == 400
