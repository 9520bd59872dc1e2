"""Every registered route refuses a request without credentials, and a student key opens only
the read routes of its own session — never another session's, a teacher route or a student route.

The routes come from the extension's own registration (``registered_routes()``), the read routes
from the OpenAPI document (operations whose security lists ``studentKey``), so a new route is
covered here the moment it is registered.
"""

from __future__ import annotations

import httpx
import pytest
from test_openapi import documented_operations, load_document, normalized, read_operations, registered_routes

ROUTES = registered_routes()
READ = read_operations(load_document())
OTHER_SERVER = "http://127.0.0.1:9/"  # nothing listens there; refused requests must not get that far

# A valid body per write route, so that a refusal is about credentials, not about the input.
VALID_BODIES = {
    ("/codestream/api/sessions", "post"): {"title": "intruder"},
    ("/codestream/api/sessions/{code}/cells/{cell_id}", "put"):
        {"source": "print('owned')", "cell_type": "code", "position": 9},
    ("/codestream/api/student/config", "put"):
        {"teacher_url": OTHER_SERVER, "session_code": "ABCDEF", "student_key": "not-a-real-key"},
    ("/codestream/api/student/pull", "post"): {"cell_id": "c1", "notebook_path": "lesson.ipynb"},
    ("/codestream/api/student/pull-all", "post"): {"notebook_path": "lesson.ipynb"},
    ("/codestream/api/student/merge", "post"): {"cell_id": "c1", "notebook_path": "lesson.ipynb", "apply": True},
    ("/code_stream/{code}/push-cell", "post"): {"cell_id": "c1", "cell_content": "owned", "cell_timestamp": "1"},
    ("/code_stream/{code}/update", "post"): {"cell_id": "c1", "cell_content": "owned", "cell_timestamp": "1"},
    ("/code_stream/{code}/delete", "post"): {"cell_id": "c1"},
    ("/code_stream/config", "post"): {"teacher_base_url": OTHER_SERVER, "teacher_token": "not-a-real-key"},
}
VALID_BODIES[("/codestream/api/sessions/{code}/cells/{cell_id}/pulled", "post")] = {"version": 1, "client": "c"}
VALID_BODIES[("/codestream/api/sessions/{code}/cells/{cell_id}/runs", "post")] = {"version": 1, "client": "c",
                                                                                   "state": "ok"}
VALID_BODIES[("/codestream/api/sessions/{code}/hands", "post")] = {"client": "c", "source": "x = ?"}
# a student-key route whose right answer to the key is about the made-up path part (no such hand)
OWN_SESSION_ANSWERS = {("/codestream/api/sessions/{code}/hands/{hand_id}", "delete"): (404,)}
QUERIES = {("/code_stream/{code}/get-cell", "get"): {"cell_id": "c1", "cell_timestamp": "1"}}


# documented as public (anonymous security): the join page a join link opens (tests/test_join.py)
PUBLIC = {key for key, operation in documented_operations(load_document()).items() if {} in operation["security"]}


def route_calls():
    """``(route, method)`` for every registered route and method that needs a credential."""
    return [(route, method) for route in ROUTES for method in route.methods
            if (normalized(route.path), method) not in PUBLIC]


def call(client: httpx.Client, route, method: str, code: str, headers: dict | None = None) -> tuple[int, object]:
    """One request; an event stream that opens is closed at once (its status is what counts)."""
    key = (normalized(route.path), method)
    url = route.url(code=code, cell_id="c1")
    kwargs = {"headers": headers or {}}
    if key in VALID_BODIES:
        kwargs["json"] = VALID_BODIES[key]
    if key in QUERIES:
        kwargs["params"] = QUERIES[key]
    with client.stream(method.upper(), url, **kwargs) as response:
        if "text/event-stream" in response.headers.get("content-type", ""):
            return response.status_code, None
        response.read()
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, response.text


def refusal_problem(route, method: str, status: int, body: object, allowed=(401, 403)) -> str | None:
    """Why this answer is not a proper refusal in the contract's shape (None if it is one)."""
    where = f"{method.upper()} {route.path}"
    if status not in allowed:
        return f"{where}: {status} (expected one of {allowed})"
    if route.path.startswith("/code_stream/"):
        if not (isinstance(body, dict) and body.get("status") == "error" and body.get("message")):
            return f"{where}: not the 1.x error shape: {body!r}"
    elif not (isinstance(body, dict) and isinstance(body.get("error"), dict)
              and body["error"].get("code") and body["error"].get("message")):
        return f"{where}: not the contract error shape: {body!r}"
    return None


