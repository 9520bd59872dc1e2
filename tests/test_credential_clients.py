"""Server-side clients that carry a credential hold exactly that one (API.md v3, "The 1.x
frontend, completely"; ARCHITECTURE.md, clients): no cookie jar, no proxy from the environment.

- A real teacher's Jupyter server sets its login cookie when a 1.x student's server sends the
  teacher's token; a kept cookie would open every session afterwards, whatever key is configured.
- A hostile server sets cookies; nothing it sets is ever sent back.
- ``http_proxy`` & co. in the environment (jupyter-server-proxy passes its environment on to the
  dashboards) never see a request; ``c.CodeStreamApp.teacher_proxy_url`` is the one way to use a
  proxy. The proxy here is a real recording proxy on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from student_fixtures import configure

from jupyter_ext.clients import ServerClient
from jupyter_ext.testing import create_session, publish
from jupyter_ext.testing.http import LoopbackHTTPServer, QuietHandler

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


class RecordingProxy(LoopbackHTTPServer):
    """An HTTP proxy on 127.0.0.1 that records every request it gets and forwards none (502)."""

    def __init__(self):
        self.requests: list[str] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            def _record(self):
                with proxy._lock:
                    proxy.requests.append(f"{self.command} {self.path}")
                self.send_error(502)

            do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = _record

        super().__init__(Handler)

    def environment(self) -> dict:
        return {name: self.url.rstrip("/") for name in PROXY_VARIABLES} | {"NO_PROXY": "", "no_proxy": ""}


class CookieSettingTeacher(LoopbackHTTPServer):
    """A "teacher" that answers a valid empty cell list with cookies (for its own host and the
    whole domain), and records the Cookie header of every request it gets."""

    def __init__(self, code: str):
        self.cookie_headers: list[str | None] = []
        teacher = self

        class Handler(QuietHandler):
            def do_GET(self):
                teacher.cookie_headers.append(self.headers.get("Cookie"))
                body = json.dumps({"session": code, "title": "t", "cells": [], "last_event_id": "0-0"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Set-Cookie", "planted=1; Path=/")
                self.send_header("Set-Cookie", "username-127-0-0-1=evil; Path=/; Domain=127.0.0.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)


@pytest.fixture
def proxy():
    recording = RecordingProxy()
    yield recording
    recording.close()


def test_nothing_a_teacher_sets_is_sent_back(cs_jupyter_server_factory):
    teacher = CookieSettingTeacher("ABCDEF")
    try:
        student = cs_jupyter_server_factory("student-cookies").client()
        configure(student, teacher.url, "ABCDEF", "K" * 20)
        for _ in range(3):
            assert student.post("codestream/api/student/test").json()["ok"] is True
        assert student.get("code_stream/ABCDEF/get-all-cell-ids/").json()["status"] == "success"
        assert len(teacher.cookie_headers) >= 4
        assert teacher.cookie_headers == [None] * len(teacher.cookie_headers)
    finally:
        teacher.close()


def test_the_teachers_login_cookie_opens_nothing_afterwards(cs_teacher, cs_jupyter_server_factory):
    """1.x student: the teacher's Jupyter token (which makes the teacher's server set its login
    cookie), then a session's key: with the key of A, session B stays closed."""
    teacher = cs_teacher.client()
    a, b = create_session(teacher, title="A"), create_session(teacher, title="B")
    publish(teacher, b["code"], "secret", "answer = 42", 1)
    student = cs_jupyter_server_factory("student-login-cookie").client()
    r = student.post("code_stream/config", json={"teacher_base_url": cs_teacher.url,
                                                 "teacher_token": cs_teacher.token})
    assert r.status_code == 200, r.text
    assert student.post("code_stream/test").json()["status"] == "success"
    assert student.get(f"code_stream/{b['code']}/get-all-cell-ids/").json()["data"] == ["secret"]

    configure(student, cs_teacher.url, b["code"], a["student_key"])  # A's key, B's code
    r = student.get("codestream/api/student/cells")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
    result = student.post("codestream/api/student/test").json()
    assert result["ok"] is False and result["error"]["code"] == "unauthorized"
    r = student.get(f"code_stream/{b['code']}/get-cell/", params={"cell_id": "secret"})
    assert r.status_code == 401 and r.json()["status"] == "error"
    # and a wrong token after the right one is refused too
    student.post("code_stream/config", json={"teacher_base_url": cs_teacher.url, "teacher_token": "x" * 32})
    assert student.post("code_stream/test").json()["status"] == "error"
    assert student.get(f"code_stream/{b['code']}/get-all-cell-ids/").status_code == 401


