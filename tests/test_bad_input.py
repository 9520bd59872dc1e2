"""Bad input on every route gets a clear 4xx in the contract's error shape, never a 5xx.

Table-driven over the registered routes (``registered_routes()``) and the OpenAPI document:
malformed JSON, wrong types, missing fields, oversize sources (413), bad session codes and cell
ids, path traversal in ``notebook_path``, unknown notebooks, unknown sessions and cells. All
against a real Jupyter server on a real Redis; the server's own student side is pointed at
itself where a student route needs a teacher.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from test_openapi import documented_operations, load_document, normalized, registered_routes

from jupyter_ext.domain.cells import DEFAULT_MAX_SOURCE_BYTES
from jupyter_ext.handlers.base import MAX_JSON_BODY_BYTES
from jupyter_ext.testing import write_notebook

DOCUMENT = load_document()
# a laptop server's operations: the hub-only ones (x-codestream-hub) are tested under a real hub
OPERATIONS = {key: op for key, op in documented_operations(DOCUMENT).items() if not op.get("x-codestream-hub")}
ROUTES = {normalized(route.path): route for route in registered_routes()}
BODY_OPERATIONS = sorted(key for key, op in OPERATIONS.items() if "requestBody" in op)
# the public join page answers people in HTML (its 400/404 are in tests/test_join.py)
WITH_CODE = sorted(key for key, op in OPERATIONS.items() if "{code}" in key[0] and {} not in op["security"])
WITH_CELL = sorted(key for key in OPERATIONS if "{cell_id}" in key[0])
CELL = "/codestream/api/sessions/{code}/cells/{cell_id}"
PUSH, UPDATE, DELETE_1X = "/code_stream/{code}/push-cell", "/code_stream/{code}/update", "/code_stream/{code}/delete"
GET_CELL_1X, ALL_IDS_1X = "/code_stream/{code}/get-cell", "/code_stream/{code}/get-all-cell-ids"
CLEANUP_1X = "/code_stream/{code}/cleanup-orphan-cells"
GET_CELL_1X = "/code_stream/{code}/get-cell"
SESSION = "/codestream/api/sessions/{code}"
HANDS = SESSION + "/hands"

# What a valid request to each route looks like (the bad part is then the only problem).
VALID_BODIES = {
    ("/codestream/api/sessions", "post"): {"title": "ok"},
    (CELL, "put"): {"source": "x = 1", "cell_type": "code", "position": 1},
    ("/codestream/api/student/config", "put"): {"teacher_url": "http://127.0.0.1:9/", "session_code": "ABCDEF"},
    ("/codestream/api/student/pull", "post"): {"cell_id": "c1", "notebook_path": "lesson.ipynb"},
    (PUSH, "post"): {"cell_id": "c1", "cell_content": "x = 1"},
    (UPDATE, "post"): {"cell_id": "c1", "cell_content": "x = 1"},
    (DELETE_1X, "post"): {"cell_id": "c1"},
    (CLEANUP_1X, "post"): {"valid_cell_ids": ["c1"]},
    ("/code_stream/config", "post"): {"teacher_base_url": "http://127.0.0.1:9/"},
    (CELL + "/pulled", "post"): {"version": 1, "client": "student-server-1"},
    ("/codestream/api/publish/retry", "post"): {},
    (CELL + "/runs", "post"): {"version": 1, "client": "student-server-1", "state": "ok"},
    (SESSION, "patch"): {"hands_open": True},
    (HANDS, "post"): {"client": "student-server-1", "source": "x = 1"},
    (HANDS + "/{hand_id}", "patch"): {"state": "done"},
    (HANDS + "/{hand_id}/spotlight", "post"): {},
    ("/codestream/api/student/hands", "post"): {"notebook_path": "lesson.ipynb", "cell_index": 0},
    ("/codestream/api/sessions/{code}/focus", "put"): {"cell_id": "c1"},
    ("/codestream/api/student/pull-all", "post"): {"notebook_path": "lesson.ipynb"},
    ("/codestream/api/student/merge", "post"): {"cell_id": "c1", "notebook_path": "lesson.ipynb"},
    ("/codestream/api/student/merge/undo", "post"): {"cell_id": "c1", "notebook_path": "lesson.ipynb"},
}
QUERIES = {(GET_CELL_1X, "get"): {"cell_id": "c1"}}


def ids(keys):
    return [f"{method.upper()} {path}" for path, method in keys]


def test_tables_cover_every_body_route():
    assert set(BODY_OPERATIONS) == set(VALID_BODIES), "a route with a body needs a row in VALID_BODIES"
    assert WITH_CODE and WITH_CELL and all(path in ROUTES for path, _ in OPERATIONS)


def url_of(path: str, code: str = "ABCDEF", cell_id: str = "c1") -> str:
    return ROUTES[path].url(code=code, cell_id=cell_id, hand_id="nohand")


def send(client: httpx.Client, method: str, path: str, *, code: str = "ABCDEF", cell_id: str = "c1",
         **kwargs) -> httpx.Response:
    """One request; an event stream is never read to its (non-existent) end."""
    if (path, method) in QUERIES and "params" not in kwargs:
        kwargs["params"] = QUERIES[(path, method)]
    with client.stream(method.upper(), url_of(path, code, cell_id), **kwargs) as response:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.read()
    return response


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    """A ``status`` answer in the contract's error shape (the 1.x shape on ``code_stream/``)."""
    where = f"{response.request.method} {response.request.url.path}"
    assert response.status_code == status, f"{where}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), where
    body = response.json()
    if response.request.url.path.startswith("/code_stream/"):
        assert body["status"] == "error" and isinstance(body["message"], str) and body["message"], where
        error = body
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, f"{where}: {body}"
        error = body["error"]
        assert isinstance(error["message"], str) and error["message"].strip(), where
    if code is not None:
        assert error.get("code") == code, f"{where}: {body}"
    return body


