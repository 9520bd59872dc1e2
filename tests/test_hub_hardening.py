"""The hub service under attack (issue 20, part 2), on the real hub: every test talks to a
second ``codestream hub-service`` replica of the test hub (the managed service's environment,
its own port and its own limiter), started with a short identity cache, a one-second heartbeat
and a cap of two streams per client, as an operator could configure them.

- streams are capped per hub user, so one account cannot take every place;
- the client address is the connection's (or a configured trusted proxy's word), never a
  header the client wrote, so the wrong-key limit holds;
- teacher routes answer "another teacher's session" exactly like "no such session", and count
  those refusals in the same limiter as wrong keys;
- a member removed from the session's course group has their open stream closed and reads
  refused within one heartbeat after the identity cache forgets their token.
"""

from __future__ import annotations

import itertools

import pytest

from hub_fixtures import service_replica
from jupyter_ext.pytest_plugin import SSEReader, scanned_client, wait_until

IDENTITY_CACHE_SECONDS = 2
LIMIT = 20  # the service's default --failures-per-minute


def error_code(response):
    return response.json()["error"]["code"]


@pytest.fixture(scope="module")
def replica(cs_hub, tmp_path_factory):
    log = tmp_path_factory.mktemp("hardening") / "replica.log"
    with service_replica(cs_hub, log, "--identity-cache-seconds", str(IDENTITY_CACHE_SECONDS),
                         "--heartbeat-seconds", "1", "--max-streams-per-address", "2") as base:
        yield base


def on(base: str, cs_hub, user: str | None = None, *, token: str | None = None, headers: dict | None = None):
    auth = {"Authorization": f"token {token or cs_hub.token_for(user)}"} if (token or user) else {}
    return scanned_client(base, {**auth, **(headers or {})}, cs_hub.scanner)


def new_session(cs_hub, title: str, group: str = "") -> dict:
    with cs_hub.service("teacher1") as teacher:
        response = teacher.post("codestream/api/sessions", json={"title": title, **({"group": group} if group else {})})
        assert response.status_code == 201, response.text
        session = response.json()
        cs_hub.scanner.add(session["student_key"])
        published = teacher.put(f"codestream/api/sessions/{session['code']}/cells/c1",
                                json={"source": "x = 1", "cell_type": "code", "position": 1})
        assert published.status_code == 200, published.text
    return session


def stream(base: str, cs_hub, code: str, user: str) -> SSEReader:
    return SSEReader(f"{base}codestream/api/sessions/{code}/events",
                     {"Authorization": f"token {cs_hub.token_for(user)}"})


def test_streams_are_capped_per_hub_user(cs_hub, replica):
    code = new_session(cs_hub, "Per user", group="algebra")["code"]
    readers = [stream(replica, cs_hub, code, "student1"), stream(replica, cs_hub, code, "student1")]
    try:
        assert [r.status for r in readers] == [200, 200]
        with on(replica, cs_hub, "student1") as student1:
            refused = student1.get(f"codestream/api/sessions/{code}/events")
        assert refused.status_code == 503 and error_code(refused) == "too_many_streams"
        assert int(refused.headers["Retry-After"]) > 0
        readers.append(stream(replica, cs_hub, code, "student2"))
        assert readers[-1].status == 200, "another hub user is not refused for the first one's streams"
        with cs_hub.service("teacher1") as teacher:
            assert teacher.put(f"codestream/api/sessions/{code}/cells/c2",
                               json={"source": "y = 2", "cell_type": "code", "position": 2}).status_code == 200
        for reader in readers:
            assert reader.wait_for(1)[0]["event"] == "published"
    finally:
        for reader in readers:
            reader.close()


