"""Both dashboards' websockets go through Jupyter's auth (issue 14 item 5, GHSA-w3vc-fx9p-wp4v).

The dashboards run ``panel serve --allow-websocket-origin '*'`` behind jupyter-server-proxy and
hold the server's token, so jupyter-server-proxy must refuse an unauthenticated websocket
upgrade itself (4.1.0 did not). Each case holds a *valid* Bokeh session token taken from a page
the teacher opened: only the missing Jupyter auth may stop it. The authenticated upgrade is
the control that the same URL does reach the dashboard (Bokeh's ``ACK``).
"""

from __future__ import annotations

import asyncio
import json
import re
from importlib.metadata import version

import pytest
from packaging.version import Version
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

APP_TIMEOUT = 120  # the first request starts `panel serve`


def test_the_installed_proxy_is_a_fixed_one():
    assert Version(version("jupyter-server-proxy")) >= Version("4.1.1")


async def upgrade(url: str, headers: dict, bokeh_token: str) -> str:
    """``"ACK"`` when the dashboard answered through the websocket, else ``"refused <status>"``."""
    try:
        connection = await asyncio.wait_for(websocket_connect(
            HTTPRequest(url, headers=headers, follow_redirects=False),
            subprotocols=["bokeh", bokeh_token]), 30)
    except HTTPClientError as exc:
        return f"refused {exc.code}"
    try:
        message = await asyncio.wait_for(connection.read_message(), 30)
    finally:
        connection.close()
    if message is None:
        return "closed"
    return json.loads(message).get("msgtype", "?") if message.startswith("{") else "?"


@pytest.mark.parametrize("name", ["codestream-teacher", "codestream-student"])
def test_websocket_upgrades_without_jupyter_auth_are_refused(cs_teacher, name):
    page = cs_teacher.client(timeout=APP_TIMEOUT).get(f"{name}/")
    assert page.status_code == 200, page.text[:300]
    bokeh_token = re.search(r'"token"\s*:\s*"([^"]+)"', page.text).group(1)
    base = f"ws://127.0.0.1:{cs_teacher.port}/{name}/ws"
    cases = {
        "no credentials": (base, {}),
        "a wrong token header": (base, {"Authorization": "token not-the-servers-token-42"}),
        "a wrong ?token=": (base + "?token=not-the-servers-token-42", {}),
        "a foreign origin": (base, {"Origin": "https://evil.example"}),
    }
    for what, (url, headers) in cases.items():
        outcome = asyncio.run(upgrade(url, headers, bokeh_token))
        assert outcome.startswith("refused") and outcome.split()[1] in ("302", "401", "403"), (what, outcome)
    # the control: with the server's token the same upgrade reaches the dashboard
    assert asyncio.run(upgrade(base, cs_teacher.auth_headers(), bokeh_token)) == "ACK"