@pytest.fixture
def session(cs_teacher):
    teacher = cs_teacher.client()
    r = teacher.post("codestream/api/sessions", json={"title": "bad input"})
    assert r.status_code == 201, r.text
    created = r.json()
    r = teacher.put(f"codestream/api/sessions/{created['code']}/cells/c1",
                    json={"source": "print(1)", "cell_type": "code", "position": 1})
    assert r.status_code == 200, r.text
    return created


@pytest.fixture
def self_connected(cs_teacher, session):
    """The server's student side connected to ``session`` on the same server (for pulls)."""
    teacher = cs_teacher.client()
    r = teacher.put("codestream/api/student/config", json={
        "teacher_url": cs_teacher.url, "session_code": session["code"], "student_key": session["student_key"]})
    assert r.status_code == 200, r.text
    yield session
    assert teacher.delete("codestream/api/student/config").status_code == 204


# -- malformed JSON, wrong body types ----------------------------------------------------

MALFORMED = [b"{not json", b'{"title": "x",}', b"\xff\xfe{}", b"[1, 2]", b'"text"', b"42", b"null", b"true"]
# too deep: beyond Python's recursion limit (a RecursionError in json.loads), and beyond the
# contract's depth (64) but within what json.loads returns
DEEP = [b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"a": ' + b'{"b": ' * 200 + b"1" + b"}" * 200 + b"}",
        b'{"cell_id": "c1", "outputs": [' + b"[" * 70 + b"]" * 70 + b"]}"]


@pytest.mark.parametrize("key", BODY_OPERATIONS, ids=ids(BODY_OPERATIONS))
def test_malformed_json_and_non_object_bodies_are_400(cs_teacher, session, key):
    client = cs_teacher.client()
    path, method = key
    for raw in MALFORMED:
        r = send(client, method, path, code=session["code"], content=raw,
                 headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_input")


@pytest.mark.parametrize("key", sorted(set(OPERATIONS) - set(BODY_OPERATIONS)),
                         ids=ids(sorted(set(OPERATIONS) - set(BODY_OPERATIONS))))
def test_routes_without_a_body_ignore_garbage_bodies_without_failing(cs_teacher, key):
    path, method = key
    if method == "get":
        return  # a GET body is not sent by clients; httpx refuses to send one in a stream
    r = send(cs_teacher.client(), method, path, content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text


@pytest.mark.parametrize("key", BODY_OPERATIONS, ids=ids(BODY_OPERATIONS))
def test_deeply_nested_bodies_are_400_without_a_traceback(cs_teacher, session, key):
    client = cs_teacher.client()
    path, method = key
    before = len(cs_teacher.log_text())
    for raw in DEEP:
        r = send(client, method, path, code=session["code"], content=raw,
                 headers={"Content-Type": "application/json"})
        assert_error(r, 400, "invalid_input")
    log = cs_teacher.log_text()[before:]
    assert "RecursionError" not in log and "Traceback" not in log


# -- wrong types and missing fields ----------------------------------------------------

WRONG_FIELDS = [
    # (path, method, body, status, code)
    ("/codestream/api/sessions", "post", {"title": 5}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"title": "x" * 201}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"title": ["a"]}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"notebook_path": 7}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"notebook_path": ""}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"notebook_path": {"a": 1}}, 400, "invalid_input"),
    ("/codestream/api/sessions", "post", {"relay_url": "ftp://relay/"}, 400, "invalid_url"),
    ("/codestream/api/sessions", "post", {"relay_url": 5}, 400, "invalid_url"),
    (CELL, "put", {}, 400, "invalid_input"),
    (CELL, "put", {"cell_type": "code", "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": None, "cell_type": "code", "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": ["x"], "cell_type": "code", "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "python", "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": ["code"], "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": {"code": 1}, "position": 1}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "code"}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "code", "position": "1"}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "code", "position": True}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "code", "position": None}, 400, "invalid_input"),
    (CELL, "put", {"source": "x", "cell_type": "code", "position": 1, "notebook_path": 3}, 400, "invalid_input"),
    ("/codestream/api/student/config", "put", {}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": 5, "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "ftp://t/", "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http://u:p@t/", "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http://t/?token=x", "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http://t/#x", "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http:///x", "session_code": "ABCDEF"}, 400, "invalid_url"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http://t/"}, 400, "invalid_session_code"),
    ("/codestream/api/student/config", "put", {"teacher_url": "http://t/", "session_code": 123456}, 400, "invalid_session_code"),
    ("/codestream/api/student/config", "put",
     {"teacher_url": "http://t/", "session_code": "ABCDEF", "student_key": 5}, 400, "invalid_input"),
    ("/codestream/api/student/config", "put",
     {"teacher_url": "http://t/", "session_code": "ABCDEF", "student_key": "has space"}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post", {}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post", {"cell_id": 5, "notebook_path": "a.ipynb"}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post", {"cell_id": "c1"}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post", {"cell_id": "c1", "notebook_path": 5}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post",
     {"cell_id": "c1", "notebook_path": "a.ipynb", "position": "middle"}, 400, "invalid_input"),
    ("/codestream/api/student/pull", "post",
     {"cell_id": "c1", "notebook_path": "a.ipynb", "position": 3}, 400, "invalid_input"),
    ("/codestream/api/student/pull-all", "post", {}, 400, "invalid_input"),
    ("/codestream/api/student/pull-all", "post", {"notebook_path": 5}, 400, "invalid_input"),
    ("/codestream/api/student/pull-all", "post", {"notebook_path": "a.txt"}, 400, "invalid_input"),
    ("/codestream/api/student/pull-all", "post", {"notebook_path": "a.ipynb", "with_outputs": "yes"}, 400,
     "invalid_input"),
    ("/codestream/api/student/merge", "post", {}, 400, "invalid_input"),
    ("/codestream/api/student/merge", "post", {"notebook_path": "a.ipynb"}, 400, "invalid_input"),
    ("/codestream/api/student/merge", "post", {"cell_id": "c1"}, 400, "invalid_input"),
    ("/codestream/api/student/merge", "post", {"cell_id": "c1", "notebook_path": "a.ipynb", "apply": 1}, 400,
     "invalid_input"),
    ("/codestream/api/student/merge", "post",
     {"cell_id": "c1", "notebook_path": "a.ipynb", "resolution": ["x"]}, 400, "invalid_input"),
    (PUSH, "post", {}, 400, "invalid_cell_id"),
    (PUSH, "post", {"cell_id": "c1"}, 400, "invalid_input"),
    (PUSH, "post", {"cell_id": "c1", "cell_content": 5}, 400, "invalid_input"),
    (PUSH, "post", {"cell_id": 5, "cell_content": "x"}, 400, "invalid_cell_id"),
    (UPDATE, "post", {"cell_id": "c1", "cell_content": None}, 400, "invalid_input"),
    (DELETE_1X, "post", {}, 400, "invalid_cell_id"),
    (DELETE_1X, "post", {"cell_id": ["c1"]}, 400, "invalid_cell_id"),
    (CLEANUP_1X, "post", {}, 400, "invalid_input"),
    (CLEANUP_1X, "post", {"valid_cell_ids": "c1"}, 400, "invalid_input"),
    (CLEANUP_1X, "post", {"valid_cell_ids": [1]}, 400, "invalid_input"),
    (CLEANUP_1X, "post", {"valid_cell_ids": ["c"] * 10_001}, 400, "invalid_input"),
    (HANDS, "post", {"source": "x"}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1"}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": ["x"]}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": "x", "note": "n" * 501}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": "x", "name": "n" * 41}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": "x", "outputs": [{"output_type": "nope"}]}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": "x", "outputs": {"a": 1}}, 400, "invalid_input"),
    (HANDS, "post", {"client": "s1", "source": "x", "cell_id": "../c1"}, 400, "invalid_cell_id"),
    (HANDS, "post", {"client": "s1", "source": "x", "cell_id": "nope"}, 404, "cell_not_found"),
    (HANDS, "post", {"client": "s1", "source": "x" * (64 * 1024 + 1)}, 413, "payload_too_large"),
    (HANDS, "post", {"client": "s1", "source": "x",
                     "outputs": [{"output_type": "stream", "name": "stdout", "text": "y" * 262145}]},
     413, "payload_too_large"),
    (HANDS + "/{hand_id}", "patch", {"state": "open"}, 400, "invalid_input"),
    (HANDS + "/{hand_id}", "patch", {"state": "done"}, 404, "hand_not_found"),
    (HANDS + "/{hand_id}/spotlight", "post", {"with_outputs": "yes"}, 400, "invalid_input"),
    (HANDS + "/{hand_id}/spotlight", "post", {}, 404, "hand_not_found"),
    (SESSION, "patch", {}, 400, "invalid_input"),
    (SESSION, "patch", {"hands_open": 1}, 400, "invalid_input"),
    (CELL + "/runs", "post", {"version": 1, "client": "s1", "state": "fine"}, 400, "invalid_input"),
    (CELL + "/runs", "post", {"version": 1, "client": "s1", "state": "error", "ename": "a b"}, 400, "invalid_input"),
    (CELL + "/runs", "post", {"version": 1, "client": "s1", "state": "error", "ename": "E" * 65}, 400, "invalid_input"),
    (CELL + "/runs", "post", {"version": 7, "client": "s1", "state": "ok"}, 400, "invalid_input"),
    (CELL + "/runs", "post", {"version": 1, "state": "ok"}, 400, "invalid_input"),
    ("/codestream/api/student/config", "put",
     {"teacher_url": "http://t/", "session_code": "ABCDEF", "name": "n" * 41}, 400, "invalid_input"),
    ("/codestream/api/student/config", "put",
     {"teacher_url": "http://t/", "session_code": "ABCDEF", "share_run_status": "no"}, 400, "invalid_input"),
    ("/code_stream/config", "post", {}, 400, "invalid_url"),
    ("/code_stream/config", "post", {"teacher_base_url": "javascript:alert(1)"}, 400, "invalid_url"),
    ("/code_stream/config", "post", {"teacher_base_url": "http://t/", "teacher_token": 5}, 400, "invalid_input"),
]


