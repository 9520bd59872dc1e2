"""The 1.x frontend under a real JupyterHub: its ``code_stream/...`` calls to the user's own
single-user server are forwarded to the codestream service as that hub user (API.md v3, "The
1.x frontend, completely"): any ``[A-Za-z0-9]{6}`` code, another teacher's code is
``403 forbidden``, ``clear-all-redis`` ends only this hub user's sessions.
"""

from __future__ import annotations

import time

import pytest


def ms() -> int:
    return int(time.time() * 1000)


def ok(response) -> dict:
    assert response.status_code == 200, f"{response.request.url.path}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["status"] == "success", body
    return body


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text[:300]}"
    assert response.json()["status"] == "error" and response.json()["code"] == code, response.text


def cell(cell_id: str, content: str) -> dict:
    return {"cell_id": cell_id, "cell_content": content, "cell_timestamp": str(ms())}


@pytest.fixture(scope="module")
def servers(cs_hub):
    cs_hub.start_servers("teacher1", "teacher2", "student1")
    return cs_hub


def test_the_1x_frontend_works_under_the_hub(servers):
    teacher, other, student = servers.server("teacher2"), servers.server("teacher1"), servers.server("student1")
    code = "Hu1bL0"
    ok(teacher.post(f"code_stream/{code}/push-cell/?{ms()}", json=cell("a", "x = 1")))
    ok(teacher.post(f"code_stream/{code}/push-cell/?{ms()}", json=cell("b", "y = 2")))
    ok(teacher.post(f"code_stream/{code}/update/?{ms()}", json=cell("a", "x = 10")))
    ok(teacher.post(f"code_stream/{code}/delete/?{ms()}", json={"cell_id": "b", "cell_timestamp": "1"}))

    # a student reads it by hub identity, with the code in any case
    assert ok(student.get(f"code_stream/{code.lower()}/get-all-cell-ids/?{ms()}"))["data"] == ["a"]
    got = ok(student.get(f"code_stream/{code}/get-cell/", params={"cell_id": "a", "cell_timestamp": "1"}))
    assert got["data"] == "x = 10"
    assert ok(student.get(f"code_stream/Zz0Oo1/get-all-cell-ids/?{ms()}"))["data"] == []  # nothing pushed yet

    # nobody else writes it: another teacher, a student
    refused(other.post(f"code_stream/{code}/push-cell/?{ms()}", json=cell("a", "mine")), 403, "forbidden")
    refused(other.post(f"code_stream/{code}/cleanup-orphan-cells", json={"valid_cell_ids": []}), 403, "forbidden")
    refused(student.post(f"code_stream/St0dnt/push-cell/?{ms()}", json=cell("a", "x")), 403, "forbidden")
    assert ok(teacher.get(f"code_stream/{code}/get-all-cell-ids/"))["data"] == ["a"]

    # Refresh: cleanup-orphan-cells, then clear-all-redis ends this hub user's sessions only
    ok(teacher.post(f"code_stream/{code}/push-cell/?{ms()}", json=cell("orphan", "o = 1")))
    assert ok(teacher.post(f"code_stream/{code}/cleanup-orphan-cells?{ms()}",
                           json={"valid_cell_ids": ["a"]}))["deleted_count"] == 1
    assert ok(teacher.get(f"code_stream/{code}/get-all-cell-ids/"))["data"] == ["a"]
    theirs = other.post("codestream/api/sessions", json={"title": "teacher1's class"})
    assert theirs.status_code == 201, theirs.text
    assert ok(teacher.post(f"code_stream/clear-all-redis?{ms()}", json={}))["deleted_count"] >= 1
    assert ok(student.get(f"code_stream/{code}/get-all-cell-ids/"))["data"] == []
    listed = {s["code"] for s in other.get("codestream/api/sessions").json()["sessions"]}
    assert theirs.json()["code"] in listed, "another teacher's session outlives clear-all-redis"
    assert ok(other.post(f"code_stream/clear-all-redis?{ms()}", json={}))["deleted_count"] >= 1


DEEP_BODIES = [b'{"title": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
               b'{"title": ' + b'{"a": ' * 200 + b"1" + b"}" * 200 + b"}"]


def test_deeply_nested_bodies_are_400_in_the_hub_service_and_its_forwarders(servers):
    """Any JSON body too deep is ``400 invalid_input`` in every process (issue 20, item 10)."""
    before = len(servers.log_text())
    direct, forwarded = servers.service("teacher2"), servers.server("teacher2")
    for client, path in ((direct, "codestream/api/sessions"), (forwarded, "codestream/api/sessions"),
                         (forwarded, f"code_stream/Dp0Nst/push-cell/?{ms()}")):
        for raw in DEEP_BODIES:
            r = client.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (path, r.status_code, r.text[:300])
            body = r.json()
            code = body["code"] if "status" in body else body["error"]["code"]
            assert code == "invalid_input", body
    log = servers.log_text()[before:]
    assert "RecursionError" not in log and "Traceback" not in log
