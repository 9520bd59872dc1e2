"""Teacher and read routes against a real Jupyter server and a real Redis."""

from __future__ import annotations

import json
import re

import pytest
import redis

from jupyter_ext.domain import ALPHABET
from jupyter_ext.testing import SSEReader, create_session, publish

CODE_RE = re.compile(rf"^[{ALPHABET}]{{6}}$")


def test_session_lifecycle_and_version_rule(cs_teacher, cs_module_redis):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Intro")
    code, key = session["code"], session["student_key"]
    assert CODE_RE.match(code) and session["title"] == "Intro" and session["created"]

    publish(teacher, code, "c3", "print(3)", 3)
    publish(teacher, code, "c1", "# One", 1, "markdown")
    publish(teacher, code, "c2", "x = 2", 2)
    listing = teacher.get(f"codestream/api/sessions/{code}/cells").json()
    assert [c["cell_id"] for c in listing["cells"]] == ["c1", "c2", "c3"]
    assert {c["version"] for c in listing["cells"]} == {1}
    assert listing["cells"][0]["cell_type"] == "markdown"

    assert publish(teacher, code, "c2", "x = 2", 2)["version"] == 1
    assert publish(teacher, code, "c2", "x = 22", 2)["version"] == 2
    assert publish(teacher, code, "c2", "x = 22", 5)["version"] == 2

    student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    r = student.get(f"codestream/api/sessions/{code.lower()}/cells")
    assert r.status_code == 200 and [c["cell_id"] for c in r.json()["cells"]] == ["c1", "c3", "c2"]
    assert student.get(f"codestream/api/sessions/{code}/cells/c2").json()["source"] == "x = 22"
    legacy = cs_teacher.client(auth=False, headers={"Authorization": f"token {key}"})
    assert legacy.get(f"codestream/api/sessions/{code}/cells").status_code == 200

    # a student key opens nothing but the read routes of its own session
    assert student.get("codestream/api/sessions").status_code in (401, 403)
    assert student.put(f"codestream/api/sessions/{code}/cells/c9",
                       json={"source": "", "cell_type": "code", "position": 0}).status_code in (401, 403)
    other = create_session(teacher)
    r = student.get(f"codestream/api/sessions/{other['code']}/cells")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"

    sessions = teacher.get("codestream/api/sessions").json()["sessions"]
    mine = next(s for s in sessions if s["code"] == code)
    assert mine["cells"] == 3 and mine["students"] == 0 and mine["title"] == "Intro"

    new_key = teacher.post(f"codestream/api/sessions/{code}/key").json()["student_key"]
    assert new_key != key
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 401
    fresh = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {new_key}"})
    assert fresh.get(f"codestream/api/sessions/{code}/cells").status_code == 200
    nobody = cs_teacher.client(auth=False)
    assert nobody.get(f"codestream/api/sessions/{code}/cells").status_code in (401, 403)

    assert teacher.delete(f"codestream/api/sessions/{code}/cells/c3").status_code == 204
    r = teacher.get(f"codestream/api/sessions/{code}/cells/c3")
    assert r.status_code == 404 and r.json()["error"]["code"] == "cell_not_found"

    assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
    r = teacher.get(f"codestream/api/sessions/{code}/cells")
    assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
    raw = redis.Redis.from_url(cs_module_redis.url)
    leftover = [k for k in raw.scan_iter(match=f"*{{{code}}}*")]  # test-only inspection
    assert leftover == []
    assert code.encode() not in raw.zrange("codestream:sessions", 0, -1)


@pytest.mark.parametrize("method,path,body,status,code", [
    ("get", "codestream/api/sessions/ABC/cells", None, 400, "invalid_session_code"),
    ("get", "codestream/api/sessions/ABCDE_/cells", None, 400, "invalid_session_code"),
    ("get", "codestream/api/sessions/ABCDE0/cells", None, 404, "session_not_found"),
    ("get", "codestream/api/sessions/ABCDEF/cells", None, 404, "session_not_found"),
    ("put", "codestream/api/sessions/ABCDEF/cells/c1", {"source": "x", "cell_type": "code", "position": 1}, 404, "session_not_found"),
    ("put", "codestream/api/sessions/ABCDEF/cells/bad%20id", {"source": "x", "cell_type": "code", "position": 1}, 400, "invalid_cell_id"),
    ("delete", "codestream/api/sessions/ABCDEF", None, 404, "session_not_found"),
    ("post", "codestream/api/sessions/ABCDEF/key", None, 404, "session_not_found"),
])
def test_error_codes(cs_teacher, method, path, body, status, code):
    client = cs_teacher.client()
    r = client.request(method.upper(), path, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]


