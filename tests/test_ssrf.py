"""SSRF, end to end: hostile teacher URLs through the real student routes of real student servers.

Each URL is sent as a student would (``PUT codestream/api/student/config``, then
``POST codestream/api/student/test``) to a real student Jupyter server: one with the default
policy, one with a network allow-list (``student_allowed_networks``: classroom LANs only). Every
one must be refused with ``400 invalid_url`` (and leave nothing configured), or, for a real
teacher address that answers with a redirect, be contained: the redirect is not followed, the
test answers ``bad_response`` and the redirect's target — a real listener on another port —
never receives a connection. The pure parsing cases live in ``test_url_policy.py``; this file
proves the route, the stored config and the HTTP client hold the same line.
"""

from __future__ import annotations

import socket
import threading

import pytest

from jupyter_ext.testing import JupyterServerProcess
from jupyter_ext.testing.http import LoopbackHTTPServer, QuietHandler
from student_fixtures import STUDENT_ARGS

KEY = "ssrf-student-key-0123456789"
SECRET = "hunter22"  # a password inside a hostile URL: must never be echoed back
ALLOWED_NETWORKS = ["10.0.0.0/8", "192.168.0.0/16"]  # the classroom LANs; no loopback, no link-local
MIN_CASES = 30


class Sink:
    """A TCP listener on 127.0.0.1 that only counts connections: the place nobody may reach."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self):
        self._stop.set()
        self.listener.close()
        self._thread.join(5)


class RedirectingTeacher(LoopbackHTTPServer):
    """A real HTTP server on 127.0.0.1 standing in for a teacher: every GET answers with the
    redirect ``plan(path)`` returns (status, Location); it records the paths it was asked for."""

    def __init__(self):
        self.paths: list[str] = []
        self.plan = lambda path: (302, "/")
        owner = self

        class Handler(QuietHandler):
            def do_GET(self):
                owner.paths.append(self.path)
                status, location = owner.plan(self.path)
                self.send_response(status)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        super().__init__(Handler)


@pytest.fixture(scope="module")
def sink():
    s = Sink()
    yield s
    s.close()


@pytest.fixture(scope="module")
def redirecting_teacher():
    t = RedirectingTeacher()
    yield t
    t.close()


@pytest.fixture(scope="module")
def allow_listed_student(tmp_path_factory, cs_secret_scanner):
    """A student server whose operator allowed the classroom LANs only."""
    args = STUDENT_ARGS + [f"--CodeStreamApp.student_allowed_networks={net}" for net in ALLOWED_NETWORKS]
    server = JupyterServerProcess(tmp_path_factory.mktemp("student-allow-list"), args=args,
                                  scanner=cs_secret_scanner).start()
    yield server
    server.stop()


def hostile_urls(port: int) -> list[str]:
    """Refused by the policy itself, whatever the allow-list. ``port`` is the sink's."""
    return [
        # schemes other than http(s)
        "file:///etc/passwd",
        f"ftp://127.0.0.1:{port}/",
        f"gopher://127.0.0.1:{port}/_SET%20x%201",
        "javascript:fetch('http://169.254.169.254/')//",
        "data:text/html,<script>alert(1)</script>",
        f"ws://127.0.0.1:{port}/",
        f"wss://127.0.0.1:{port}/",
        f"dict://127.0.0.1:{port}/info",
        f"HtTpS+x://127.0.0.1:{port}/",
        # user-info, plain and disguised
        f"http://student:{SECRET}@127.0.0.1:{port}/",
        f"http://10.0.0.5@127.0.0.1:{port}/",
        f"http://10.0.0.5:8888@127.0.0.1:{port}/",
        f"http://evil%40127.0.0.1:{port}/",
        f"http://127.0.0.1%40evil.example:{port}/",
        f"http://127.0.0.1:{port}%2f@evil.example/",
        f"http://evil\\@127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}\\@10.0.0.5/",
        f"http://[::1]:{port}@10.0.0.5/",
        # backslashes and half-URLs a browser would "fix"
        f"http:\\\\127.0.0.1:{port}\\",
        f"http:/127.0.0.1:{port}/",
        f"//127.0.0.1:{port}/",
        f"127.0.0.1:{port}",
        # query, fragment and control characters that move the real host
        f"http://10.0.0.5:8888/?next=http://127.0.0.1:{port}/",
        f"http://127.0.0.1:{port}#@10.0.0.5/",
        f"http://127.0.0.1:{port}\t.10.0.0.5/",
        f"http://127.0.0.1:{port}\r\nHost: 169.254.169.254/",
        # percent-encoded and malformed hosts
        f"http://%31%32%37.0.0.1:{port}/",
        f"http://169.254.169.254%2f.10.0.0.5:{port}/",
        # IPv6 forms that are not a plain address
        f"http://[::1%25lo]:{port}/",
        f"http://[127.0.0.1]:{port}/",
        f"http://[v1.fe80::a+en1]:{port}/",
        f"http://[::1:{port}/",
        f"http://[::1]:{port}:80/",
    ]


