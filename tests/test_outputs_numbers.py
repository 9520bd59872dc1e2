"""Outputs that travel with a cell, and cell numbers (contract v2: *Outputs*, *Cell numbers*)."""

from __future__ import annotations

import base64
import json

import nbformat
import pytest
from student_fixtures import configure

from codestream_dash.outputs_render import outputs_html
from jupyter_ext.domain import InvalidInput, PayloadTooLarge, validate_outputs
from jupyter_ext.pytest_plugin import SSEReader, create_session, publish, write_notebook
from jupyter_ext.testing import save_like_jupyterlab

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()
OUTPUTS = [
    {"output_type": "stream", "name": "stdout", "text": "0\n1\n"},
    {"output_type": "execute_result", "execution_count": 3, "metadata": {},
     "data": {"text/plain": "42", "image/png": PNG}},
]
HOSTILE_HTML = ('<b class="safe">bold</b><script>window.__pwned = 1</script>'
                '<img src="x" onerror="window.__pwned = 2"><a href="javascript:window.__pwned = 3">link</a>')
HOSTILE_SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 20 20" '
               'onload="window.__pwned = 4"><script>window.__pwned = 5</script><rect width="10" height="10"/></svg>')


def put(client, code, cell_id, **body):
    body = {"source": "x = 1", "cell_type": "code", "position": 0, **body}
    return client.put(f"codestream/api/sessions/{code}/cells/{cell_id}", json=body)


def test_validate_outputs_checks_nbformat_and_size():
    assert validate_outputs(None, "code") is None
    assert validate_outputs(OUTPUTS, "code") == OUTPUTS
    with pytest.raises(InvalidInput):
        validate_outputs([{"output_type": "stream", "name": "stdout"}], "code")  # no text
    with pytest.raises(InvalidInput):
        validate_outputs([{"output_type": "javascript"}], "code")
    with pytest.raises(InvalidInput):
        validate_outputs(OUTPUTS, "markdown")
    with pytest.raises(InvalidInput):
        validate_outputs({"output_type": "stream"}, "code")
    with pytest.raises(PayloadTooLarge):
        validate_outputs([{"output_type": "stream", "name": "stdout", "text": "x" * 200}], "code", max_bytes=100)


def test_outputs_render_without_anything_that_can_run():
    html = outputs_html([
        {"output_type": "display_data", "metadata": {}, "data": {"text/html": HOSTILE_HTML}},
        {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": HOSTILE_SVG}},
        {"output_type": "display_data", "metadata": {}, "data": {"application/javascript": "window.__pwned = 6"}},
        {"output_type": "stream", "name": "stdout", "text": "<script>no</script>"},
        {"output_type": "error", "ename": "E", "evalue": "v", "traceback": ["\x1b[31mboom <img onerror=x>\x1b[0m"]},
        {"output_type": "display_data", "metadata": {}, "data": {"image/png": PNG + '" onerror="x'}},
    ])
    lowered = html.lower()
    assert "<b class" not in lowered and "<b>bold</b>" in html  # cleaned, kept
    assert "<script" not in lowered and "onerror" not in lowered.replace("&lt;img onerror=x&gt;", "")
    assert "javascript:" not in lowered and "__pwned = 6" not in html
    assert "&lt;script&gt;no&lt;/script&gt;" in html and "boom" in html and "\x1b" not in html
    svg = html.split('src="data:image/svg+xml;base64,')[1].split('"')[0]
    decoded = base64.b64decode(svg).decode()
    assert "<rect" in decoded and "onload" not in decoded and "script" not in decoded
    assert html.count("data:image/png") == 0  # the tampered PNG is not shown
    ok = outputs_html(OUTPUTS)
    assert f"data:image/png;base64,{PNG}" in ok and "0\n1\n" in ok


def test_outputs_travel_with_the_cell_and_alone_do_not_bump_the_version(cs_teacher):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    assert put(teacher, code, "plot", outputs=OUTPUTS, number=3).json()["version"] == 1
    reader = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"Bearer {key}"})
    try:
        changed = [{"output_type": "stream", "name": "stdout", "text": "other\n"}]
        r = put(teacher, code, "plot", outputs=changed, number=3)
        assert r.status_code == 200 and r.json()["version"] == 1
        (event,) = reader.wait_for(1)
        data = json.loads(event["data"])
        assert event["event"] == "updated" and data["outputs_changed"] is True and data["version"] == 1
        assert data["number"] == 3
    finally:
        reader.close()
    student_view = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    cell = student_view.get(f"codestream/api/sessions/{code}/cells/plot").json()
    assert cell["outputs"] == changed and cell["number"] == 3 and cell["version"] == 1
    # code only: no outputs on the cell
    put(teacher, code, "plot")
    cell = student_view.get(f"codestream/api/sessions/{code}/cells/plot").json()
    assert cell.get("outputs", []) == []