def test_the_client_address_is_the_connections_not_a_header(cs_hub, replica, tmp_path):
    """Wrong student keys from one connection address reach the limit however the headers
    change; behind a trusted proxy, the address it appended to X-Forwarded-For counts (and
    X-Real-Ip, which the hub's proxy passes through as sent, never does)."""
    code = new_session(cs_hub, "Guests")["code"]
    path = f"codestream/api/sessions/{code}/cells"
    fake = (f"198.51.100.{i}" for i in itertools.count(1))
    with on(replica, cs_hub, token="not-a-key") as guest:
        statuses = []
        for _ in range(LIMIT + 1):
            address = next(fake)
            statuses.append(guest.get(path, headers={"X-Real-Ip": address, "X-Forwarded-For": address}).status_code)
    assert statuses == [401] * LIMIT + [429]

    with service_replica(cs_hub, tmp_path / "proxied.log", "--trusted-proxies", "127.0.0.1/32") as proxied:
        with on(proxied, cs_hub, token="not-a-key") as guest:
            statuses = [guest.get(path, headers={"X-Forwarded-For": "203.0.113.9, 192.0.2.7",
                                                 "X-Real-Ip": next(fake)}).status_code for _ in range(LIMIT + 1)]
            assert statuses == [401] * LIMIT + [429], "the proxy's hop counts, not X-Real-Ip"
            other = guest.get(path, headers={"X-Forwarded-For": "203.0.113.9, 192.0.2.8"})
            assert other.status_code == 401, "another client behind the proxy has its own count"


def test_not_yours_is_answered_like_no_such_session_and_counted(cs_hub, replica):
    code = new_session(cs_hub, "Not yours")["code"]
    unknown = "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"
    requests = [
        ("DELETE", "codestream/api/sessions/{code}", None),
        ("POST", "codestream/api/sessions/{code}/key", None),
        ("PUT", "codestream/api/sessions/{code}/cells/c1", {"source": "import os", "cell_type": "code", "position": 1}),
        ("DELETE", "codestream/api/sessions/{code}/cells/c1", None),
    ]
    answers = []
    with on(replica, cs_hub, "teacher2") as teacher2:
        for method, template, body in requests:
            theirs = teacher2.request(method, template.format(code=code), json=body)
            missing = teacher2.request(method, template.format(code=unknown), json=body)
            assert theirs.status_code == missing.status_code == 404, (method, template, theirs.text)
            assert theirs.text.replace(code, "CODE") == missing.text.replace(unknown, "CODE"), (theirs.text, missing.text)
            assert error_code(theirs) == "session_not_found"
            answers += [theirs.status_code, missing.status_code]
        while len(answers) < LIMIT:
            answers.append(teacher2.delete(f"codestream/api/sessions/{code}").status_code)
        blocked = teacher2.delete(f"codestream/api/sessions/{code}")
        assert answers == [404] * LIMIT and blocked.status_code == 429, "refusals count like wrong keys"
        assert error_code(blocked) == "too_many_requests"
        # their own session is never refused
        mine = teacher2.post("codestream/api/sessions", json={"title": "Mine"})
        assert mine.status_code == 201
        cs_hub.scanner.add(mine.json()["student_key"])
        assert teacher2.delete(f"codestream/api/sessions/{mine.json()['code']}").status_code == 204
    with cs_hub.service("teacher1") as teacher1:  # nothing of teacher1's changed
        cells = teacher1.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"]) for c in cells] == [("c1", "x = 1")]


def test_a_member_removed_from_the_group_is_cut_off(cs_hub, replica):
    with cs_hub.admin() as admin:
        assert admin.post("users/leaver").status_code in (201, 409)
        assert admin.post("groups/algebra/users", json={"users": ["leaver"]}).status_code == 200
    code = new_session(cs_hub, "Leaving", group="algebra")["code"]
    cells = f"codestream/api/sessions/{code}/cells"
    with on(replica, cs_hub, "leaver") as leaver:
        assert leaver.get(cells).status_code == 200
        reader = stream(replica, cs_hub, code, "leaver")
        try:
            assert reader.status == 200
            with cs_hub.admin() as admin:
                response = admin.request("DELETE", "groups/algebra/users", json={"users": ["leaver"]})
                assert response.status_code == 200, response.text
            wait_until(reader.ended.is_set, 30, interval=0.2, what="the removed member's stream to close")
        finally:
            reader.close()
        refused = leaver.get(cells)
        assert refused.status_code == 403 and error_code(refused) == "forbidden"
        again = leaver.get(f"codestream/api/sessions/{code}/events")
        assert again.status_code == 403
    with on(replica, cs_hub, "student1") as member:  # members still in the group read on
        assert member.get(cells).status_code == 200
