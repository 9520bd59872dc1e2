"""Faults with real processes: Redis restarted or stopped under a live teacher server, the teacher's
server restarted on its embedded Redis, and a student-key brute force.

Every HTTP call goes through ``JupyterServerProcess.client()`` (credential-scanned); event-stream
text is scanned here, and server logs are scanned when each server stops.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from jupyter_ext.clients.sse import iter_sse_sync
from jupyter_ext.testing import JupyterServerProcess, event_dict, wait_until
from jupyter_ext.store.embedded import MAX_SOCKET_PATH

STORE_DOWN_WAIT = 30.0  # how long a test waits for the server to notice Redis is back


class EventStream:
    """A student's open event stream, read in a thread through a scanned client.

    ``ended`` tells whether the server closed it (a reconnect would be needed), so a test can
    tell "the same stream kept delivering" from "a new stream was needed".
    """

    def __init__(self, server: JupyterServerProcess, code: str, key: str, scanner,
                 last_event_id: str | None = None):
        headers = {"Authorization": f"Bearer {key}"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.client = server.client(auth=False, headers=headers, timeout=15.0)
        self.url = f"codestream/api/sessions/{code}/events"
        self.scanner = scanner
        self.events: list[dict] = []
        self.status: int | None = None
        self.ended = threading.Event()
        self._opened = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._opened.wait(30), "the event stream did not open"
        assert self.status == 200

    def _run(self):
        try:
            with self.client.stream("GET", self.url, timeout=httpx.Timeout(15.0, read=None)) as response:
                self.status = response.status_code
                # ": connected" comes first, then replay and live events
                for event in iter_sse_sync(self._scanned(response.iter_bytes()), lambda _text: self._opened.set()):
                    with self._changed:
                        self.events.append({**event_dict(event), "data": event.json()})
                        self._changed.notify_all()
        except httpx.HTTPError:
            pass
        finally:
            self._opened.set()
            self.ended.set()
            with self._changed:
                self._changed.notify_all()

    def _scanned(self, chunks):
        for chunk in chunks:
            self.scanner.check_text(f"event stream {self.url}", chunk.decode(errors="replace"))
            yield chunk

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.events) >= count or self.ended.is_set(), timeout)
            assert len(self.events) >= count, f"got {len(self.events)} of {count} events: {self.events}"
            return list(self.events)

    def cell_events(self) -> list[tuple[str, str, int]]:
        return [(e["event"], e["data"].get("cell_id"), e["data"].get("version")) for e in self.events]


def create_session(client: httpx.Client) -> dict:
    r = client.post("codestream/api/sessions", json={"title": "faults"})
    assert r.status_code == 201, r.text
    return r.json()


def publish(client: httpx.Client, code: str, cell_id: str, source: str, position: float = 1) -> httpx.Response:
    return client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                      json={"source": source, "cell_type": "code", "position": position})


def assert_contract_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, f"{response.request.url.path}: {response.status_code} {response.text}"
    body = response.json()
    if response.request.url.path.startswith("/code_stream/"):
        assert body["status"] == "error" and body["message"] and body["code"] == code, body
    else:
        assert set(body) == {"error"} and body["error"]["code"] == code and body["error"]["message"], body


def redis_servers_in(data_dir: str) -> dict[int, str]:
    """``{pid: command line}`` of the redis-servers working in ``data_dir`` (a test-only look at
    /proc: redis-server chdirs to its ``--dir`` and retitles itself ``redis-server unixsocket:…``)."""
    found = {}
    target = os.path.realpath(data_dir)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if cwd == target and "redis-server" in cmdline:
            found[int(entry.name)] = cmdline
    return found


# -- Redis restarted / stopped under a live server -------------------------------------------

@pytest.fixture
def redis_up(cs_module_redis):
    """Redis empty for this test, and running again afterwards whatever the test did to it."""
    cs_module_redis.flushall()
    yield cs_module_redis
    if cs_module_redis.process is None:
        cs_module_redis.start()


def test_redis_restart_under_listening_students(cs_teacher_server, redis_up, cs_secret_scanner):
    server, redis_server = cs_teacher_server, redis_up
    teacher = server.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    assert publish(teacher, code, "a", "print('a')").status_code == 200
    listeners = [EventStream(server, code, key, cs_secret_scanner) for _ in range(2)]
    assert publish(teacher, code, "b", "print('b')", 2).status_code == 200
    before = [listener.wait_for(1)[-1] for listener in listeners]
    assert all(event["data"]["cell_id"] == "b" for event in before)
    first_id = teacher.get(f"codestream/api/sessions/{code}/cells").json()["last_event_id"]

    redis_server.restart()  # stop + start on the same port; the append-only file brings the data back

    # The server reconnects by itself: the very next publish works (no restart, no manual step).
    r = publish(teacher, code, "c", "print('c')", 3)
    assert r.status_code == 200, r.text
    assert publish(teacher, code, "a", "print('a v2')").json()["version"] == 2
    assert teacher.delete(f"codestream/api/sessions/{code}/cells/b").status_code == 204
    expected = [("published", "b", 1), ("published", "c", 1), ("updated", "a", 2), ("unpublished", "b", 1)]
    for listener in listeners:
        listener.wait_for(len(expected))
        assert listener.cell_events() == expected, "every event published after recovery, in order, once"
        assert not listener.ended.is_set(), "the same stream kept delivering across the Redis restart"

    # A student that resumes with Last-Event-ID misses nothing Redis kept, across the restart too.
    resumed = EventStream(server, code, key, cs_secret_scanner, last_event_id=first_id)
    resumed.wait_for(3)
    assert resumed.cell_events() == expected[1:]
    from_start = EventStream(server, code, key, cs_secret_scanner, last_event_id="0-0")
    from_start.wait_for(5)
    assert from_start.cell_events() == [("published", "a", 1), *expected]
    listing = teacher.get(f"codestream/api/sessions/{code}/cells").json()
    assert [(c["cell_id"], c["version"]) for c in listing["cells"]] == [("a", 2), ("c", 1)]


def test_redis_stopped_is_503_everywhere_then_recovers(cs_teacher_server, redis_up, cs_secret_scanner):
    server, redis_server = cs_teacher_server, redis_up
    teacher = server.client(timeout=30.0)
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    assert publish(teacher, code, "a", "x = 1").status_code == 200
    listener = EventStream(server, code, key, cs_secret_scanner)
    student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)
    cell = {"source": "x = 2", "cell_type": "code", "position": 1}
    calls = [
        (teacher, "GET", "codestream/api/sessions", None),
        (teacher, "POST", "codestream/api/sessions", {"title": "during outage"}),
        (teacher, "PUT", f"codestream/api/sessions/{code}/cells/a", cell),
        (teacher, "DELETE", f"codestream/api/sessions/{code}/cells/a", None),
        (teacher, "POST", f"codestream/api/sessions/{code}/key", None),
        (teacher, "GET", f"codestream/api/sessions/{code}/cells", None),
        (teacher, "GET", f"codestream/api/sessions/{code}/cells/a", None),
        (teacher, "GET", f"codestream/api/sessions/{code}/events", None),
        (student, "GET", f"codestream/api/sessions/{code}/cells", None),
        (student, "GET", f"codestream/api/sessions/{code}/cells/a", None),
        (student, "GET", f"codestream/api/sessions/{code}/events", None),
        (teacher, "POST", f"code_stream/{code}/push-cell/", {"cell_id": "a", "cell_content": "x = 3"}),
        (teacher, "GET", f"code_stream/{code}/get-all-cell-ids/", None),
        (student, "GET", f"code_stream/{code}/get-cell/", None),
        (teacher, "DELETE", f"codestream/api/sessions/{code}", None),  # last: it would end the session
    ]

    redis_server.stop()
    for client, method, url, body in calls:
        params = {"cell_id": "a"} if "get-cell" in url else None
        r = client.request(method, url, json=body, params=params)  # bounded by the client timeout
        assert_contract_error(r, 503, "store_unavailable")
    assert not listener.ended.is_set(), "an open stream survives an outage (it only misses heartbeats' presence)"

    redis_server.start()
    wait_until(lambda: teacher.get("codestream/api/sessions").status_code == 200, STORE_DOWN_WAIT,
               interval=0.2, what="the teacher routes to answer again")
    assert publish(teacher, code, "a", "x = 2").json()["version"] == 2, "nothing was written during the outage"
    assert student.get(f"codestream/api/sessions/{code}/cells/a").json()["source"] == "x = 2"
    listener.wait_for(1)
    assert listener.cell_events() == [("updated", "a", 2)], "the open stream got the first write after the outage"
    assert [s["title"] for s in teacher.get("codestream/api/sessions").json()["sessions"]] == ["faults"]


def test_hung_redis_is_503_not_a_hang(cs_teacher_server, redis_up, cs_secret_scanner):
    """A Redis that accepts connections but never answers (SIGSTOP) costs one command timeout."""
    server, redis_server = cs_teacher_server, redis_up
    teacher = server.client(timeout=30.0)
    session = create_session(teacher)
    code = session["code"]
    student = server.client(auth=False, headers={"Authorization": f"Bearer {session['student_key']}"}, timeout=30.0)
    redis_server.process.send_signal(signal.SIGSTOP)
    try:
        assert_contract_error(teacher.get("codestream/api/sessions"), 503, "store_unavailable")
        assert_contract_error(student.get(f"codestream/api/sessions/{code}/cells"), 503, "store_unavailable")
        assert_contract_error(student.get(f"codestream/api/sessions/{code}/events"), 503, "store_unavailable")
    finally:
        redis_server.process.send_signal(signal.SIGCONT)
    wait_until(lambda: teacher.get("codestream/api/sessions").status_code == 200, STORE_DOWN_WAIT,
               interval=0.2, what="the teacher routes to answer again")
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 200


# -- the teacher's server restarted on its embedded Redis --------------------------------------

def test_embedded_redis_survives_server_restarts_and_dies_with_the_server(cs_jupyter_server_factory,
                                                                            cs_secret_scanner):
    server = cs_jupyter_server_factory("embedded")  # no Redis configured: the embedded one
    redis_dir = str(server.data_dir / "codestream" / "redis")
    teacher = server.client()
    assert teacher.get("codestream/api/sessions").json() == {"sessions": []}
    assert not Path(redis_dir).exists(), "nothing starts (or is created) before a session exists"
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    assert publish(teacher, code, "a", "a = 1").status_code == 200
    assert publish(teacher, code, "b", "b = 1", 2).status_code == 200
    assert publish(teacher, code, "a", "a = 2").status_code == 200
    assert any(Path(redis_dir).glob("appendonly*")), "it persists under the Jupyter data directory"

    def the_one_redis_server() -> tuple[int, Path]:
        running = redis_servers_in(redis_dir)
        assert len(running) == 1, f"one embedded redis-server, found {running}"
        (pid, cmdline), = running.items()
        assert " unixsocket:" in cmdline, f"it listens on a unix socket only: {cmdline}"
        socket_path = Path(cmdline.split(" unixsocket:", 1)[1].split()[0])
        assert socket_path.is_socket()
        beside_data = Path(redis_dir) / "redis.sock"
        if len(str(beside_data)) <= MAX_SOCKET_PATH:
            assert socket_path == beside_data, "the socket sits beside the data (nothing in /tmp)"
        else:  # this test's folder is too deep for a socket path: a temp folder of its own
            assert socket_path.parent.name.startswith("codestream-redis-")
        return pid, socket_path

    def expect_everything_kept():
        teacher = server.client()
        sessions = teacher.get("codestream/api/sessions").json()["sessions"]
        assert [(s["code"], s["cells"]) for s in sessions] == [(code, 2)]
        student = server.client(auth=False, headers={"Authorization": f"Bearer {key}"})
        cells = student.get(f"codestream/api/sessions/{code}/cells")
        assert cells.status_code == 200, "the student key is still valid"
        assert [(c["cell_id"], c["source"], c["version"]) for c in cells.json()["cells"]] == [
            ("a", "a = 2", 2), ("b", "b = 1", 1)]
        replay = EventStream(server, code, key, cs_secret_scanner, last_event_id="0-0")
        replay.wait_for(3)
        assert replay.cell_events() == [("published", "a", 1), ("published", "b", 1), ("updated", "a", 2)]

    def stop_jupyter_only(sig: int) -> None:
        """Signal the Jupyter process alone (not its process group): stopping Redis is its job."""
        server.process.send_signal(sig)
        server.process.wait(30)

    def gone(pid: int) -> bool:
        return not Path(f"/proc/{pid}").exists() or not redis_servers_in(redis_dir)

    # 1. a clean stop (SIGTERM): the extension stops its redis-server and removes its socket
    first_pid, first_socket = the_one_redis_server()
    stop_jupyter_only(signal.SIGTERM)
    assert gone(first_pid), "the redis-server stopped with the Jupyter server"
    assert not first_socket.exists(), "its socket was removed"
    server.restart()
    expect_everything_kept()
    second_pid, second_socket = the_one_redis_server()
    assert second_pid != first_pid

    # 2. a crash (SIGKILL: no shutdown code runs): the redis-server still goes with it, socket and all
    stop_jupyter_only(signal.SIGKILL)
    wait_until(lambda: gone(second_pid), 15, what="the orphaned redis-server to exit")
    wait_until(lambda: not second_socket.exists(), 15, what="the orphaned redis-server to remove its socket")
    server.restart()
    expect_everything_kept()

    third_pid, third_socket = the_one_redis_server()
    stop_jupyter_only(signal.SIGTERM)
    assert gone(third_pid) and not third_socket.exists()
    assert redis_servers_in(redis_dir) == {}


# -- student-key brute force ---------------------------------------------------------------

def test_wrong_student_keys_are_slowed_and_the_right_key_always_passes(cs_jupyter_server_factory, cs_redis,
                                                                       cs_secret_scanner):
    """Issue 14 item 1: behind one address (a school NAT, a one-machine hub) typos must not lock
    the class out. Wrong keys beyond the limit are 429 after a delay; the right key is 200."""
    limit = 5
    server = cs_jupyter_server_factory("throttled", env={"CODESTREAM_REDIS_URL": cs_redis.url},
                                       args=[f"--CodeStreamApp.key_failures_per_minute={limit}",
                                             "--CodeStreamApp.key_failure_penalty_seconds=0.3"])
    teacher = server.client()
    session, other = create_session(teacher), create_session(teacher)
    code = session["code"]
    wrong_keys = [f"guess-{i}-{os.urandom(8).hex()}" for i in range(limit + 3)]
    for wrong in wrong_keys:
        cs_secret_scanner.add(wrong)  # a guessed key must not be echoed or logged either
    url = f"codestream/api/sessions/{code}/cells"
    for wrong in wrong_keys[:limit]:
        r = server.client(auth=False, headers={"Authorization": f"Bearer {wrong}"}).get(url)
        assert_contract_error(r, 401, "unauthorized")
    for wrong in wrong_keys[limit:]:
        r = server.client(auth=False, headers={"Authorization": f"Bearer {wrong}"}).get(url)
        assert_contract_error(r, 429, "too_many_requests")
        assert r.elapsed.total_seconds() >= 0.3, "a wrong key beyond the limit is slowed"
    r = server.client(auth=False, headers={"Authorization": f"Bearer {wrong_keys[0]}"}).get(
        f"codestream/api/sessions/{code}/events")
    assert_contract_error(r, 429, "too_many_requests")
    for route in (url, f"code_stream/{code}/get-all-cell-ids/"):
        r = server.client(auth=False, headers={"Authorization": f"Bearer {session['student_key']}"}).get(route)
        assert r.status_code == 200, (route, r.text)  # the right key is never refused
    with server.client(auth=False, headers={"Authorization": f"Bearer {session['student_key']}"}) as client:
        with client.stream("GET", f"codestream/api/sessions/{code}/events") as stream:
            assert stream.status_code == 200
    # another session's wrong keys from the same address are counted on their own
    r = server.client(auth=False, headers={"Authorization": f"Bearer {wrong_keys[0]}"}).get(
        f"codestream/api/sessions/{other['code']}/cells")
    assert_contract_error(r, 401, "unauthorized")
    assert teacher.get(url).status_code == 200, "the teacher's own access is not throttled"

    log = server.log_text()
    assert any(code in line and "key" in line for line in log.splitlines()), "wrong keys are logged as events"
    for secret in [*wrong_keys, session["student_key"], server.token]:
        assert secret not in log, "a log line carries a key"


def test_twenty_five_typos_then_the_right_key_is_200(cs_teacher_server, redis_up):
    """The default limit (20 a minute): 25 wrong keys from one address, then the right one."""
    teacher = cs_teacher_server.client()
    session = create_session(teacher)
    url = f"codestream/api/sessions/{session['code']}/cells"
    statuses = [cs_teacher_server.client(auth=False, headers={"Authorization": f"Bearer WRONG{i:04d}KEY"}).get(url)
                .status_code for i in range(25)]
    assert statuses == [401] * 20 + [429] * 5
    r = cs_teacher_server.client(auth=False, headers={"Authorization": f"Bearer {session['student_key']}"}).get(url)
    assert r.status_code == 200, r.text
    assert r.json()["session"] == session["code"]