def test_bad_outputs_are_refused_and_lose_nothing(cs_teacher):
    teacher = cs_teacher.client()
    code = create_session(teacher)["code"]
    put(teacher, code, "c1", outputs=OUTPUTS)
    r = put(teacher, code, "c1", outputs=[{"output_type": "stream"}])
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
    r = put(teacher, code, "c1", outputs=[{"output_type": "stream", "name": "stdout", "text": "x" * (3 << 20)}])
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = put(teacher, code, "c1", source="# md", cell_type="markdown", outputs=OUTPUTS)
    assert r.status_code == 400
    cell = teacher.get(f"codestream/api/sessions/{code}/cells/c1").json()
    assert cell["outputs"] == OUTPUTS and cell["version"] == 1


def test_numbers_are_the_publishers_or_the_rank(cs_teacher):
    teacher = cs_teacher.client()
    code = create_session(teacher)["code"]
    publish(teacher, code, "b", "b", 2.0)
    publish(teacher, code, "a", "a", 1.0)
    put(teacher, code, "n", source="n", position=5, number=9)
    cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["number"]) for c in cells] == [("a", 1), ("b", 2), ("n", 9)]
    assert teacher.get(f"codestream/api/sessions/{code}/cells/b").json()["number"] == 2
    for bad in (0, -1, 1.5, True, "3"):
        r = put(teacher, code, "n", number=bad)
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", bad


def test_publish_on_save_carries_the_saved_output(cs_teacher):
    path = write_notebook(cs_teacher.root_dir, "plots.ipynb", [("code", "print(1)")])
    nb = nbformat.read(str(path), as_version=4)
    teacher = cs_teacher.client()
    code = create_session(teacher)["code"]
    cell_id = nb.cells[0].id
    put(teacher, code, cell_id, source="print(1)", notebook_path="plots.ipynb", outputs=[], number=1)
    model = teacher.get("api/contents/plots.ipynb", params={"content": 1}).json()
    model["content"]["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "1\n"}]
    save_like_jupyterlab(teacher, "plots.ipynb", model["content"])

    def republished():
        return teacher.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json().get("outputs")
    from jupyter_ext.pytest_plugin import wait_until
    wait_until(lambda: republished() == [{"output_type": "stream", "name": "stdout", "text": "1\n"}], 10,
               what="the saved output republished")
    assert teacher.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json()["version"] == 1


def test_pull_inserts_outputs_only_when_asked(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code = session["code"]
    put(teacher, code, "plot", source="plot()", outputs=OUTPUTS, number=4)
    configure(student, cs_teacher.url, code, session["student_key"])
    write_notebook(cs_student.root_dir, "mine.ipynb", [("code", "mine = 1")])
    r = student.post("codestream/api/student/pull", json={"cell_id": "plot", "notebook_path": "mine.ipynb"})
    assert r.status_code == 200, r.text
    r = student.post("codestream/api/student/pull", json={"cell_id": "plot", "notebook_path": "mine.ipynb",
                                                          "with_outputs": True})
    assert r.status_code == 200, r.text
    assert r.json()["with_outputs"] is True and r.json()["number"] == 4
    nb = nbformat.read(str(cs_student.root_dir / "mine.ipynb"), as_version=4)
    nbformat.validate(nb)
    assert nb.cells[1].outputs == [] and [o["output_type"] for o in nb.cells[2].outputs] == [
        "stream", "execute_result"]
    assert nb.cells[2].metadata["codestream"]["number"] == 4
    r = student.post("codestream/api/student/pull", json={"cell_id": "plot", "notebook_path": "mine.ipynb",
                                                          "with_outputs": "yes"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"
