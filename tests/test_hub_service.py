"""The codestream hub service against a real JupyterHub: identity, ownership, course groups.

Everything goes through the hub's proxy with real hub tokens (as a single-user server sends
its own); single-user servers are not needed here.
"""

import json
import secrets

import pytest

from jupyter_ext.pytest_plugin import SSEReader, scanned_client, wait_until

from hub_fixtures import service_replica


@pytest.fixture
def teacher1(cs_hub):
    return cs_hub.service("teacher1")


def create(client, **body):
    response = client.post("codestream/api/sessions", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def publish(client, code, cell_id, source, position=1.0):
    response = client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                          json={"source": source, "cell_type": "code", "position": position})
    assert response.status_code == 200, response.text
    return response.json()


def error_code(response):
    return response.json()["error"]["code"]


def test_a_teacher_creates_a_group_session_and_owns_it(cs_hub, teacher1):
    session = create(teacher1, title="Algebra 1", group="algebra")
    code = session["code"]
    assert session["group"] == "algebra" and session["teacher"] == "teacher1"
    assert session["join_link"] == f"{cs_hub.url}hub/user-redirect/codestream-student/?session={code}"
    listed = teacher1.get("codestream/api/sessions").json()["sessions"]
    assert [s["code"] for s in listed if s["code"] == code] == [code]
    assert all(s["teacher"] == "teacher1" for s in listed)
    publish(teacher1, code, "c1", "x = 1")
    # the other teacher neither sees nor changes it
    teacher2 = cs_hub.service("teacher2")
    assert code not in {s["code"] for s in teacher2.get("codestream/api/sessions").json()["sessions"]}
    for method, path, body in [
        ("DELETE", f"codestream/api/sessions/{code}", None),
        ("POST", f"codestream/api/sessions/{code}/key", None),
        ("PUT", f"codestream/api/sessions/{code}/cells/c1", {"source": "import os", "cell_type": "code", "position": 1}),
        ("PUT", f"codestream/api/sessions/{code}/cells/c9", {"source": "import os", "cell_type": "code", "position": 2}),
        ("DELETE", f"codestream/api/sessions/{code}/cells/c1", None),
    ]:
        for other in ("teacher2", "student1", "outsider"):
            response = cs_hub.service(other).request(method, path, json=body)
            assert response.status_code == 403, (other, method, path, response.text)
            assert error_code(response) == "forbidden"
    cells = teacher1.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"], c["version"]) for c in cells] == [("c1", "x = 1", 1)]


def test_group_members_read_outsiders_do_not(cs_hub, teacher1):
    session = create(teacher1, title="Algebra 2", group="algebra")
    code = session["code"]
    publish(teacher1, code, "c1", "y = 2")
    for reader in ("student1", "student2"):
        client = cs_hub.service(reader)
        listing = client.get(f"codestream/api/sessions/{code}/cells")
        assert listing.status_code == 200, listing.text
        assert [c["source"] for c in listing.json()["cells"]] == ["y = 2"]
        assert "notebook_path" not in listing.json()["cells"][0]
        assert client.get(f"codestream/api/sessions/{code}/cells/c1").json()["source"] == "y = 2"
        joinable = client.get("codestream/api/student/sessions").json()["sessions"]
        mine = [s for s in joinable if s["code"] == code]
        assert mine == [{"code": code, "title": "Algebra 2", "teacher": "teacher1",
                         "created": session["created"], "group": "algebra"}]
    for reader in ("outsider", "teacher2"):
        client = cs_hub.service(reader)
        for path in (f"codestream/api/sessions/{code}/cells", f"codestream/api/sessions/{code}/cells/c1",
                     f"codestream/api/sessions/{code}/events"):
            response = client.get(path)
            assert response.status_code == 403 and error_code(response) == "forbidden", (reader, path)
        assert code not in {s["code"] for s in client.get("codestream/api/student/sessions").json()["sessions"]}
    # the student key still opens it (guests); a wrong key does not
    assert cs_hub.service(token=session["student_key"]).get(
        f"codestream/api/sessions/{code}/cells").status_code == 200
    wrong = cs_hub.service(token="ABCD-EFGH-JKMN-PQRS-TUVW").get(f"codestream/api/sessions/{code}/cells")
    assert wrong.status_code == 401 and error_code(wrong) == "unauthorized"


