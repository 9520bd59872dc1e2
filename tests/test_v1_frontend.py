"""The Code Stream 1.x JupyterLab frontend, replayed request by request against real servers.

Its ``handler.ts`` sends every call as ``{base}code_stream/<endpoint>?<ms>`` (a cache-busting
timestamp), with ``Authorization: token <Jupyter token>`` and ``X-XSRFToken`` from the ``_xsrf``
cookie, JSON bodies ``{cell_id, cell_content, cell_timestamp}``; it makes its session codes in
the browser from ``[A-Za-z0-9]`` (so ``Lo1Ab0``). The teacher toggles sync (push), edits
(update), unsyncs (delete) and presses Refresh (``clear-all-redis`` then
``cleanup-orphan-cells``); the student saves the teacher's address and Jupyter token (config),
tests it, lists the cell ids and fetches a cell. API.md, v3 "The 1.x frontend, completely".
"""

from __future__ import annotations

import time

import httpx
import pytest

from jupyter_ext.testing import create_session

CODE = "Lo1Ab0"  # what the 1.x frontend makes: 0/O/1/I/L included, mixed case
OTHER_CODE = "qI0lZ1"


class Frontend1x:
    """The 1.x frontend's ``requestAPI`` against one Jupyter server, as a browser sends it."""

    def __init__(self, server):
        self.server = server
        self.browser = server.client(auth=False)  # keeps cookies, as a browser does
        r = self.browser.get("login")  # Jupyter's pages set the _xsrf cookie (this one holds no token)
        assert r.status_code == 200, r.status_code
        self.xsrf = self.browser.cookies.get("_xsrf")
        assert self.xsrf, "Jupyter's login page sets the _xsrf cookie"

    def call(self, endpoint: str, method: str = "GET", body: dict | None = None,
             query: str = "") -> httpx.Response:
        ms = int(time.time() * 1000)
        url = f"code_stream/{endpoint}?{query + '&' if query else ''}{ms}"
        headers = {"Authorization": f"token {self.server.token}", "X-XSRFToken": self.xsrf,
                   "Content-Type": "application/json"}
        return self.browser.request(method, url, headers=headers, json=body)

    def cell(self, cell_id: str, content: str) -> dict:
        return {"cell_id": cell_id, "cell_content": content, "cell_timestamp": str(int(time.time() * 1000))}


def ok(response: httpx.Response) -> dict:
    assert response.status_code == 200, f"{response.request.url.path}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["status"] == "success", body
    return body


def cells_of(server, code: str) -> dict[str, str]:
    r = server.client().get(f"codestream/api/sessions/{code}/cells")
    if r.status_code == 404:
        return {}
    assert r.status_code == 200, r.text
    return {c["cell_id"]: c["source"] for c in r.json()["cells"]}


@pytest.fixture
def other_teacher(cs_jupyter_server_factory, cs_teacher, cs_module_redis):
    """A second teacher's server on the same (department) Redis: another owner."""
    return cs_jupyter_server_factory("other-teacher", env={"CODESTREAM_REDIS_URL": cs_module_redis.url})


