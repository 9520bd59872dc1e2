"""A clean stop (issue 24 item 4): SIGTERM stops our servers within 10 s with dashboards, event
streams and pulls in flight, and ends the open event streams cleanly (a complete HTTP response,
so a student's server reconnects when the server is back).

Before the fix, the teacher's server with the dashboard (and JupyterLab, whose collaboration
extension keeps AnyIO worker threads) open stayed alive and not answering after SIGTERM:
jupyter-server-proxy's supervisor raised ``SystemExit`` from its signal handler, skipping the
server's own stop, and the interpreter then waited forever for those threads.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time

import httpx
import psutil
from playwright.sync_api import expect

from jupyter_ext.clients.sse import iter_sse_sync
from jupyter_ext.testing import create_session, publish, wait_until, write_notebook
from student_fixtures import configure

STOP_SECONDS = 10
APP_TIMEOUT_MS = 120_000


class StreamEnd:
    """Reads an event stream in a thread; ``clean`` once the server ended it with a complete
    response (the last chunk), ``error`` when it was cut."""

    def __init__(self, url: str, headers: dict):
        self.events: list[str] = []
        self.clean = False
        self.error: str | None = None
        self.opened = threading.Event()
        self.ended = threading.Event()
        threading.Thread(target=self._run, args=(url, headers), daemon=True).start()
        assert self.opened.wait(30), "the event stream did not open"

    def _run(self, url, headers):
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)) as response:
                assert response.status_code == 200, response.status_code
                for event in iter_sse_sync(response.iter_bytes(), lambda _text: self.opened.set()):
                    self.events.append(event.event)
            self.clean = True
        except Exception as exc:  # noqa: BLE001 - what the test reports
            self.error = repr(exc)
        finally:
            self.opened.set()
            self.ended.set()


def stop_and_time(process: psutil.Popen | object, pid: int) -> float:
    """SIGTERM to the server's own process (as a service manager or Ctrl-C would: not its group)."""
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except Exception:  # noqa: BLE001 - the assertion below says it
        pass
    return time.monotonic() - started


def test_the_teacher_server_stops_with_the_dashboard_and_jupyterlab_open(cs_jupyter_server_factory, cs_browser):
    server = cs_jupyter_server_factory("teacher")  # no Redis URL: the embedded redis-server
    teacher = server.client(timeout=APP_TIMEOUT_MS / 1000)
    session = create_session(teacher, title="Stopping")
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "a", "x = 1", 1)
    stream = StreamEnd(f"{server.url}codestream/api/sessions/{code}/events", {"Authorization": f"Bearer {key}"})
    write_notebook(server.root_dir, "lesson.ipynb", [("code", "x = 1")])

    context = cs_browser.new_context()
    try:
        page = context.new_page()
        assert page.goto(f"{server.url}api/status?token={server.token}").status == 200
        page.goto(f"{server.url}codestream-teacher/", timeout=APP_TIMEOUT_MS)  # panel serve, proxied
        # the dashboard resumes this server's own session (made above); it never offers a second one
        expect(page.locator(".cs-session-code")).to_have_text(code, timeout=APP_TIMEOUT_MS)
        expect(page.get_by_role("button", name="Start session")).to_be_hidden()
        lab = context.new_page()
        lab.goto(f"{server.url}lab/tree/lesson.ipynb", timeout=APP_TIMEOUT_MS)
        expect(lab.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
        children = psutil.Process(server.process.pid).children(recursive=True)
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)
        assert any("panel" in " ".join(c.cmdline()) for c in children)

        took = stop_and_time(server.process, server.process.pid)
        assert server.process.poll() is not None, "the teacher's server was still running 10 s after SIGTERM"
        assert took < STOP_SECONDS
        print(f"\nclean stop: the teacher's server (dashboard + JupyterLab open) stopped {took:.1f} s after SIGTERM")
    finally:
        context.close()
    assert stream.ended.wait(5) and stream.clean, f"the student's stream was cut, not ended: {stream.error}"
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {[p.cmdline()[:2] for p in alive]}"
    log = server.log_text()
    assert "received signal 15, stopping" in log  # Jupyter's own stop ran (extensions stopped)

    # back again: the session and its cells are there, the key still opens them
    server.start()
    cells = server.client(auth=False, headers={"Authorization": f"Bearer {key}"}).get(
        f"codestream/api/sessions/{code}/cells")
    assert cells.status_code == 200 and [c["cell_id"] for c in cells.json()["cells"]] == ["a"]


