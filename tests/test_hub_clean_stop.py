"""A clean stop under JupyterHub (issue 24 item 4): a hub user's single-user server, with its
forwarded event stream and its teacher dashboard's websocket open through the hub's proxy, is
stopped by the hub (``DELETE /hub/api/users/{name}/server``, which SIGTERMs it). It is gone
within 10 s, the stream ends, and the hub's own pages and API answer at once meanwhile and after.

As tried by a teacher before: the stuck connections of the open dashboard blocked even
``/hub/home`` until the browser tab was closed. The user is the test's own (``stopper``, in the
``teachers`` group only), so the shared hub's other users and servers are untouched.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time

import httpx
import psutil

from jupyter_ext.testing import wait_until
from test_clean_stop import StreamEnd

USER = "stopper"
STOP_SECONDS = 10
PROMPT_SECONDS = 5  # a hub page or API call slower than this counts as blocked


def own_user(hub) -> None:
    """``stopper``: a teacher of no course, made once per hub."""
    with hub.admin() as admin:
        made = admin.post(f"users/{USER}")
        assert made.status_code in (201, 409), made.text
        joined = admin.post("groups/teachers/users", json={"users": [USER]})
        assert joined.status_code == 200, joined.text


def logged_in(hub) -> httpx.Client:
    """A browser's session: logged in through the hub's login form (pages take no token)."""
    client = httpx.Client(base_url=hub.url, timeout=PROMPT_SECONDS * 4, follow_redirects=False)
    client.get("hub/login")
    xsrf = client.cookies.get("_xsrf", "")
    response = client.post("hub/login", data={"username": USER, "password": hub.password, "_xsrf": xsrf})
    assert response.status_code == 302, response.status_code
    home = client.get("hub/home")
    assert home.status_code == 200 and USER in home.text, home.status_code
    return client


class HubPoller:
    """Asks the hub for ``/hub/home`` and its API over and over in a thread, keeping the slowest
    answer and any failure, until stopped."""

    def __init__(self, hub, token: str):
        self.slowest = 0.0
        self.failures: list[str] = []
        self.answers = 0
        self._done = threading.Event()
        self._client = logged_in(hub)
        self._client.headers["Authorization"] = f"token {token}"  # the API calls; pages use the cookie
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            for path in ("hub/home", f"hub/api/users/{USER}", "hub/api/"):
                started = time.monotonic()
                try:
                    status = self._client.get(path).status_code
                    if status != 200:
                        self.failures.append(f"{path}: {status}")
                except httpx.HTTPError as exc:
                    self.failures.append(f"{path}: {exc!r}")
                self.slowest = max(self.slowest, time.monotonic() - started)
                self.answers += 1
            self._done.wait(0.2)

    def stop(self) -> None:
        self._done.set()
        self._thread.join(PROMPT_SECONDS * 12)
        self._client.close()


def hold_dashboard_websocket(hub, token: str, bokeh_token: str):
    """The teacher dashboard's websocket through the hub's proxy, held open in a thread of its
    own; returns (opened event, release event, messages)."""
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    opened, release = threading.Event(), threading.Event()
    messages: list[str] = []

    async def hold():
        connection = await websocket_connect(HTTPRequest(
            f"ws://127.0.0.1:{hub.port}/user/{USER}/codestream-teacher/ws",
            headers={"Authorization": f"token {token}"}), subprotocols=["bokeh", bokeh_token])
        messages.append(await connection.read_message() or "")
        opened.set()
        while not release.is_set():  # read until the server goes (None) or the test is done
            read = asyncio.ensure_future(connection.read_message())
            done, _ = await asyncio.wait({read}, timeout=0.5)
            if done and read.result() is None:
                messages.append("closed")
                return
            if not done:
                read.cancel()
        connection.close()

    def run():
        try:
            asyncio.run(hold())
        except Exception as exc:  # noqa: BLE001 - the test asserts on what it read
            messages.append(repr(exc))
        finally:
            opened.set()

    threading.Thread(target=run, daemon=True).start()
    return opened, release, messages


def test_the_hub_stops_a_server_with_its_stream_and_dashboard_open_and_stays_responsive(cs_hub):
    own_user(cs_hub)
    cs_hub.start_servers(USER)
    token = cs_hub.token_for(USER)
    server = cs_hub.server(USER)
    created = server.post("codestream/api/sessions", json={"title": "Stopping under the hub"})
    assert created.status_code == 201, created.text
    code = created.json()["code"]
    stream = StreamEnd(f"{server.base_url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"token {token}"})
    published = server.put(f"codestream/api/sessions/{code}/cells/a",
                           json={"source": "x = 1", "cell_type": "code", "position": 1})
    assert published.status_code == 200, published.text
    wait_until(lambda: "published" in stream.events or stream.ended.is_set(), 20, what="the forwarded stream")
    assert not stream.ended.is_set(), stream.error

    page = cs_hub.client(f"user/{USER}/", USER, timeout=120).get("codestream-teacher/")
    assert page.status_code == 200, page.status_code  # panel serve, started by jupyter-server-proxy
    bokeh_token = re.search(r'"token"\s*:\s*"([^"]+)"', page.text).group(1)
    opened, release, messages = hold_dashboard_websocket(cs_hub, token, bokeh_token)
    assert opened.wait(60) and messages and "ACK" in messages[0], messages

    pid = cs_hub.user_pids()[USER]
    process = psutil.Process(pid)
    children = process.children(recursive=True)
    assert any("panel" in " ".join(c.cmdline()) for c in children)

    poller = HubPoller(cs_hub, token)
    try:
        wait_until(lambda: poller.answers >= 3, 20, what="the hub answering before the stop")
        started = time.monotonic()
        with cs_hub.admin() as admin:
            response = admin.delete(f"users/{USER}/server")
            assert response.status_code in (202, 204), response.text

            def stopped() -> bool:
                server_model = (admin.get(f"users/{USER}").json().get("servers") or {}).get("")
                return not server_model and not process.is_running()

            wait_until(stopped, STOP_SECONDS + 5, interval=0.1, what="the single-user server stopped")
        took = time.monotonic() - started
        cs_hub._started.discard(USER)  # start_servers starts it again if anyone needs it
        answers_during = poller.answers
        wait_until(lambda: poller.answers >= answers_during + 3, 20, what="the hub answering after the stop")
    finally:
        poller.stop()
        release.set()
    print(f"\nclean stop under the hub: {USER}'s server gone {took:.1f} s after DELETE …/server; "
          f"slowest hub answer meanwhile {poller.slowest:.2f} s ({poller.answers} answers)")
    assert took < STOP_SECONDS, f"the server took {took:.1f} s to stop"
    assert not process.is_running()
    assert poller.failures == [], poller.failures[:5]
    assert poller.slowest < PROMPT_SECONDS, f"a hub answer took {poller.slowest:.1f} s while the server stopped"
    assert stream.ended.wait(5), "the forwarded event stream was still open after the server stopped"
    assert stream.clean, f"the forwarded stream was cut, not ended: {stream.error}"
    _gone, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, f"left running: {[p.cmdline()[:2] for p in alive]}"
    browser = logged_in(cs_hub)  # a fresh login and home page after it all
    try:
        assert browser.get("hub/home").status_code == 200
    finally:
        browser.close()