def test_a_session_without_group_is_read_by_any_hub_user_with_its_code(cs_hub, teacher1):
    code = create(teacher1, title="Open")["code"]
    publish(teacher1, code, "c1", "z = 3")
    assert cs_hub.service("outsider").get(f"codestream/api/sessions/{code}/cells").status_code == 200
    assert code not in {s["code"] for s in cs_hub.service("outsider").get(
        "codestream/api/student/sessions").json()["sessions"]}


def test_events_reach_group_members(cs_hub, teacher1):
    code = create(teacher1, title="Live", group="algebra")["code"]
    reader = SSEReader(f"{cs_hub.url}services/codestream/codestream/api/sessions/{code}/events",
                       {"Authorization": f"token {cs_hub.token_for('student2')}"})
    try:
        publish(teacher1, code, "c1", "live = 1")
        reader.wait_for(1)
        assert reader.cell_ids() == [("published", "c1")]
    finally:
        reader.close()


def test_a_large_cell_is_published(cs_hub, teacher1):
    code = create(teacher1, title="Big")["code"]
    source = "x = 1  # " + "y" * 300_000
    assert publish(teacher1, code, "big", source)["version"] == 1
    assert teacher1.get(f"codestream/api/sessions/{code}/cells/big").json()["source"] == source
    too_big = teacher1.put(f"codestream/api/sessions/{code}/cells/big2",
                           json={"source": "z" * (2 * 1024 * 1024), "cell_type": "code", "position": 2})
    assert too_big.status_code == 413 and error_code(too_big) == "payload_too_large"


def test_only_teachers_create_and_only_for_their_own_groups(cs_hub, teacher1):
    before = teacher1.get("codestream/api/sessions").json()["sessions"]
    for user in ("student1", "outsider"):
        response = cs_hub.service(user).post("codestream/api/sessions", json={"title": "mine"})
        assert response.status_code == 403 and error_code(response) == "forbidden"
    response = teacher1.post("codestream/api/sessions", json={"group": "no-such-group"})
    assert response.status_code == 400 and error_code(response) == "unknown_group"
    response = teacher1.post("codestream/api/sessions", json={"group": "geometry"})  # exists, not a member
    assert response.status_code == 403 and error_code(response) == "forbidden"
    response = teacher1.post("codestream/api/sessions", json={"group": 7})
    assert response.status_code == 400 and error_code(response) == "invalid_input"
    assert teacher1.get("codestream/api/sessions").json()["sessions"] == before  # nothing was made


def test_rejected_and_missing_tokens(cs_hub):
    for token in (secrets.token_hex(16), None):
        client = cs_hub.service(token=token)
        for method, path in [("GET", "codestream/api/sessions"), ("POST", "codestream/api/sessions"),
                             ("GET", "codestream/api/student/sessions")]:
            response = client.request(method, path)
            assert response.status_code == 401, (token, path, response.text)
            assert error_code(response) == "unauthorized"


def test_a_token_without_access_to_the_service_is_refused(cs_hub):
    token = cs_hub.new_token("teacher1", scopes=["read:users:name!user"])
    response = cs_hub.service(token=token).post("codestream/api/sessions", json={})
    assert response.status_code == 403 and error_code(response) == "forbidden"


def test_owner_ends_the_session(cs_hub, teacher1):
    session = create(teacher1, title="Short", group="algebra")
    code = session["code"]
    rotated = teacher1.post(f"codestream/api/sessions/{code}/key")
    assert rotated.status_code == 200
    cs_hub.scanner.add(rotated.json()["student_key"])
    assert cs_hub.service(token=session["student_key"]).get(
        f"codestream/api/sessions/{code}/cells").status_code == 401
    assert teacher1.delete(f"codestream/api/sessions/{code}").status_code == 204
    assert cs_hub.service("student1").get(f"codestream/api/sessions/{code}/cells").status_code == 404
    assert code not in {s["code"] for s in cs_hub.service("student1").get(
        "codestream/api/student/sessions").json()["sessions"]}