def loopback_and_metadata_urls(port: int) -> list[str]:
    """Fine as URLs, refused by the allow-list (they resolve to loopback, 'this host' or link-local)."""
    return [
        f"http://127.0.0.1:{port}/",
        f"http://127.1:{port}/",
        f"http://127.0.0.2:{port}/",
        f"http://2130706433:{port}/",  # decimal 127.0.0.1
        f"http://0177.0.0.1:{port}/",  # octal
        f"http://0x7f.1:{port}/",  # hex, short form
        f"http://0x7f000001:{port}/",
        f"http://0:{port}/",
        f"http://0.0.0.0:{port}/",
        f"http://localhost:{port}/",
        f"http://LOCALHOST.:{port}/",
        f"http://localhost.localdomain:{port}/",
        f"http://{socket.gethostname()}:{port}/",  # this machine's own name (hosts file: 127.0.0.1)
        f"http://127。0。0。1:{port}/",  # ideographic full stops, IDNA-mapped to dots
        f"http://[::1]:{port}/",
        f"http://[0:0:0:0:0:0:0:1]:{port}/",
        f"http://[::]:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        f"http://[::ffff:7f00:1]:{port}/",
        f"http://[::127.0.0.1]:{port}/",
        f"http://[64:ff9b::7f00:1]:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.169.254.:80/latest/meta-data/",
        "http://2852039166/latest/meta-data/",  # decimal 169.254.169.254
        "http://0251.0376.0251.0376/latest/meta-data/",  # octal
        "http://0xa9fea9fe/latest/meta-data/",  # hex
        "http://[::ffff:169.254.169.254]/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",  # AWS IMDS over IPv6
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba metadata (outside the LANs)
    ]


def put_config(client, url: str):
    return client.put("codestream/api/student/config",
                      json={"teacher_url": url, "session_code": "ABCDEF", "student_key": KEY})


def check_refused(server, url: str) -> str | None:
    """None if ``url`` was refused end to end; otherwise what went wrong."""
    client = server.client()
    r = put_config(client, url)
    if r.status_code != 400 or r.json().get("error", {}).get("code") != "invalid_url":
        client.delete("codestream/api/student/config")
        return f"PUT answered {r.status_code} {r.text[:200]}"
    message = r.json()["error"]["message"]
    if SECRET in message or url in message or KEY in r.text:
        return f"the refusal echoes the URL or a secret: {message}"
    if client.get("codestream/api/student/config").status_code != 404:
        return "a refused URL was stored"
    t = client.post("codestream/api/student/test")
    if t.status_code != 404 or t.json()["error"]["code"] != "not_configured":
        return f"test after a refused URL answered {t.status_code} {t.text[:200]}"
    return None


def test_hostile_teacher_urls_are_refused_by_both_policies(cs_student, allow_listed_student, sink):  # noqa: F811
    allow_listed_student.client().delete("codestream/api/student/config")
    failures, checked = [], 0
    for server, label in ((cs_student, "default"), (allow_listed_student, "allow-list")):
        for url in hostile_urls(sink.port):
            checked += 1
            problem = check_refused(server, url)
            if problem:
                failures.append(f"[{label}] {url!r}: {problem}")
    assert not failures, "\n".join(failures)
    assert sink.connections == 0
    assert checked >= MIN_CASES


def test_loopback_and_metadata_addresses_are_refused_with_an_allow_list(allow_listed_student, sink):
    client = allow_listed_student.client()
    client.delete("codestream/api/student/config")
    failures, checked = [], 0
    for url in loopback_and_metadata_urls(sink.port):
        checked += 1
        problem = check_refused(allow_listed_student, url)
        if problem:
            failures.append(f"{url!r}: {problem}")
    assert not failures, "\n".join(failures)
    assert sink.connections == 0
    assert checked >= MIN_CASES
    # The same server accepts a classroom address: the refusals above are the allow-list's doing.
    r = put_config(client, "http://10.0.0.5:8888/")
    assert r.status_code == 200, r.text
    assert client.get("codestream/api/student/config").json()["teacher_url"] == "http://10.0.0.5:8888/"
    client.delete("codestream/api/student/config")


