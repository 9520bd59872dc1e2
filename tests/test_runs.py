"""Run status (contract v3 *Run status*) and honest counts: reports by the API, and by a real
student's server from its saved notebook and from jupyter-collaboration's live document; the
opt-out; only the teacher sees the counts and the ``runs`` events."""

from __future__ import annotations

import asyncio
import json

from jupyter_ydoc import YNotebook
from pycrdt import Array, Doc, Map, Provider
from student_fixtures import configure
from test_student_collab import WebSocketChannel, eventually, open_room

from jupyter_ext.pytest_plugin import SSEReader, create_session, publish, wait_until, write_notebook

NO_RUNS = {"ok": 0, "error": 0, "errors": {}}


def runs_of(teacher, code) -> dict:
    cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    return {cell["cell_id"]: cell["runs"] for cell in cells}


def test_runs_are_counted_once_per_present_client_and_only_the_teacher_sees_them(cs_teacher):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "x = 1", 0)
    publish(teacher, code, "c2", "y = z", 1)
    base = f"{cs_teacher.url}codestream/api/sessions/{code}/"
    teacher_events = SSEReader(base + "events", cs_teacher.auth_headers())
    streams = {name: SSEReader(base + "events", {"Authorization": f"Bearer {key}", "X-CodeStream-Client": name})
               for name in ("s1", "s2", "s3")}
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    report = f"codestream/api/sessions/{code}/cells/c2/runs"
    try:
        assert runs_of(teacher, code) == {"c1": NO_RUNS, "c2": NO_RUNS}
        for client, state, ename in (("s1", "error", "NameError"), ("s2", "error", "NameError"),
                                     ("s3", "error", "TypeError")):
            r = student.post(report, json={"client": client, "version": 1, "state": state, "ename": ename})
            assert r.status_code == 204, r.text
        assert runs_of(teacher, code)["c2"] == {"ok": 0, "error": 3, "errors": {"NameError": 2, "TypeError": 1}}
        # the latest run of a client wins; the same one again changes nothing
        assert student.post(report, json={"client": "s1", "version": 1, "state": "ok"}).status_code == 204
        assert student.post(report, json={"client": "s1", "version": 1, "state": "ok"}).status_code == 204
        expected = {"ok": 1, "error": 2, "errors": {"NameError": 1, "TypeError": 1}}
        assert runs_of(teacher, code)["c2"] == expected
        # a client without an event stream is accepted and not counted
        assert student.post(report, json={"client": "ghost", "version": 1, "state": "ok"}).status_code == 204
        assert runs_of(teacher, code)["c2"] == expected
        # the teacher hears each change, with the cell's new counts
        events = wait_until(lambda: [e for e in teacher_events.events if e["event"] == "runs"][3:] or None, 10,
                            what="4 runs events")
        assert json.loads(events[-1]["data"]) == {"session": code, "cell_id": "c2", "runs": expected}
        assert len([e for e in teacher_events.events if e["event"] == "runs"]) == 4

        # students never see runs: not in their lists, not in their streams
        listing = student.get(f"codestream/api/sessions/{code}/cells").json()
        assert all("runs" not in cell for cell in listing["cells"])
        publish(teacher, code, "c3", "done", 2)
        for stream in streams.values():
            stream.wait_for(1)
            assert {e["event"] for e in stream.events} == {"published"}

        # bad reports get the contract's errors and change nothing
        for body in ({"client": "s1", "version": 1, "state": "maybe"}, {"client": "s1", "version": 9, "state": "ok"},
                     {"client": "s1", "version": 1, "state": "error", "ename": "x" * 65},
                     {"client": "s1", "version": 1, "state": "error", "ename": "<b>"},
                     {"version": 1, "state": "ok"}, {"client": "s1", "version": "1", "state": "ok"}):
            r = student.post(report, json=body)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", body
        r = student.post(f"codestream/api/sessions/{code}/cells/nope/runs",
                         json={"client": "s1", "version": 1, "state": "ok"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "cell_not_found"
        wrong = cs_teacher.client(auth=False, headers={"Authorization": "Bearer WRONG"})
        assert wrong.post(report, json={"client": "s1", "version": 1, "state": "ok"}).status_code == 401
        assert runs_of(teacher, code)["c2"] == expected
    finally:
        teacher_events.close()
        for stream in streams.values():
            stream.close()


def notebook_with_results(root, path, code, results):
    """A notebook of pulled copies (``codestream`` metadata) with the given run results."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    for cell_id, source, outputs in results:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["codestream"] = {"session": code, "cell_id": cell_id, "version": 1}
        cell.execution_count = 1
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(cell)
    return {"type": "notebook", "format": "json", "content": nb}


ERROR = {"output_type": "error", "ename": "NameError", "evalue": "secret value", "traceback": ["secret tb"]}
RESULT = {"output_type": "execute_result", "execution_count": 1, "data": {"text/plain": "1"}, "metadata": {}}


def test_the_students_server_reports_runs_from_saves_and_honours_the_opt_out(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "x = 1", 0)
    publish(teacher, code, "c2", "y = z", 1)
    configure(student, cs_teacher.url, code, key)
    own_stream = SSEReader(f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers())
    try:
        save = notebook_with_results(cs_student.root_dir, "mine.ipynb", code,
                                     [("c1", "x = 1", [RESULT]), ("c2", "y = z", [ERROR])])
        assert student.put("api/contents/mine.ipynb", json=save).status_code in (200, 201)
        wait_until(lambda: runs_of(teacher, code) == {
            "c1": {"ok": 1, "error": 0, "errors": {}},
            "c2": {"ok": 0, "error": 1, "errors": {"NameError": 1}}}, 20, what="runs from the saved notebook")

        # the opt-out: a save now tells the teacher nothing
        off = student.put("codestream/api/student/config", json={"teacher_url": cs_teacher.url,
                                                                 "session_code": code, "share_run_status": False})
        assert off.status_code == 200 and off.json()["share_run_status"] is False
        own_stream.close()
        own_stream = SSEReader(f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers())
        save = notebook_with_results(cs_student.root_dir, "mine.ipynb", code, [("c1", "x = 1", [ERROR])])
        assert student.put("api/contents/mine.ipynb", json=save).status_code == 200
        on = student.put("codestream/api/student/config", json={"teacher_url": cs_teacher.url,
                                                                "session_code": code, "share_run_status": True})
        assert on.json()["share_run_status"] is True
        save = notebook_with_results(cs_student.root_dir, "other.ipynb", code, [("c2", "y = 1", [RESULT])])
        assert student.put("api/contents/other.ipynb", json=save).status_code in (200, 201)
        wait_until(lambda: runs_of(teacher, code)["c2"]["ok"] == 1, 20, what="the run after opting in again")
        assert runs_of(teacher, code)["c1"] == {"ok": 1, "error": 0, "errors": {}}  # the opted-out save
    finally:
        own_stream.close()


async def test_runs_are_reported_from_the_live_document(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "boom()", 0)
    configure(student, cs_teacher.url, code, key)
    own_stream = await asyncio.to_thread(
        SSEReader, f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers())
    path = "live-runs.ipynb"
    write_notebook(cs_student.root_dir, path, [("code", "mine = 1")])
    connection, room_id = await open_room(cs_student, student, path)
    doc = Doc()
    notebook = YNotebook(doc)
    try:
        async with Provider(doc, WebSocketChannel(connection, room_id)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 20)
            await eventually(lambda: notebook.cell_number == 1, what="the notebook in the room")
            r = await asyncio.to_thread(student.post, "codestream/api/student/pull",
                                        json={"cell_id": "c1", "notebook_path": path})
            assert r.status_code == 200 and r.json()["live"] is True, r.text
            await eventually(lambda: notebook.cell_number == 2, what="the pulled cell in the room")
            # the kernel's result lands in the shared document (as JupyterLab writes it there)
            ycell = notebook.ycells[1]
            with doc.transaction():
                ycell["execution_count"] = 1.0
                ycell["outputs"].append(Map({"output_type": "error", "ename": "ZeroDivisionError",
                                             "evalue": "division by zero", "traceback": Array(["tb"])}))

            def counted():
                return runs_of(teacher, code)["c1"] == {"ok": 0, "error": 1, "errors": {"ZeroDivisionError": 1}}

            await eventually(counted, 30, what="the run from the live document")
    finally:
        connection.close()
        own_stream.close()