def test_the_student_server_stops_with_its_stream_dashboard_and_pulls_in_flight(
        cs_teacher, cs_jupyter_server_factory):
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect
    import asyncio

    teacher = cs_teacher.client()
    session = create_session(teacher, title="Student stop")
    code, key = session["code"], session["student_key"]
    student = cs_jupyter_server_factory("student")
    client = student.client(timeout=APP_TIMEOUT_MS / 1000)
    configure(client, cs_teacher.url, code, key)
    local = StreamEnd(f"{student.url}codestream/api/student/events", student.auth_headers())
    publish(teacher, code, "a", "x = 1", 1)
    wait_until(lambda: "published" in local.events, 20, what="the student's stream")

    page = client.get("codestream-student/")  # starts the student dashboard behind the proxy
    assert page.status_code == 200
    bokeh_token = re.search(r'"token"\s*:\s*"([^"]+)"', page.text).group(1)

    # The dashboard's websocket, held open in a thread of its own (the module's Chromium keeps an
    # asyncio loop running on this thread).
    websocket_open, release = threading.Event(), threading.Event()
    acks: list[str] = []

    async def hold_websocket():
        connection = await websocket_connect(HTTPRequest(
            f"ws://127.0.0.1:{student.port}/codestream-student/ws", headers=student.auth_headers()),
            subprotocols=["bokeh", bokeh_token])
        acks.append(await connection.read_message() or "")
        websocket_open.set()
        await asyncio.get_running_loop().run_in_executor(None, release.wait, 60)
        connection.close()

    holder = threading.Thread(target=asyncio.run, args=(hold_websocket(),), daemon=True)
    holder.start()
    assert websocket_open.wait(60) and "ACK" in acks[0]
    pulls_done = threading.Event()
    answers: list[int | str] = []

    def pull_again_and_again():
        with httpx.Client(base_url=student.url, headers=student.auth_headers(), timeout=10) as puller:
            while not pulls_done.is_set():
                try:
                    answers.append(puller.post("codestream/api/student/pull",
                                               json={"cell_id": "a", "notebook_path": "pulled.ipynb"}).status_code)
                except httpx.HTTPError as exc:
                    answers.append(type(exc).__name__)
                    return

    write_notebook(student.root_dir, "pulled.ipynb", [("code", "mine = 0")])
    puller = threading.Thread(target=pull_again_and_again, daemon=True)
    puller.start()
    wait_until(lambda: 200 in answers, 30, what=f"a first pull ({answers[:3]})")
    try:
        took = stop_and_time(student.process, student.process.pid)
        assert student.process.poll() is not None, "the student's server was still running 10 s after SIGTERM"
        assert took < STOP_SECONDS
        print(f"\nclean stop: the student's server stopped {took:.1f} s after SIGTERM")
    finally:
        pulls_done.set()
        release.set()
        holder.join(10)
    assert local.ended.wait(5) and local.clean, f"the dashboard's stream was cut, not ended: {local.error}"
    puller.join(15)
    assert set(answers) <= {200, "ConnectError", "RemoteProtocolError", "ReadError"}, answers

    # back again: it reconnects to the teacher by itself and the new cell arrives
    student.start()
    again = StreamEnd(f"{student.url}codestream/api/student/events", student.auth_headers())
    publish(teacher, code, "b", "y = 2", 2)
    wait_until(lambda: "published" in again.events, 30, what="the student's server catching up")
