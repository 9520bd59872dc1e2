"""Fixtures and helpers for the student-side tests: a real student Jupyter server, a TCP
proxy that can drop the student's upstream connections, and an SSE reader thread.

Used with ``from student_fixtures import *`` style imports of the fixtures a test needs.
"""

from __future__ import annotations

import json
import socket
import threading

import httpx
import pytest

from jupyter_ext.pytest_plugin import JupyterServerProcess, free_port

# Short timeouts and backoff: failures show up fast and a dropped relay comes back fast.
STUDENT_ARGS = [
    "--CodeStreamApp.teacher_connect_timeout=2",
    "--CodeStreamApp.teacher_read_timeout=2",
    "--CodeStreamApp.relay_backoff_initial=0.05",
    "--CodeStreamApp.relay_backoff_max=0.5",
    "--CodeStreamApp.heartbeat_seconds=1",
    "--CodeStreamApp.relay_buffer_events=4",
]


@pytest.fixture(scope="module")
def cs_student_server(tmp_path_factory, cs_secret_scanner):
    """One student Jupyter server per test module (no Redis: students never need one)."""
    server = JupyterServerProcess(tmp_path_factory.mktemp("student"), args=STUDENT_ARGS,
                                  scanner=cs_secret_scanner).start()
    yield server
    server.stop()


@pytest.fixture
def cs_student(cs_student_server):
    """The module's student server with no teacher configured."""
    cs_student_server.client().delete("codestream/api/student/config")
    return cs_student_server


def create_session(teacher_client, **body) -> dict:
    r = teacher_client.post("codestream/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def publish(teacher_client, code, cell_id, source, position, cell_type="code") -> dict:
    r = teacher_client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                           json={"source": source, "cell_type": cell_type, "position": position})
    assert r.status_code == 200, r.text
    return r.json()


def configure(student_client, teacher_url, code, key) -> dict:
    r = student_client.put("codestream/api/student/config",
                           json={"teacher_url": teacher_url, "session_code": code, "student_key": key})
    assert r.status_code == 200, r.text
    return r.json()


class DroppableProxy:
    """A TCP forwarder on 127.0.0.1 in front of a server; ``drop()`` cuts every connection and
    refuses new ones until ``restore()``. Counts the requests it forwarded by path fragment."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self._down = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._sent = bytearray()
        self._connections: list[dict] = []  # {"sent": bytearray, "open": bool} per forwarded connection
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def requests_to(self, fragment: str) -> int:
        with self._lock:
            return bytes(self._sent).count(fragment.encode())

    def open_connections_to(self, fragment: str) -> int:
        """Connections still open whose requests included ``fragment`` (e.g. an events stream)."""
        with self._lock:
            return sum(1 for c in self._connections if c["open"] and fragment.encode() in c["sent"])

    def drop(self) -> None:
        self._down.set()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _close(sock)

    def restore(self) -> None:
        self._down.clear()

    def close(self) -> None:
        self._stop.set()
        self.drop()
        self._listener.close()
        self._thread.join(5)

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if self._down.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            connection = {"sent": bytearray(), "open": True}
            with self._lock:
                self._sockets.update((client, upstream))
                self._connections.append(connection)
            for src, dst, record in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(src, dst, record, connection), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, record: bool, connection: dict):
        src.settimeout(None)
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record:
                    with self._lock:
                        self._sent.extend(data)
                        connection["sent"].extend(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                connection["open"] = False
            for sock in (src, dst):
                _close(sock)
                with self._lock:
                    self._sockets.discard(sock)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class SSEReader:
    """Reads a real event stream in a thread; collects parsed events (comments skipped)."""

    def __init__(self, url: str, headers: dict):
        self.events: list[dict] = []
        self.status: int | None = None
        self.comments = 0  # heartbeats and the ": connected" line
        self.body: str = ""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._got = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(20), "event stream did not open"

    def _run(self, url, headers):
        try:
            with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client:
                with client.stream("GET", url, headers=headers) as response:
                    self.status = response.status_code
                    if response.status_code != 200:
                        self.body = response.read().decode()
                        self.opened.set()
                        return
                    self.opened.set()
                    event: dict = {}
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith(":"):
                            self.comments += 1
                            continue
                        if not line:
                            if event:
                                with self._got:
                                    self.events.append(event)
                                    self._got.notify_all()
                                event = {}
                            continue
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self._got:
            assert self._got.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def cell_ids(self) -> list[tuple[str, str]]:
        return [(e.get("event", ""), json.loads(e["data"]).get("cell_id", "")) for e in self.events]

    def close(self):
        self._stop.set()