@pytest.mark.parametrize("path,method,body,status,code", WRONG_FIELDS)
def test_wrong_types_and_missing_fields(cs_teacher, session, path, method, body, status, code):
    client = cs_teacher.client()
    r = send(client, method, path, code=session["code"], json=body)
    assert_error(r, status, code)
    cells = client.get(f"codestream/api/sessions/{session['code']}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"]) for c in cells] == [("c1", "print(1)")], "bad input changed nothing"
    assert client.get("codestream/api/student/config").status_code == 404, "bad input configured nothing"


def test_talkback_limits_and_student_reads_change_nothing(cs_teacher, session):
    """Hands closed (409), too many hands (429), a student reading the queue or the runs (401/403)."""
    client = cs_teacher.client()
    code, key = session["code"], session["student_key"]
    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    hands = f"codestream/api/sessions/{code}/hands"
    assert client.patch(f"codestream/api/sessions/{code}", json={"hands_open": False}).status_code == 200
    assert_error(student.post(hands, json={"client": "s1", "source": "x"}), 409, "hands_closed")
    assert client.patch(f"codestream/api/sessions/{code}", json={"hands_open": True}).status_code == 200
    for _ in range(10):
        assert student.post(hands, json={"client": "s1", "source": "x"}).status_code == 201
    assert_error(student.post(hands, json={"client": "s1", "source": "y"}), 429, "too_many_requests")
    assert [h["source"] for h in client.get(hands).json()["hands"]] == ["x"]
    assert_error(student.get(hands), 403)
    assert_error(cs_teacher.client(auth=False).get(hands), 403)
    assert_error(student.patch(f"codestream/api/sessions/{code}", json={"hands_open": False}), 403)
    assert all("runs" not in c for c in student.get(f"codestream/api/sessions/{code}/cells").json()["cells"])
    assert_error(cs_teacher.client(auth=False, headers={"Authorization": "Bearer WRONG"}).post(
        f"codestream/api/sessions/{code}/cells/c1/runs", json={"version": 1, "client": "s1", "state": "ok"}), 401)


