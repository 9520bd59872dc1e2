"""jupyter-server-proxy entries: the launcher tiles that start the two dashboards.

``panel serve`` listens on a unix socket that only the Jupyter server reaches, so every
page and websocket goes through Jupyter's own auth. The app is handed its server's URL
and a token through its environment, computed inside the Jupyter process at launch.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def app_file(name: str) -> str:
    """``apps/<name>.py``: shipped inside the wheel, or at the repo top in a dev install."""
    for candidate in (HERE / "apps" / f"{name}.py", HERE.parent / "apps" / f"{name}.py"):
        if candidate.is_file():
            return str(candidate)
    raise FileNotFoundError(f"Code Stream app {name!r} is not installed")


def server_environment() -> dict[str, str]:
    """URL and token of the Jupyter server that launches the app (JupyterHub's when under a Hub)."""
    env = {}
    if os.environ.get("JUPYTERHUB_API_TOKEN") and os.environ.get("JUPYTERHUB_SERVICE_URL"):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        url = os.environ["JUPYTERHUB_SERVICE_URL"].rstrip("/") + "/"
        # JupyterHub >= 4 gives the bind URL with the server's prefix already in it
        env["CODESTREAM_SERVER_URL"] = url if url.endswith(prefix) else url.rstrip("/") + prefix
        env["CODESTREAM_TOKEN"] = os.environ["JUPYTERHUB_API_TOKEN"]
        return env
    from jupyter_server.serverapp import ServerApp

    app = ServerApp.instance()
    env["CODESTREAM_SERVER_URL"] = app.connection_url
    token = app.identity_provider.token
    if token:
        env["CODESTREAM_TOKEN"] = token
    return env


FRAME_ANCESTORS = "frame-ancestors 'self'"


def frame_only_on_own_origin(response) -> None:
    """jupyter-server-proxy's ``rewrite_response``: the dashboards' answers may be framed only by
    their own origin (JupyterLab's tab), never by another site's page. The proxy drops Jupyter's
    own default headers (its CSP included), so they are set here on the way out."""
    policy = response.headers.get("Content-Security-Policy", "")
    if "frame-ancestors" not in policy:
        response.headers["Content-Security-Policy"] = f"{policy}; {FRAME_ANCESTORS}" if policy else FRAME_ANCESTORS
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # for browsers without CSP level 2


def _dashboard(name: str, title: str) -> dict:
    proxy_name = f"codestream-{name}"
    return {
        "command": [
            sys.executable, "-m", "panel", "serve", app_file(name),
            "--unix-socket", "{unix_socket}",
            "--prefix", "{base_url}" + proxy_name,
            "--allow-websocket-origin", "*",
            "--index", name,  # the app itself at the proxy root, which the launcher tile opens
            # the Bokeh session token in the page echoes request headers and cookies: keep
            # Jupyter's credentials (Authorization, its login cookie) out of it
            "--include-headers", "Host", "User-Agent", "Accept-Language",
            "--include-cookies", "codestream-none",
            # keeps ?token=... out of the Bokeh session token, and redacts it from the log lines
            "--auth-module", str(HERE / "page_auth.py"),
            "--setup", str(HERE / "panel_setup.py"),
            "--log-level", "info",
        ],
        "unix_socket": True,
        "absolute_url": True,
        "timeout": 60,
        "environment": server_environment,
        "rewrite_response": frame_only_on_own_origin,
        "new_browser_tab": False,
        "launcher_entry": {
            "enabled": True,
            "title": title,
            "icon_path": str(HERE / "icons" / f"{name}.svg"),
            # JupyterLab's launcher draws an entry's icon_url (an <img>) only in the kernel
            # sections, "Notebook" and "Console"; in any other category it asks the command for a
            # LabIcon, which jupyter-server-proxy does not give, and the tile stays blank.
            "category": "Notebook",
        },
    }


def teacher_server() -> dict:
    return _dashboard("teacher", "Code Stream — Teacher")


def student_server() -> dict:
    return _dashboard("student", "Code Stream — Student")