def test_a_students_server_ignores_proxy_variables(cs_teacher, cs_jupyter_server_factory, proxy):
    teacher = cs_teacher.client()
    session = create_session(teacher)
    student = cs_jupyter_server_factory("student-proxy-env", env=proxy.environment()).client()
    configure(student, cs_teacher.url, session["code"], session["student_key"])
    assert student.post("codestream/api/student/test").json()["ok"] is True
    assert student.get("codestream/api/student/cells").status_code == 200
    assert proxy.requests == [], "the student's key went through a proxy from the environment"


def test_an_explicit_proxy_option_is_the_one_way_to_use_a_proxy(cs_teacher, cs_jupyter_server_factory, proxy):
    session = create_session(cs_teacher.client())
    student = cs_jupyter_server_factory(
        "student-proxy-option", args=[f"--CodeStreamApp.teacher_proxy_url={proxy.url.rstrip('/')}"]).client()
    configure(student, cs_teacher.url, session["code"], session["student_key"])
    result = student.post("codestream/api/student/test").json()
    assert result["ok"] is False  # the recording proxy forwards nothing
    assert any(cs_teacher.url.rstrip("/") in line for line in proxy.requests), proxy.requests


def test_a_bad_proxy_option_stops_the_server_with_a_clear_message():
    from traitlets import TraitError

    from jupyter_ext.app import CodeStreamApp

    app = CodeStreamApp()
    with pytest.raises(TraitError, match="teacher_proxy_url"):
        app.teacher_proxy_url = "ftp://proxy:21"
    app.teacher_proxy_url = "http://127.0.0.1:3128"
    assert app.teacher_proxy_url == "http://127.0.0.1:3128"


def test_the_dashboards_client_ignores_proxy_variables(cs_teacher, proxy, monkeypatch):
    for name, value in proxy.environment().items():
        monkeypatch.setenv(name, value)

    async def ask():
        client = ServerClient(cs_teacher.url, cs_teacher.token)
        try:
            return await client.request("GET", "codestream/api/sessions")
        finally:
            await client.aclose()

    assert asyncio.run(ask()) == {"sessions": []}
    assert proxy.requests == [], "the dashboard's Jupyter token went through a proxy from the environment"


def test_the_hub_services_group_lookup_ignores_proxy_variables(proxy, monkeypatch):
    """The service's own API token to the hub: straight to the hub (a loopback stand-in here)."""
    from types import SimpleNamespace

    from jupyter_ext.hub.identity import HubIdentities

    seen: list[tuple[str, str | None]] = []

    class FakeHubAPI(QuietHandler):
        def do_GET(self):
            seen.append((self.path, self.headers.get("Cookie")))
            body = b'{"name": "algebra"}'
            self.send_response(200)
            self.send_header("Set-Cookie", "hub-planted=1; Path=/")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    hub = LoopbackHTTPServer(FakeHubAPI)
    try:
        for name, value in proxy.environment().items():
            monkeypatch.setenv(name, value)
        auth = SimpleNamespace(api_url=f"{hub.url}hub/api", api_token="service-token-0123456789")
        identities = HubIdentities(auth, teach_scope="custom:codestream:teach", timeout=5)
        assert asyncio.run(identities.group_exists("algebra")) is True
        assert asyncio.run(identities.group_exists("algebra")) is True
    finally:
        hub.close()
    assert proxy.requests == []
    assert [path for path, _ in seen] == ["/hub/api/groups/algebra"] * 2
    assert [cookie for _, cookie in seen] == [None, None]