def test_get_cell_1x_needs_a_cell_id(cs_teacher, session):
    r = send(cs_teacher.client(), "get", GET_CELL_1X, code=session["code"], params={})
    assert_error(r, 400, "invalid_cell_id")


# -- oversize -------------------------------------------------------------------------

def test_source_over_the_limit_is_413_and_at_the_limit_is_accepted(cs_teacher, session):
    client = cs_teacher.client()
    url = f"codestream/api/sessions/{session['code']}/cells/big"
    limit = DEFAULT_MAX_SOURCE_BYTES
    for source in ("x" * (limit + 1), "é" * (limit // 2 + 1)):  # bytes count, not characters
        r = client.put(url, json={"source": source, "cell_type": "code", "position": 2})
        assert_error(r, 413, "payload_too_large")
    r = client.put(url, json={"source": "x" * limit, "cell_type": "code", "position": 2})
    assert r.status_code == 200, r.text[:300]
    r = client.post(f"code_stream/{session['code']}/push-cell/",
                    json={"cell_id": "big1x", "cell_content": "y" * (limit + 1)})
    assert_error(r, 413, "payload_too_large")
    cells = client.get(f"codestream/api/sessions/{session['code']}/cells").json()["cells"]
    assert sorted(c["cell_id"] for c in cells) == ["big", "c1"]
    assert next(c for c in cells if c["cell_id"] == "big")["source"] == "x" * limit


@pytest.mark.parametrize("key", BODY_OPERATIONS, ids=ids(BODY_OPERATIONS))
def test_body_over_the_request_limit_is_413_on_every_route(cs_teacher, session, key):
    path, method = key
    body = {**VALID_BODIES[key], "padding": "z" * MAX_JSON_BODY_BYTES}
    r = send(cs_teacher.client(), method, path, code=session["code"], json=body)
    assert_error(r, 413, "payload_too_large")


# -- session codes and cell ids in the path ------------------------------------------------

BAD_CODES = ["ABC", "ABCDEFG", "ABCDE_", "ABCDE.", "AB-CDE", "AB%20CD", "%C3%9FBCDE",
             "AB%2FCD", "%C3%89BCDEF", "ABCDE%00", "%F0%9F%98%80ABCD"]


@pytest.mark.parametrize("key", WITH_CODE, ids=ids(WITH_CODE))
def test_bad_session_codes_are_400_on_every_route(cs_teacher, key):
    path, method = key
    client = cs_teacher.client()
    for code in BAD_CODES:
        r = send(client, method, path, code=code, json=VALID_BODIES.get(key))
        assert_error(r, 400, "invalid_session_code")


@pytest.mark.parametrize("key", WITH_CODE, ids=ids(WITH_CODE))
def test_codes_are_case_insensitive_and_unknown_ones_are_404(cs_teacher, session, key):
    path, method = key
    client = cs_teacher.client()
    if path in (PUSH, UPDATE):
        r = send(client, method, path, code="zzzzzz", json=VALID_BODIES[key])
        assert r.status_code == 200, "a 1.x push to a new code creates that session"
        listed = [s["code"] for s in client.get("codestream/api/sessions").json()["sessions"]]
        assert "ZZZZZZ" in listed
        return
    if path in (ALL_IDS_1X, CLEANUP_1X):  # 1.x: a code with nothing pushed yet is empty
        r = send(client, method, path, code="Zz0Oo1", json=VALID_BODIES.get(key))
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
        assert r.json().get("data", []) == [] and r.json().get("deleted_count", 0) == 0
        return
    r = send(client, method, path, code="ZZZZZZ", json=VALID_BODIES.get(key))
    assert_error(r, 404, "session_not_found")
    if method == "get":
        r = send(client, method, path, code=session["code"].lower())
        assert r.status_code == 200, r.text[:300]


BAD_CELL_IDS = ["bad%20id", "a" * 65, "a$b", "a%2Fb", "%C3%A9", "a%00", "a:b", "a%0A", "%2E", "%2E%2E"]


@pytest.mark.parametrize("key", WITH_CELL, ids=ids(WITH_CELL))
def test_bad_cell_ids_are_400(cs_teacher, session, key):
    path, method = key
    client = cs_teacher.client()
    for cell_id in BAD_CELL_IDS:
        r = send(client, method, path, code=session["code"], cell_id=cell_id, json=VALID_BODIES.get(key))
        assert_error(r, 400, "invalid_cell_id")


@pytest.mark.parametrize("path,method,field", [
    (PUSH, "post", "cell_id"), (UPDATE, "post", "cell_id"), (DELETE_1X, "post", "cell_id"),
    ("/codestream/api/student/pull", "post", "cell_id"), (GET_CELL_1X, "get", "cell_id"),
    ("/codestream/api/student/merge", "post", "cell_id"),
])
def test_bad_cell_ids_in_bodies_and_queries_are_400(cs_teacher, session, path, method, field):
    client = cs_teacher.client()
    for cell_id in ["bad id", "a" * 65, "../etc", "a/b", "", ".", ".."]:
        if method == "get":
            r = send(client, method, path, code=session["code"], params={field: cell_id})
        else:
            r = send(client, method, path, code=session["code"], json={**VALID_BODIES[(path, method)], field: cell_id})
        assert_error(r, 400, "invalid_cell_id")


def test_unknown_cells_are_404(cs_teacher, session):
    client = cs_teacher.client()
    code = session["code"]
    for method in ("get", "delete"):
        assert_error(send(client, method, CELL, code=code, cell_id="nope"), 404, "cell_not_found")
    assert_error(send(client, "get", GET_CELL_1X, code=code, params={"cell_id": "nope"}), 404, "cell_not_found")
    assert_error(send(client, "post", DELETE_1X, code=code, json={"cell_id": "nope"}), 404, "cell_not_found")


# -- notebook paths -------------------------------------------------------------------------

TRAVERSALS = ["../x.ipynb", "a/../../x.ipynb", "..", "a/..", "..\\x.ipynb", "a\\..\\..\\x.ipynb",
              "./../x.ipynb", "x\x00.ipynb", "/../x.ipynb"]


@pytest.mark.parametrize("notebook_path", TRAVERSALS)
def test_path_traversal_in_notebook_path_is_400_everywhere(cs_teacher, session, notebook_path):
    client = cs_teacher.client()
    r = client.post("codestream/api/sessions", json={"notebook_path": notebook_path})
    assert_error(r, 400, "invalid_input")
    r = client.put(f"codestream/api/sessions/{session['code']}/cells/c2",
                   json={"source": "x", "cell_type": "code", "position": 2, "notebook_path": notebook_path})
    assert_error(r, 400, "invalid_input")
    r = client.post("codestream/api/student/pull", json={"cell_id": "c1", "notebook_path": notebook_path})
    assert_error(r, 400, "invalid_input")
    r = client.post("codestream/api/student/pull-all", json={"notebook_path": notebook_path})
    assert_error(r, 400, "invalid_input")
    r = client.post("codestream/api/student/merge", json={"cell_id": "c1", "notebook_path": notebook_path})
    assert_error(r, 400, "invalid_input")
    assert [s["code"] for s in client.get("codestream/api/sessions").json()["sessions"]] == [session["code"]]


def test_pull_into_unknown_or_unusable_notebooks(cs_teacher, self_connected):
    client = cs_teacher.client()
    root = Path(cs_teacher.root_dir)
    (root / "folder.ipynb").mkdir(exist_ok=True)
    (root / "notes.txt").write_text("not a notebook")
    (root / "broken.ipynb").write_text("{ this is not json")
    pull = "codestream/api/student/pull"
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "missing.ipynb"}), 404, "notebook_not_found")
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "no/such/dir/x.ipynb"}), 404,
                 "notebook_not_found")
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "notes.txt"}), 400, "invalid_input")
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "folder.ipynb"}), 400, "invalid_input")
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "broken.ipynb"}), 400, "invalid_input")
    assert not (root / "missing.ipynb").exists() and not (root / "no").exists(), "a pull never creates notebooks"
    assert (root / "broken.ipynb").read_text() == "{ this is not json", "a pull never rewrites what it cannot read"
    write_notebook(root, "lesson.ipynb", [("code", "mine = 1")])
    assert_error(client.post(pull, json={"cell_id": "nope", "notebook_path": "lesson.ipynb"}), 404, "cell_not_found")
    assert_error(client.post(pull, json={"cell_id": "c1", "notebook_path": "lesson.ipynb", "position": "after:ghost"}),
                 400, "invalid_input")
    r = client.post(pull, json={"cell_id": "c1", "notebook_path": "lesson.ipynb"})
    assert r.status_code == 200 and r.json()["index"] == 1, r.text