def test_a_hub_that_does_not_answer_is_a_clear_503(cs_hub, teacher1):
    code = create(teacher1, title="Before the outage")["code"]
    token = cs_hub.new_token("student2")  # made while the hub answers; not in the service's cache
    fresh = cs_hub.service(token=token)
    cs_hub.pause()
    try:
        response = fresh.get(f"codestream/api/sessions/{code}/cells", timeout=20)
    finally:
        cs_hub.resume()
    assert response.status_code == 503 and error_code(response) == "hub_unavailable"
    assert fresh.get(f"codestream/api/sessions/{code}/cells").status_code == 200


def test_refusals_are_limited_per_hub_user_and_a_correct_credential_always_passes(cs_hub, teacher1):
    with cs_hub.admin() as admin:
        assert admin.post("users/prober").status_code in (201, 409)
    open_code = create(teacher1, title="Open to the hub")["code"]
    grouped_code = create(teacher1, title="Algebra only", group="algebra")["code"]
    prober = cs_hub.service("prober")
    statuses = [prober.get(f"codestream/api/sessions/{code}/cells").status_code
                for code in ["ZZZZZ" + c for c in "ABCDEFGHJK"] + [grouped_code] * 10]
    assert statuses == [404] * 10 + [403] * 10
    blocked = prober.get(f"codestream/api/sessions/{grouped_code}/cells")
    assert blocked.status_code == 429 and error_code(blocked) == "too_many_requests"
    # still blocked for what it may not read, never for what it may
    assert prober.get(f"codestream/api/sessions/{open_code}/cells").status_code == 200
    # another hub user is not affected
    assert cs_hub.service("student1").get(f"codestream/api/sessions/{grouped_code}/cells").status_code == 200


def test_a_second_replica_serves_the_same_sessions(cs_hub, teacher1, tmp_path):
    """Stateless: another `codestream hub-service` process over the same Redis (started with the
    managed service's own environment, on another port) sees the sessions, their owners and
    their events, and resumes a stream from a Last-Event-ID the first replica handed out."""
    with service_replica(cs_hub, tmp_path / "replica.log") as base:
        code = create(teacher1, title="Replicated", group="algebra")["code"]  # through the proxy: replica 1
        first_cell = publish(teacher1, code, "r1", "one = 1")
        last_event_id = teacher1.get(f"codestream/api/sessions/{code}/cells").json()["last_event_id"]
        publish(teacher1, code, "r2", "two = 2", 2)

        def on_replica(user):
            return scanned_client(base, {"Authorization": f"token {cs_hub.token_for(user)}"}, cs_hub.scanner)

        with on_replica("student1") as student, on_replica("teacher2") as teacher2, on_replica("teacher1") as owner:
            cells = student.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
            assert [c["cell_id"] for c in cells] == ["r1", "r2"] and first_cell["version"] == 1
            assert teacher2.delete(f"codestream/api/sessions/{code}").status_code == 403
            assert code in {s["code"] for s in owner.get("codestream/api/sessions").json()["sessions"]}
            with student.stream("GET", f"codestream/api/sessions/{code}/events",
                                headers={"Last-Event-ID": last_event_id}, timeout=20) as events:
                assert events.status_code == 200
                seen = ""
                for line in events.iter_lines():
                    seen += line + "\n"
                    if '"cell_id": "r2"' in line:
                        break
            assert "event: published" in seen and '"r1"' not in seen  # replayed after the id, not before


