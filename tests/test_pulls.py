"""Who pulled what (contract v2): the student's server reports each pull; the teacher counts
distinct student servers per version; students never see the counts."""

from __future__ import annotations

import json

from student_fixtures import configure

from jupyter_ext.pytest_plugin import SSEReader, create_session, publish, wait_until, write_notebook


def pulls_of(teacher, code) -> dict:
    cells = teacher.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    return {cell["cell_id"]: cell["pulls"] for cell in cells}


def test_pulls_are_counted_per_version_and_only_the_teacher_sees_them(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "x = 1", 0)
    publish(teacher, code, "c2", "y = 2", 1)
    assert pulls_of(teacher, code) == {"c1": {}, "c2": {}}
    events = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events", cs_teacher.auth_headers())
    streams = []
    try:
        configure(student, cs_teacher.url, code, key)
        # counted: clients that hold an event stream of the session (the student's server opens
        # its one upstream stream while its dashboard listens; "laptop-7" is a second student)
        streams = [SSEReader(f"{cs_student.url}codestream/api/student/events", cs_student.auth_headers()),
                   SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events",
                             {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "laptop-7"})]
        write_notebook(cs_student.root_dir, "mine.ipynb", [("code", "mine = 1")])
        for _ in range(2):  # the same student server twice: one student
            r = student.post("codestream/api/student/pull", json={"cell_id": "c1", "notebook_path": "mine.ipynb"})
            assert r.status_code == 200, r.text
        wait_until(lambda: pulls_of(teacher, code)["c1"] == {"1": 1}, 10, what="the pull counted")
        (event,) = events.wait_for(1)
        assert event["event"] == "pulled" and json.loads(event["data"]) == {"session": code, "cell_id": "c1",
                                                                             "version": 1}

        as_student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
        report = f"codestream/api/sessions/{code}/cells/c1/pulled"
        assert as_student.post(report, json={"version": 1, "client": "laptop-7"}).status_code == 204
        publish(teacher, code, "c1", "x = 10", 0)  # v2
        assert as_student.post(report, json={"version": 2, "client": "laptop-7"}).status_code == 204
        assert pulls_of(teacher, code)["c1"] == {"1": 2, "2": 1}
        wait_until(lambda: [e["event"] for e in events.events].count("pulled") == 3, 10, what="3 pulled events")
        # a client without an event stream is accepted and not counted
        assert as_student.post(report, json={"version": 2, "client": "no-stream"}).status_code == 204
        assert pulls_of(teacher, code)["c1"] == {"1": 2, "2": 1}

        # students' answers never carry the counts
        listing = as_student.get(f"codestream/api/sessions/{code}/cells").json()
        assert all("pulls" not in cell for cell in listing["cells"])
        assert "pulls" not in as_student.get(f"codestream/api/sessions/{code}/cells/c1").json()
        assert all("pulls" not in cell for cell in student.get("codestream/api/student/cells").json()["cells"])

        # bad reports get the contract's errors and count nothing
        for body in ({"version": 0, "client": "a"}, {"version": 9, "client": "a"}, {"version": 1},
                     {"version": 1, "client": "x" * 65}, {"version": True, "client": "a"}, []):
            r = as_student.post(report, json=body)
            assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input", body
        r = as_student.post(f"codestream/api/sessions/{code}/cells/nope/pulled", json={"version": 1, "client": "a"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "cell_not_found"
        wrong = cs_teacher.client(auth=False, headers={"Authorization": "Bearer WRONG-KEY"})
        assert wrong.post(report, json={"version": 1, "client": "a"}).status_code == 401
        assert cs_teacher.client(auth=False).post(report, json={"version": 1, "client": "a"}).status_code == 401
        assert pulls_of(teacher, code)["c1"] == {"1": 2, "2": 1}
    finally:
        events.close()
        for stream in streams:
            stream.close()
    # the counts go with the session
    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