# -- event ids --------------------------------------------------------------------------------

BAD_EVENT_IDS = ["garbage", ":", "{}", "1-2-3", "-1-0", "1.5-0", "0x10-0", "18446744073709551616-0",
                 "1-18446744073709551616", "99999999999999999999999-0", "١٢٣-٠",
                 "18446744073709551615-18446744073709551615"]


@pytest.mark.parametrize("how", ["header", "query"])
def test_bad_last_event_ids_are_400_not_a_broken_stream(cs_teacher, session, how):
    client = cs_teacher.client()
    url = f"codestream/api/sessions/{session['code']}/events"
    for event_id in BAD_EVENT_IDS:
        kwargs = ({"headers": {"Last-Event-ID": event_id.encode()}} if how == "header"
                  else {"params": {"last_event_id": event_id}})
        with client.stream("GET", url, **kwargs) as response:
            if "event-stream" not in response.headers.get("content-type", ""):
                response.read()
        assert_error(response, 400, "invalid_input")
    # an id far in the future is still a valid resume point (nothing to replay yet)
    with client.stream("GET", url, headers={"Last-Event-ID": "18446744073709551615-18446744073709551614"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")


def test_student_events_refuse_an_event_id_redis_cannot_hold(cs_teacher, cs_jupyter_server_factory):
    """Found by the long fuzz run: an id above 2**64-1 used to reach the teacher and come back 502."""
    student = cs_jupyter_server_factory("student-ids")
    client = student.client()
    for bad in ("498100-24561427456645615907", "١٢٣-0", "garbage"):
        r = client.get("codestream/api/student/events", params={"last_event_id": bad})
        assert r.status_code == 400, (bad, r.status_code, r.text)
        assert r.json()["error"]["code"] == "invalid_input"


# -- past versions, pull-all and merge (v3) ------------------------------------------------------

def test_bad_and_unknown_versions(cs_teacher, session):
    client = cs_teacher.client()
    code = session["code"]
    for version in ["0", "-1", "x", "1.5", "", "99999999999", "١"]:
        assert_error(send(client, "get", CELL, code=code, params={"version": version}), 400, "invalid_input")
    assert_error(send(client, "get", CELL, code=code, params={"version": "2"}), 404, "version_not_found")
    assert_error(send(client, "get", CELL, code=code, cell_id="nope", params={"version": "1"}), 404, "cell_not_found")
    assert send(client, "get", CELL, code=code, params={"version": "1"}).json()["source"] == "print(1)"


def test_pull_all_and_merge_into_unknown_or_unusable_notebooks(cs_teacher, self_connected):
    client = cs_teacher.client()
    root = Path(cs_teacher.root_dir)
    (root / "folder2.ipynb").mkdir(exist_ok=True)
    (root / "broken2.ipynb").write_text("{ this is not json")
    pull_all, merge = "codestream/api/student/pull-all", "codestream/api/student/merge"
    assert_error(client.post(pull_all, json={"notebook_path": "no/such/dir/x.ipynb"}), 404, "notebook_not_found")
    assert_error(client.post(pull_all, json={"notebook_path": "folder2.ipynb"}), 400, "invalid_input")
    assert_error(client.post(pull_all, json={"notebook_path": "broken2.ipynb"}), 400, "invalid_input")
    assert (root / "broken2.ipynb").read_text() == "{ this is not json"
    assert_error(client.post(merge, json={"cell_id": "c1", "notebook_path": "missing2.ipynb"}), 404,
                 "notebook_not_found")
    assert not (root / "missing2.ipynb").exists(), "a merge never creates notebooks"
    write_notebook(root, "merge-me.ipynb", [("code", "mine = 1")])
    before = (root / "merge-me.ipynb").read_text()
    assert_error(client.post(merge, json={"cell_id": "c1", "notebook_path": "merge-me.ipynb", "apply": True}),
                 404, "cell_not_found")  # never pulled
    assert (root / "merge-me.ipynb").read_text() == before
