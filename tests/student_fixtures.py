"""Fixtures and helpers for the student-side tests: a real student Jupyter server, a TCP
proxy that can drop the student's upstream connections, and an SSE reader thread.

Used with ``from student_fixtures import *`` style imports of the fixtures a test needs.
"""

from __future__ import annotations

import socket
import threading

import pytest

from jupyter_ext.testing import JupyterServerProcess, free_port

# Short timeouts and backoff: failures show up fast and a dropped relay comes back fast.
STUDENT_ARGS = [
    "--CodeStreamApp.teacher_connect_timeout=2",
    "--CodeStreamApp.teacher_read_timeout=2",
    "--CodeStreamApp.upstream_backoff_initial=0.05",
    "--CodeStreamApp.upstream_backoff_max=0.5",
    "--CodeStreamApp.heartbeat_seconds=1",
    "--CodeStreamApp.upstream_buffer_events=4",
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


@pytest.fixture(scope="module")
def student_server(tmp_path_factory, cs_secret_scanner):
    """One student Jupyter server per module with the default settings, for the dashboard tests
    (starting it, and the dashboard it proxies, is the slow part)."""
    server = JupyterServerProcess(tmp_path_factory.mktemp("student-dash"), scanner=cs_secret_scanner).start()
    yield server
    server.stop()


@pytest.fixture
def student(student_server):
    """The module's default student server with no teacher configured, no notebooks and no kernels."""
    client = student_server.client()
    client.delete("codestream/api/student/config")
    for kernel_session in client.get("api/sessions").json():
        client.delete(f"api/sessions/{kernel_session['id']}")
    for item in client.get("api/contents", params={"content": 1}).json()["content"]:
        client.delete(f"api/contents/{item['path']}")
    return student_server


def configure(student_client, teacher_url, code, key) -> dict:
    r = student_client.put("codestream/api/student/config",
                           json={"teacher_url": teacher_url, "session_code": code, "student_key": key})
    assert r.status_code == 200, r.text
    return r.json()


class DroppableProxy:
    """A TCP forwarder on 127.0.0.1 in front of a server; ``drop()`` cuts every connection and
    refuses new ones until ``restore()``. Counts the requests it forwarded by path fragment.
    ``host``: the address it listens on (in the namespace of the thread that makes it)."""

    def __init__(self, target_port: int, host: str = "127.0.0.1"):
        self.target_port = target_port
        self.host = host
        self.port = free_port()
        self._down = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._sent = bytearray()
        self._connections: list[dict] = []  # {"sent": bytearray, "open": bool} per forwarded connection
        self._listener = socket.create_server((host, self.port))
        self._listener.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

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