def test_teacher_push_update_delete_refresh(cs_teacher, other_teacher):
    teacher = Frontend1x(cs_teacher)
    ok(teacher.call(f"{CODE}/push-cell/", "POST", teacher.cell("cell-a", "x = 1")))
    ok(teacher.call(f"{CODE}/push-cell/", "POST", teacher.cell("cell-b", "y = 2")))
    ok(teacher.call(f"{CODE}/update/", "POST", teacher.cell("cell-a", "x = 10")))
    ok(teacher.call(f"{CODE}/delete/", "POST", {"cell_id": "cell-b", "cell_timestamp": "1"}))
    assert cells_of(cs_teacher, CODE.upper()) == {"cell-a": "x = 10"}
    assert cells_of(cs_teacher, CODE.lower()) == {"cell-a": "x = 10"}, "case-insensitive"

    # another teacher on the same Redis: their class is never ended nor written by this one
    theirs = create_session(other_teacher.client())
    ok(Frontend1x(other_teacher).call(f"{OTHER_CODE}/push-cell/", "POST", teacher.cell("t", "theirs")))
    r = teacher.call(f"{OTHER_CODE}/push-cell/", "POST", teacher.cell("t", "mine now"))
    assert r.status_code == 403 and r.json()["status"] == "error" and r.json()["code"] == "forbidden"
    r = teacher.call(f"{theirs['code']}/cleanup-orphan-cells", "POST", {"valid_cell_ids": []})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"

    # Refresh: clear-all-redis (only this teacher's sessions), re-push, cleanup-orphan-cells
    mine_too = create_session(cs_teacher.client())
    assert ok(teacher.call("clear-all-redis", "POST", {}))["deleted_count"] == 2
    assert cells_of(cs_teacher, CODE.upper()) == {}
    listed = [s["code"] for s in cs_teacher.client().get("codestream/api/sessions").json()["sessions"]]
    assert listed == [] and mine_too["code"] not in listed
    others = [s["code"] for s in other_teacher.client().get("codestream/api/sessions").json()["sessions"]]
    assert sorted(others) == sorted([theirs["code"], OTHER_CODE.upper()]), "another owner's sessions stay"
    assert cells_of(other_teacher, OTHER_CODE.upper()) == {"t": "theirs"}

    for cell_id, content in (("cell-a", "x = 10"), ("cell-c", "z = 3"), ("orphan", "gone = 1")):
        ok(teacher.call(f"{CODE}/push-cell/", "POST", teacher.cell(cell_id, content)))
    cleaned = ok(teacher.call(f"{CODE}/cleanup-orphan-cells", "POST", {"valid_cell_ids": ["cell-a", "cell-c"]}))
    assert cleaned["deleted_count"] == 1
    assert cells_of(cs_teacher, CODE.upper()) == {"cell-a": "x = 10", "cell-c": "z = 3"}
    # a code with nothing pushed has nothing to clean up (a Refresh before any push)
    assert ok(teacher.call("Zz9Yy8/cleanup-orphan-cells", "POST", {"valid_cell_ids": []}))["deleted_count"] == 0
    r = teacher.call(f"{CODE}/cleanup-orphan-cells", "POST", {"valid_cell_ids": "cell-a"})
    assert r.status_code == 400 and r.json()["code"] == "invalid_input"


def test_student_config_test_list_and_get(cs_teacher, cs_jupyter_server_factory):
    student_server = cs_jupyter_server_factory("student-1x")
    student = Frontend1x(student_server)
    teacher = Frontend1x(cs_teacher)

    ok(student.call("config", "POST", {"teacher_base_url": cs_teacher.url, "teacher_token": cs_teacher.token}))
    config = ok(student.call("config"))
    assert config["data"] == {"teacher_base_url": cs_teacher.url, "has_token": True}
    assert ok(student.call("test", "POST", {}))
    # joined before the teacher pushed anything: "No cells available", not "Failed to load cells"
    assert ok(student.call(f"{CODE}/get-all-cell-ids/"))["data"] == []

    ok(teacher.call(f"{CODE}/push-cell/", "POST", teacher.cell("cell-a", "print('hello')")))
    assert ok(student.call(f"{CODE}/get-all-cell-ids/"))["data"] == ["cell-a"]
    assert ok(student.call(f"{CODE.lower()}/get-all-cell-ids/"))["data"] == ["cell-a"]
    got = ok(student.call(f"{CODE}/get-cell/", query="cell_id=cell-a&cell_timestamp=1"))
    assert got["data"] == "print('hello')"

    # a wrong token is a failed test and reads nothing (the student's server kept no cookie
    # of the teacher's Jupyter login from the right token)
    ok(student.call("config", "POST", {"teacher_base_url": cs_teacher.url, "teacher_token": "wrong-token-0123456789"}))
    r = student.call("test", "POST", {})
    assert r.status_code == 401 and r.json()["status"] == "error", r.text
    r = student.call(f"{CODE}/get-all-cell-ids/")
    assert r.json()["status"] == "error" and r.status_code == 401, r.text
    r = student.call(f"{CODE}/get-cell/", query="cell_id=cell-a&cell_timestamp=1")
    assert r.json()["status"] == "error" and r.status_code == 401, r.text