@pytest.mark.parametrize("body,status", [
    ({"source": 1, "cell_type": "code", "position": 1}, 400),
    ({"source": "x", "cell_type": "python", "position": 1}, 400),
    ({"source": "x", "cell_type": "code"}, 400),
    ({"source": "x", "cell_type": "code", "position": "first"}, 400),
    ({"source": "x" * (1024 * 1024 + 1), "cell_type": "code", "position": 1}, 413),
    ({"source": "x", "cell_type": "code", "position": 1, "notebook_path": "../etc/passwd"}, 400),
])
def test_publish_rejects_bad_bodies(cs_teacher, body, status):
    client = cs_teacher.client()
    code = create_session(client)["code"]
    r = client.put(f"codestream/api/sessions/{code}/cells/c1", json=body)
    assert r.status_code == status, r.text
    assert set(r.json()["error"]) >= {"code", "message"}
    assert client.get(f"codestream/api/sessions/{code}/cells").json()["cells"] == []


def test_malformed_json_is_400(cs_teacher):
    client = cs_teacher.client()
    r = client.post("codestream/api/sessions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_input"


def test_events_live_and_replay(cs_teacher):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    url = f"{cs_teacher.url}codestream/api/sessions/{code}/events"
    headers = {"Authorization": f"Bearer {key}"}
    reader = SSEReader(url, headers)
    assert reader.status == 200
    publish(teacher, code, "a", "1", 1)
    first = reader.wait_for(1)[0]  # latency is measured in bench/, not asserted here
    assert first["event"] == "published" and json.loads(first["data"])["cell_id"] == "a"
    assert json.loads(first["data"])["version"] == 1 and first["id"]
    reader.close()

    publish(teacher, code, "b", "2", 2)
    publish(teacher, code, "a", "1!", 1)
    teacher.delete(f"codestream/api/sessions/{code}/cells/b")
    resumed = SSEReader(url, {**headers, "Last-Event-ID": first["id"]})
    events = resumed.wait_for(3)
    assert [(e["event"], json.loads(e["data"])["cell_id"]) for e in events] == [
        ("published", "b"), ("updated", "a"), ("unpublished", "b")]
    assert json.loads(events[1]["data"])["version"] == 2

    sessions = teacher.get("codestream/api/sessions").json()["sessions"]
    assert next(s for s in sessions if s["code"] == code)["students"] == 1

    teacher.delete(f"codestream/api/sessions/{code}")
    assert resumed.wait_for(4)[-1]["event"] == "session_ended"
    resumed.close()


def test_seed_compatible_routes(cs_teacher):
    teacher = cs_teacher.client()
    code = "QWERTY"
    for i, cid in enumerate(["x1", "x2"]):
        r = teacher.post(f"code_stream/{code}/push-cell/",
                         json={"cell_id": cid, "cell_content": f"print({i})", "cell_timestamp": "2024"})
        assert r.status_code == 200 and r.json()["status"] == "success", r.text
    r = teacher.post(f"code_stream/{code}/update/",
                     json={"cell_id": "x1", "cell_content": "print('new')", "cell_timestamp": "2025"})
    assert r.json()["status"] == "success" and r.json()["version"] == 2
    ids = teacher.get(f"code_stream/{code}/get-all-cell-ids/").json()
    assert ids == {"status": "success", "data": ["x1", "x2"]}
    cell = teacher.get(f"code_stream/{code}/get-cell/", params={"cell_id": "x1", "cell_timestamp": "2025"}).json()
    assert cell["status"] == "success" and cell["data"] == "print('new')"
    assert teacher.post(f"code_stream/{code}/delete/", json={"cell_id": "x2"}).json()["status"] == "success"
    r = teacher.post(f"code_stream/{code}/delete/", json={"cell_id": "x2"})
    assert r.status_code == 404 and r.json()["status"] == "error" and r.json()["message"]
    listing = teacher.get(f"codestream/api/sessions/{code}/cells").json()
    assert [c["cell_id"] for c in listing["cells"]] == ["x1"]