def redirect_plans(teacher_port: int, port: int) -> list[tuple[str, object, int]]:
    """(label, plan, requests the teacher should see) — every plan ends somewhere else."""
    other = f"http://127.0.0.1:{port}/"
    cells = "/codestream/api/sessions/ABCDEF/cells"

    def chain(path):  # one same-origin hop (followed), then away (not followed)
        return (302, "/hop") if path.startswith(cells) else (302, other + "hop")

    return [
        ("302 to another port", lambda p: (302, other + "codestream/api/sessions/ABCDEF/cells"), 1),
        ("301 to another port", lambda p: (301, other), 1),
        ("303 to another port", lambda p: (303, other), 1),
        ("307 to another port", lambda p: (307, other), 1),
        ("308 to another port", lambda p: (308, other), 1),
        ("302 scheme-relative", lambda p: (302, f"//127.0.0.1:{port}/"), 1),
        ("302 same port, other host name", lambda p: (302, f"http://localhost:{teacher_port}/"), 1),
        ("302 same host and port, https", lambda p: (302, f"https://127.0.0.1:{teacher_port}/"), 1),
        ("302 with user-info", lambda p: (302, f"http://u:{SECRET}@127.0.0.1:{teacher_port}/x")
         , 1),
        ("302 to the metadata service", lambda p: (302, "http://169.254.169.254/latest/meta-data/"), 1),
        ("302 to decimal loopback", lambda p: (302, f"http://2130706433:{port}/"), 1),
        ("302 to file:", lambda p: (302, "file:///etc/passwd"), 1),
        ("302 to gopher:", lambda p: (302, f"gopher://127.0.0.1:{port}/_x"), 1),
        ("302 backslash trick", lambda p: (302, f"/\\127.0.0.1:{port}/"), None),
        ("same-origin hop, then away", chain, 2),
    ]


def test_redirects_to_another_origin_are_not_followed(cs_student, redirecting_teacher, sink):  # noqa: F811
    client = cs_student.client()
    failures, checked = [], 0
    for label, plan, expected_requests in redirect_plans(redirecting_teacher.port, sink.port):
        checked += 1
        redirecting_teacher.plan = plan
        redirecting_teacher.paths.clear()
        r = put_config(client, redirecting_teacher.url)
        assert r.status_code == 200, r.text
        t = client.post("codestream/api/student/test")
        body = t.json()
        if t.status_code != 200 or body.get("ok") is not False or body["error"]["code"] != "bad_response":
            failures.append(f"{label}: test answered {t.status_code} {t.text[:200]}")
        elif SECRET in t.text:
            failures.append(f"{label}: the answer repeats the redirect's password")
        seen = len(redirecting_teacher.paths)
        # the backslash form stays on the teacher's origin (a path), so it may be followed there,
        # a bounded number of times
        if expected_requests is None and not 1 <= seen <= 4 or expected_requests not in (None, seen):
            failures.append(f"{label}: the teacher saw {seen} requests ({redirecting_teacher.paths})")
        if sink.connections:
            failures.append(f"{label}: the redirect target received a connection")
            break
    # The proxied cell list (what a dashboard calls) refuses the same way, in the contract's shape.
    redirecting_teacher.plan = lambda p: (302, f"http://127.0.0.1:{sink.port}/")
    r = client.get("codestream/api/student/cells")
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_response", r.text
    client.delete("codestream/api/student/config")
    assert not failures, "\n".join(failures)
    assert sink.connections == 0
    assert checked >= 15


def test_the_sink_would_see_a_request_that_got_through(cs_student):  # noqa: F811
    """Control: the 'no connection' evidence above is worth something only if the sink counts."""
    control = Sink()
    try:
        client = cs_student.client()
        assert put_config(client, f"http://127.0.0.1:{control.port}/").status_code == 200
        t = client.post("codestream/api/student/test")
        assert t.status_code == 200 and t.json()["ok"] is False, t.text
        assert control.connections >= 1
    finally:
        cs_student.client().delete("codestream/api/student/config")
        control.close()


def test_the_1x_config_route_holds_the_same_line(cs_student, allow_listed_student, sink):  # noqa: F811
    """1.x clients set the teacher through ``POST code_stream/config``: same refusals, same shape."""
    urls = [(cs_student, u) for u in hostile_urls(sink.port)[:12]]
    urls += [(allow_listed_student, u) for u in loopback_and_metadata_urls(sink.port)[:8]]
    failures = []
    for server, url in urls:
        client = server.client()
        r = client.post("code_stream/config", json={"teacher_base_url": url, "teacher_token": KEY})
        body = r.json()
        if r.status_code != 400 or body.get("status") != "error" or body.get("code") != "invalid_url":
            failures.append(f"{url!r}: {r.status_code} {r.text[:200]}")
        elif SECRET in body.get("message", ""):
            failures.append(f"{url!r}: the refusal repeats the password")
        if client.get("codestream/api/student/config").status_code != 404:
            failures.append(f"{url!r}: stored")
            client.delete("codestream/api/student/config")
    assert not failures, "\n".join(failures)
    assert sink.connections == 0
