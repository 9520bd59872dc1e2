"""The JupyterLab launcher tile: jupyter-server-proxy really starts the teacher dashboard."""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import zlib
from importlib.metadata import entry_points
from pathlib import Path

import psutil
import pytest

from codestream_dash.launcher import teacher_server
from codestream_dash.panel_setup import RedactCredentials
from jupyter_ext.testing import wait_until

PROXY_NAME = "codestream-teacher"
APP_TIMEOUT = 120  # a first request waits for `panel serve` to start (slow on a busy machine)


def test_teacher_entry_point_runs_panel_on_a_unix_socket():
    entries = {ep.name: ep for ep in entry_points(group="jupyter_serverproxy_servers")}
    assert entries[PROXY_NAME].load() is teacher_server
    spec = teacher_server()
    command = spec["command"]
    assert command[1:4] == ["-m", "panel", "serve"] and Path(command[4]).name == "teacher.py"
    assert Path(command[4]).is_file()
    assert command[command.index("--unix-socket") + 1] == "{unix_socket}"
    assert spec["unix_socket"] is True and spec["absolute_url"] is True
    assert not {"--port", "--address"} & set(command)
    assert "Authorization" not in command[command.index("--include-headers"):]
    assert spec["launcher_entry"]["title"] == "Code Stream — Teacher"
    icon = Path(spec["launcher_entry"]["icon_path"])
    assert icon.suffix == ".svg" and icon.read_text().lstrip().startswith("<svg")
    assert callable(spec["environment"])


def test_launcher_lists_the_teacher_tile(cs_teacher):
    client = cs_teacher.client()
    r = client.get("server-proxy/servers-info")
    assert r.status_code == 200, r.text
    entry = next(s for s in r.json()["server_processes"] if s["name"] == PROXY_NAME)
    assert entry["launcher_entry"]["enabled"] is True
    assert entry["launcher_entry"]["title"] == "Code Stream — Teacher"
    assert entry["new_browser_tab"] is False  # opens as a JupyterLab tab
    icon = client.get(entry["launcher_entry"]["icon_url"].lstrip("/"))
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")
    assert cs_teacher.client(auth=False).get("server-proxy/servers-info").status_code in (302, 403)


def session_token_payload(page: str) -> str:
    """What the Bokeh session token embedded in the page carries (headers, cookies, arguments)."""
    token = re.search(r'"token"\s*:\s*"([^"]+)"', page).group(1)
    part = token.split(".")[0]
    payload = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    packed = payload.get("__bk__zlib_")
    if packed:
        return zlib.decompress(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))).decode()
    return json.dumps(payload)


def test_dashboard_is_served_only_through_jupyter_auth(cs_teacher):
    anonymous = cs_teacher.client(auth=False, timeout=APP_TIMEOUT)
    r = anonymous.get(f"{PROXY_NAME}/")
    assert r.status_code in (302, 403) and "Code Stream" not in r.text
    if r.status_code == 302:
        assert "/login" in r.headers["location"]

    # the server's token opens it (the launch hands the app its server's URL and token)
    teacher = cs_teacher.client(timeout=APP_TIMEOUT)
    r = teacher.get(f"{PROXY_NAME}/")
    assert r.status_code == 200, r.text[:500]
    assert "<title>Code Stream — Teacher</title>" in r.text
    carried = session_token_payload(r.text)
    assert cs_teacher.token not in carried and "Authorization" not in carried

    r = cs_teacher.client(auth=False, headers={"Authorization": "token wrong-token-123456"}).get(f"{PROXY_NAME}/")
    assert r.status_code in (302, 403) and "Code Stream" not in r.text


def test_a_token_in_the_dashboard_url_stays_out_of_its_page(cs_teacher):
    """Opened as ``…/codestream-teacher/?token=…`` (Jupyter reads it there): the Bokeh session
    token in the page keeps the dashboard's own arguments and loses the credentials."""
    anonymous = cs_teacher.client(auth=False, timeout=APP_TIMEOUT)
    r = anonymous.get(f"{PROXY_NAME}/", params={"token": cs_teacher.token, "session": "ABCDEF",
                                                "student_key": "kept-out-1234567890"})
    assert r.status_code == 200, r.text[:500]
    carried = session_token_payload(r.text)
    arguments = json.loads(carried)["arguments"]  # Bokeh keeps each value as base64 bytes
    assert set(arguments) == {"session"}, carried
    assert base64.b64decode(arguments["session"][0]["bytes"]) == b"ABCDEF"
    assert cs_teacher.token not in r.text and base64.b64encode(cs_teacher.token.encode()).decode() not in r.text


def dashboard_processes(server) -> list[psutil.Process]:
    children = psutil.Process(server.process.pid).children(recursive=True)
    return [p for p in children if any(PROXY_NAME in arg or arg.endswith("teacher.py") for arg in p.cmdline())]


def test_dashboard_listens_on_no_network_address(cs_teacher):
    assert cs_teacher.client(timeout=APP_TIMEOUT).get(f"{PROXY_NAME}/").status_code == 200
    processes = wait_until(lambda: dashboard_processes(cs_teacher), 30, what="the dashboard process")
    for process in processes:
        for conn in process.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN:
                assert ipaddress.ip_address(conn.laddr.ip).is_loopback, conn
        # it is reachable through its unix socket, which jupyter-server-proxy connects to
    unix = [c for p in processes for c in p.net_connections(kind="unix") if c.laddr]
    assert any("jupyter-server-proxy" in c.laddr or c.laddr.endswith("socket") for c in unix), unix


@pytest.mark.parametrize("message,redacted", [
    ("404 GET /codestream-teacher/static/x.js?token=abcdef123456 (0.0.0.0)",
     "404 GET /codestream-teacher/static/x.js?token=[redacted] (0.0.0.0)"),
    ("GET /codestream-teacher/?theme=dark&key=s3cr3tkey99&x=1", "GET /codestream-teacher/?theme=dark&key=[redacted]&x=1"),
    ("nothing to hide here", "nothing to hide here"),
])
def test_dashboard_log_lines_carry_no_credentials(message, redacted):
    record = logging.LogRecord("tornado.access", logging.WARNING, __file__, 1, "%s", (message,), None)
    assert RedactCredentials().filter(record) is True
    assert record.getMessage() == redacted


@pytest.mark.browser
@pytest.mark.parametrize("role", ["teacher", "student"])
def test_an_app_started_outside_jupyter_says_how_to_open_it(role, cs_page):
    """`panel serve apps/<role>.py` with no Jupyter server to talk to: a page that says what to do."""
    import os
    import subprocess
    import sys

    import httpx

    from jupyter_ext.testing import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESTREAM_", "JUPYTERHUB_"))}
    app = Path(__file__).resolve().parent.parent / "apps" / f"{role}.py"
    process = subprocess.Popen([sys.executable, "-m", "panel", "serve", str(app), "--port", str(port),
                                "--address", "127.0.0.1", "--allow-websocket-origin", f"127.0.0.1:{port}"],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def page():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/{role}", timeout=10)
            except httpx.HTTPError:
                return None

        wait_until(lambda: page() is not None, APP_TIMEOUT, what=f"panel serve apps/{role}.py")
        r = page()
        assert r.status_code == 200
        assert f"<title>Code Stream — {role.capitalize()}</title>" in r.text
        cs_page.goto(f"http://127.0.0.1:{port}/{role}")
        cs_page.get_by_text("Code Stream cannot find its Jupyter server").wait_for(timeout=30_000)
        cs_page.get_by_text(f"panel serve apps/{role}.py").wait_for(timeout=5_000)
    finally:
        process.terminate()
        process.wait(20)