@pytest.fixture
def two_sessions(cs_teacher):
    """Sessions A and B, each with a published cell ``c1``."""
    teacher = cs_teacher.client()
    sessions = []
    for title in ("A", "B"):
        r = teacher.post("codestream/api/sessions", json={"title": title})
        assert r.status_code == 201, r.text
        session = r.json()
        r = teacher.put(f"codestream/api/sessions/{session['code']}/cells/c1",
                        json={"source": f"print('{title}')", "cell_type": "code", "position": 1})
        assert r.status_code == 200, r.text
        sessions.append(session)
    return sessions


def assert_nothing_changed(cs_teacher, sessions: list[dict]) -> None:
    """Refused writes left no trace: same sessions, same cells, keys still valid, no student config."""
    teacher = cs_teacher.client()
    listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert set(listed) == {s["code"] for s in sessions}
    for session in sessions:
        cells = teacher.get(f"codestream/api/sessions/{session['code']}/cells").json()["cells"]
        assert [(c["cell_id"], c["source"], c["version"]) for c in cells] == [
            ("c1", f"print('{session['title']}')", 1)]
        student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {session['student_key']}"})
        assert student.get(f"codestream/api/sessions/{session['code']}/cells").status_code == 200
    r = teacher.get("codestream/api/student/config")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_configured"


def test_every_route_refuses_a_request_without_credentials(cs_teacher, two_sessions):
    nobody = cs_teacher.client(auth=False)
    code = two_sessions[0]["code"]
    problems = []
    for route, method in route_calls():
        status, body = call(nobody, route, method, code)
        problem = refusal_problem(route, method, status, body)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert_nothing_changed(cs_teacher, two_sessions)


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_student_key_opens_only_the_read_routes_of_its_own_session(cs_teacher, two_sessions, scheme):
    own, other = two_sessions
    student = cs_teacher.client(auth=False, headers={"Authorization": f"{scheme} {own['student_key']}"})
    problems, opened = [], []
    for route, method in route_calls():
        key = (normalized(route.path), method)
        status, body = call(student, route, method, own["code"])
        if key in READ:
            if status not in OWN_SESSION_ANSWERS.get(key, (200, 201, 204)):  # 204: a report
                problems.append(f"{method.upper()} {route.path}: own session's read route answered {status}: {body!r}")
            opened.append(key)
            status, body = call(student, route, method, other["code"])
            problem = refusal_problem(route, method, status, body, allowed=(401,))
            if problem:
                problems.append(f"another session: {problem}")
        else:
            problem = refusal_problem(route, method, status, body)
            if problem:
                problems.append(problem)
    assert not problems, "\n".join(problems)
    assert set(opened) == READ, "every documented read route is registered and was tried"
    assert_nothing_changed(cs_teacher, two_sessions)


def test_student_key_in_the_query_string_opens_nothing(cs_teacher, two_sessions):
    """Jupyter reads ``?token=``; a student key there must not pass as the teacher's token."""
    own = two_sessions[0]
    nobody = cs_teacher.client(auth=False)
    problems = []
    for route, method in route_calls():
        key = (normalized(route.path), method)
        url = route.url(code=own["code"], cell_id="c1")
        params = {**QUERIES.get(key, {}), "token": own["student_key"]}
        with nobody.stream(method.upper(), url, params=params, json=VALID_BODIES.get(key)) as response:
            response.read()
            body = response.json() if "json" in response.headers.get("content-type", "") else response.text
            problem = refusal_problem(route, method, response.status_code, body)
        if problem:
            problems.append(problem)
    assert not problems, "\n".join(problems)
    assert_nothing_changed(cs_teacher, two_sessions)


def test_rotated_key_fails_at_once_on_every_read_route(cs_teacher, two_sessions):
    own = two_sessions[0]
    teacher = cs_teacher.client()
    r = teacher.post(f"codestream/api/sessions/{own['code']}/key")
    assert r.status_code == 200
    new_key = r.json()["student_key"]
    old = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {own['student_key']}"})
    new = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {new_key}"})
    read_routes = [(route, method) for route, method in route_calls() if (normalized(route.path), method) in READ]
    assert len(read_routes) == len(READ)
    problems = []
    for route, method in read_routes:
        status, body = call(old, route, method, own["code"])
        problem = refusal_problem(route, method, status, body, allowed=(401,))
        if problem:
            problems.append(f"old key: {problem}")
        status, body = call(new, route, method, own["code"])
        if status not in OWN_SESSION_ANSWERS.get((normalized(route.path), method), (200, 201, 204)):
            problems.append(f"new key: {method.upper()} {route.path} answered {status}: {body!r}")
    assert not problems, "\n".join(problems)