def test_the_service_caps_its_event_streams(cs_hub, teacher1, tmp_path):
    """``--max-streams-per-session 1 --max-streams 2`` on a service process (a replica over the
    same Redis): the next stream of a full session, then of a full process, is ``503
    too_many_streams`` with ``Retry-After``; the open streams keep delivering."""
    with service_replica(cs_hub, tmp_path / "capped.log", "--max-streams-per-session", "1",
                         "--max-streams", "2", "--heartbeat-seconds", "1") as base:
        one = create(teacher1, title="Capped one", group="algebra")["code"]
        two = create(teacher1, title="Capped two", group="algebra")["code"]
        three = create(teacher1, title="Capped three", group="algebra")["code"]

        def stream(user, code):
            return SSEReader(f"{base}codestream/api/sessions/{code}/events",
                             {"Authorization": f"token {cs_hub.token_for(user)}"})

        def assert_refused(user, code):
            reader = stream(user, code)
            try:
                assert reader.status == 503, reader.body
            finally:
                reader.close()
            assert json.loads(reader.body)["error"]["code"] == "too_many_streams"
            with scanned_client(base, {"Authorization": f"token {cs_hub.token_for(user)}"}, cs_hub.scanner) as client:
                refused = client.get(f"codestream/api/sessions/{code}/events")
            assert refused.status_code == 503 and error_code(refused) == "too_many_streams"
            assert int(refused.headers["Retry-After"]) > 0

        first = stream("student1", one)
        assert first.status == 200, first.body
        opened = [first]
        try:
            assert_refused("student2", one)  # the session's cap
            second = stream("student2", two)
            opened.append(second)
            assert second.status == 200, second.body
            assert_refused("student1", three)  # the process's cap
            publish(teacher1, one, "c1", "still = 1")
            publish(teacher1, two, "c1", "also = 2")
            first.wait_for(1)
            second.wait_for(1)
            assert first.cell_ids() == [("published", "c1")] and second.cell_ids() == [("published", "c1")]
        finally:
            for reader in opened:
                reader.close()
        # a closed stream frees its place (the replica notices within a heartbeat)
        wait_until(lambda: _opens(stream, "student1", three), 20, interval=0.5, what="a freed stream place")


def _opens(stream, user, code) -> bool:
    reader = stream(user, code)
    reader.close()
    return reader.status == 200


def test_pull_reports_count_for_the_owner_only(cs_hub, teacher1):
    """``POST …/cells/{id}/pulled`` is authorized like a read (a member by hub identity, a guest
    by the student key); the owner's cell list carries ``pulls``, nobody else's does."""
    session = create(teacher1, title="Pulled", group="algebra")
    code = session["code"]
    publish(teacher1, code, "c1", "p = 1")
    path = f"codestream/api/sessions/{code}/cells/c1/pulled"
    # counted: clients holding an event stream of the session; under the hub a client is a hub user
    events = f"{cs_hub.url}services/codestream/codestream/api/sessions/{code}/events"
    streams = [SSEReader(events, {"Authorization": f"token {cs_hub.token_for(user)}"})
               for user in ("student1", "student2")]
    streams.append(SSEReader(events, {"Authorization": f"Bearer {session['student_key']}",
                                      "X-CodeStream-Client": "guest"}))
    for reader, client in (("student1", "server-a"), ("student2", "server-b"), ("student1", "server-z")):
        response = cs_hub.service(reader).post(path, json={"version": 1, "client": client})
        assert response.status_code == 204, response.text
    guest = cs_hub.service(token=session["student_key"])
    assert guest.post(path, json={"version": 1, "client": "guest"}).status_code == 204
    assert guest.post(path, json={"version": 1, "client": "no-stream"}).status_code == 204  # not counted
    for stream in streams:
        stream.close()
    for reader in ("outsider", "teacher2"):
        response = cs_hub.service(reader).post(path, json={"version": 1, "client": "nosy"})
        assert response.status_code == 403 and error_code(response) == "forbidden"
    assert cs_hub.service(token=None).post(path, json={"version": 1, "client": "x"}).status_code == 401
    for body in ({"version": 2, "client": "ahead"}, {"version": "1", "client": "x"}, {"version": 1}):
        response = cs_hub.service("student1").post(path, json=body)
        assert response.status_code == 400, (body, response.text)
    missing = cs_hub.service("student1").post(f"codestream/api/sessions/{code}/cells/nope/pulled",
                                              json={"version": 1, "client": "x"})
    assert missing.status_code == 404 and error_code(missing) == "cell_not_found"
    cells = teacher1.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["pulls"]) for c in cells] == [("c1", {"1": 3})]  # two hub users and a guest
    for client in (cs_hub.service("student1"), guest):
        listed = client.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
        assert listed and all("pulls" not in c for c in listed)
