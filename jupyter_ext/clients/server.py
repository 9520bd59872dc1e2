"""Async client of one Jupyter server's REST API, as the dashboards use it.

The dashboards never talk to Redis or to another server: everything goes through their
own Jupyter server (contents API, the contract's teacher and student routes). What leaves
this client is a domain error (``clients/errors.py``), never an ``httpx`` exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from urllib.parse import quote

import httpx

from ..domain import CodeStreamError
from ..domain.errors import error_for
from .credentials import credential_client
from .errors import ExceptionMap, bad_response, map_exceptions, timed_out, unreachable
from .sse import ServerSentEvent, SSETooLarge, iter_sse

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


# What the dashboards catch: every failure of this client is a domain error (``CodeStreamError``
# or one of its types, e.g. ``Unauthorized`` for a 401), with ``status``, ``code`` and ``message``.
APIError = CodeStreamError

# The dashboards' own Jupyter server failing is no contract answer: its codes say "server", so
# a dashboard never words it as the teacher's server failing.
REQUEST_ERRORS: ExceptionMap = {
    httpx.TimeoutException: lambda _exc: timed_out("The Jupyter server did not answer in time.",
                                                   status=504, code="server_timeout"),
    httpx.TransportError: lambda _exc: unreachable(
        "The Jupyter server is not reachable; is it still running?", status=503, code="server_unreachable"),
    json.JSONDecodeError: lambda _exc: bad_response("The Jupyter server did not answer with JSON."),
}
STREAM_ERRORS: ExceptionMap = {
    httpx.TimeoutException: REQUEST_ERRORS[httpx.TimeoutException],
    httpx.TransportError: lambda _exc: unreachable(
        "The connection to your Jupyter server dropped; reconnecting.", status=503, code="server_unreachable"),
    httpx.DecodingError: lambda _exc: bad_response("The Jupyter server sent an unreadable event stream."),
    SSETooLarge: lambda exc: bad_response(f"The Jupyter server sent {exc.what} larger than {exc.limit}"
                                          " bytes in its event stream."),
}


def _error_from(response: httpx.Response) -> CodeStreamError:
    code, message = "http_error", f"The server answered {response.status_code}."
    try:
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code", code), error.get("message", message)
        elif isinstance(body, dict) and body.get("message"):
            message = str(body["message"])
    except ValueError:
        pass
    if response.status_code == 403 and code == "http_error":
        code, message = "forbidden", "The Jupyter server refused the dashboard's token; reopen it from JupyterLab."
    return error_for(response.status_code, str(code), str(message))


def attachment_name(disposition: str, default: str = "lesson.ipynb") -> str:
    """The file name of a ``Content-Disposition: attachment; filename="…"``, made safe to save
    (no path, no hidden file, an ``.ipynb`` name), or ``default``."""
    match = re.search(r'filename="([^"]*)"', disposition or "")
    name = re.sub(r"[^\w .()-]", "_", match.group(1) if match else "")[:120].strip(" .")
    if not name:
        return default
    return name if name.endswith(".ipynb") else f"{name}.ipynb"


class ServerClient:
    """One pooled ``httpx.AsyncClient`` per dashboard session; ``transport`` may be injected in tests."""

    def __init__(self, server_url: str, token: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT):
        base = server_url if server_url.endswith("/") else server_url + "/"
        headers = {"Authorization": f"token {token}"} if token else {}
        # the Jupyter token goes to this server only: no cookie jar, no proxy from the environment
        # (jupyter-server-proxy hands its environment, proxy variables included, to the dashboards)
        self._client = credential_client(base_url=base, headers=headers, timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(self, method: str, path: str, *, json_body=None, params=None):
        """The answer's JSON (None for an empty one); any failure is a domain error."""
        with map_exceptions(REQUEST_ERRORS):
            response = await self._client.request(method, path, json=json_body, params=params)
            if response.status_code >= 400:
                raise _error_from(response)
            if response.status_code == 204 or not response.content:
                return None
            return response.json()

    # -- contents API -------------------------------------------------------------------
    async def list_notebooks(self, path: str = "", depth: int = 3) -> list[str]:
        """Notebook paths under ``path``, breadth first, hidden folders skipped."""
        found, folders = [], [(path, 0)]
        while folders:
            folder, level = folders.pop(0)
            listing = await self.request("GET", f"api/contents/{quote(folder)}", params={"content": 1})
            for item in listing.get("content") or []:
                if item["name"].startswith("."):
                    continue
                if item["type"] == "notebook":
                    found.append(item["path"])
                elif item["type"] == "directory" and level + 1 < depth:
                    folders.append((item["path"], level + 1))
        return sorted(found)

    async def get_notebook(self, path: str) -> dict:
        return await self.request("GET", f"api/contents/{quote(path)}", params={"type": "notebook", "content": 1})

    async def save_notebook(self, path: str, content: dict) -> dict:
        return await self.request("PUT", f"api/contents/{quote(path)}",
                                  json_body={"type": "notebook", "format": "json", "content": content})

    async def open_notebook_paths(self) -> list[str]:
        """Notebooks with a running kernel session in JupyterLab (the ones likely open)."""
        sessions = await self.request("GET", "api/sessions") or []
        return [s["path"] for s in sessions if s.get("type") == "notebook" and s.get("path")]

    # -- teacher routes -------------------------------------------------------------------
    async def create_session(self, title: str = "", notebook_path: str | None = None) -> dict:
        body = {"title": title, **({"notebook_path": notebook_path} if notebook_path else {})}
        return await self.request("POST", "codestream/api/sessions", json_body=body)

    async def list_sessions(self) -> list[dict]:
        return (await self.request("GET", "codestream/api/sessions"))["sessions"]

    async def end_session(self, code: str) -> None:
        await self.request("DELETE", f"codestream/api/sessions/{code}")

    async def rotate_key(self, code: str) -> str:
        return (await self.rotate_key_with_link(code))["student_key"]

    async def rotate_key_with_link(self, code: str) -> dict:
        """``{"student_key", "join_link"}`` of the new key."""
        return await self.request("POST", f"codestream/api/sessions/{code}/key")

    async def publish_cell(self, code: str, cell_id: str, source: str, cell_type: str,
                           position: float, notebook_path: str | None = None, *,
                           number: int | None = None, outputs: list | None = None) -> dict:
        body = {"source": source, "cell_type": cell_type, "position": position}
        if notebook_path:
            body["notebook_path"] = notebook_path
        if number is not None:
            body["number"] = number
        if outputs is not None:
            body["outputs"] = outputs
        return await self.request("PUT", f"codestream/api/sessions/{code}/cells/{quote(cell_id)}", json_body=body)

    async def unpublish_cell(self, code: str, cell_id: str) -> None:
        await self.request("DELETE", f"codestream/api/sessions/{code}/cells/{quote(cell_id)}")

    async def session_cells(self, code: str) -> dict:
        return await self.request("GET", f"codestream/api/sessions/{code}/cells")

    async def show_cell(self, code: str, cell_id: str | None) -> dict:
        """``PUT …/focus``: the cell the class should look at (None: none)."""
        return await self.request("PUT", f"codestream/api/sessions/{code}/focus", json_body={"cell_id": cell_id})

    async def hands(self, code: str) -> list[dict]:
        """The session's hands, open ones first, oldest first (teacher only)."""
        return (await self.hands_listing(code))["hands"]

    async def hands_listing(self, code: str) -> dict:
        """``{"hands": [...], "hands_open": bool}``."""
        return await self.request("GET", f"codestream/api/sessions/{code}/hands")

    async def set_hand_state(self, code: str, hand_id: str, state: str) -> dict:
        return await self.request("PATCH", f"codestream/api/sessions/{code}/hands/{quote(hand_id, safe='')}",
                                  json_body={"state": state})

    async def spotlight_hand(self, code: str, hand_id: str, with_outputs: bool = False) -> dict:
        """The hand's code published as a cell from a student, with no name."""
        return await self.request("POST", f"codestream/api/sessions/{code}/hands/{quote(hand_id, safe='')}/spotlight",
                                  json_body={"with_outputs": bool(with_outputs)})

    async def set_hands_open(self, code: str, hands_open: bool) -> dict | None:
        return await self.request("PATCH", f"codestream/api/sessions/{code}", json_body={"hands_open": hands_open})

    async def lesson_notebook(self, code: str) -> tuple[bytes, str]:
        """``GET …/notebook``: the published cells as one notebook, and its file name."""
        with map_exceptions(REQUEST_ERRORS):
            response = await self._client.get(f"codestream/api/sessions/{code}/notebook")
            if response.status_code >= 400:
                raise _error_from(response)
        return response.content, attachment_name(response.headers.get("content-disposition", ""), f"lesson-{code}.ipynb")

    # -- student routes -------------------------------------------------------------------
    async def student_config(self) -> dict | None:
        try:
            return await self.request("GET", "codestream/api/student/config")
        except APIError as exc:
            if exc.code == "not_configured":
                return None
            raise

    async def save_student_config(self, teacher_url: str, session_code: str,
                                  student_key: str | None = None) -> dict:
        body = {"teacher_url": teacher_url, "session_code": session_code}
        if student_key:
            body["student_key"] = student_key
        return await self.request("PUT", "codestream/api/student/config", json_body=body)

    async def join_with_link(self, join_link: str) -> dict:
        """``PUT student/config {"join_link"}``: URL, code and key from the teacher's one link."""
        return await self.request("PUT", "codestream/api/student/config", json_body={"join_link": join_link})

    async def test_connection(self) -> dict:
        return await self.request("POST", "codestream/api/student/test")

    async def student_cells(self) -> dict:
        return await self.request("GET", "codestream/api/student/cells")

    async def pull(self, cell_id: str, notebook_path: str, position: str = "end", *,
                   with_outputs: bool = False) -> dict:
        body = {"cell_id": cell_id, "notebook_path": notebook_path, "position": position}
        if with_outputs:
            body["with_outputs"] = True
        return await self.request("POST", "codestream/api/student/pull", json_body=body)

    async def save_student_settings(self, settings: dict) -> dict:
        """``PUT student/config`` with the saved teacher plus ``name`` / ``share_run_status``."""
        return await self.request("PUT", "codestream/api/student/config", json_body=settings)

    async def student_cell(self, cell_id: str, version: int | None = None) -> dict:
        """One of the teacher's cells through the student's server (a past ``version`` if given)."""
        params = {"version": str(version)} if version is not None else None
        return await self.request("GET", f"codestream/api/student/cells/{quote(cell_id)}", params=params)

    async def pull_all(self, notebook_path: str, *, with_outputs: bool = False) -> dict:
        body = {"notebook_path": notebook_path, **({"with_outputs": True} if with_outputs else {})}
        return await self.request("POST", "codestream/api/student/pull-all", json_body=body)

    async def merge(self, notebook_path: str, cell_id: str, *, apply: bool = False,
                    resolution: str | None = None) -> dict:
        body = {"notebook_path": notebook_path, "cell_id": cell_id, "apply": apply}
        if resolution is not None:
            body["resolution"] = resolution
        return await self.request("POST", "codestream/api/student/merge", json_body=body)

    async def undo_merge(self, notebook_path: str, cell_id: str, version: int | None = None) -> dict:
        """``POST student/merge/undo``: the copy's text from before the merge (``before_merge``)."""
        body = {"notebook_path": notebook_path, "cell_id": cell_id, **({"version": version} if version else {})}
        return await self.request("POST", "codestream/api/student/merge/undo", json_body=body)

    async def student_notebook(self) -> tuple[bytes, str]:
        """The lesson as ``(ipynb bytes, file name)`` from ``GET student/notebook``."""
        with map_exceptions(REQUEST_ERRORS):
            response = await self._client.get("codestream/api/student/notebook")
            if response.status_code >= 400:
                raise _error_from(response)
        return response.content, attachment_name(response.headers.get("content-disposition", ""))

    async def raise_hand(self, notebook_path: str, *, cell_index: int | None = None, note: str = "",
                         with_outputs: bool = False) -> dict:
        body: dict = {"notebook_path": notebook_path, "with_outputs": with_outputs}
        if cell_index is not None:
            body["cell_index"] = cell_index
        if note:
            body["note"] = note
        return await self.request("POST", "codestream/api/student/hands", json_body=body)

    async def my_hands(self) -> list[dict]:
        return list((await self.request("GET", "codestream/api/student/hands") or {}).get("hands") or [])

    async def lower_hand(self, hand_id: str) -> None:
        await self.request("DELETE", f"codestream/api/student/hands/{quote(hand_id)}")

    # -- event streams --------------------------------------------------------------------
    async def events(self, path: str, last_event_id: str | None = None, *,
                     on_open: Callable[[], None] | None = None,
                     on_comment: Callable[[str], None] | None = None) -> AsyncIterator[ServerSentEvent]:
        """Events of one stream (``codestream/api/student/events`` or a session's); ends when it closes.

        ``on_open`` is called once the stream answered 200 (a connection light needs to know
        before the first event arrives); ``on_comment`` with each comment line's text (the
        student relay's ``TEACHER_UNREACHABLE``/``TEACHER_REACHABLE``, heartbeats)."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        timeout = httpx.Timeout(10.0, read=60.0)  # heartbeats arrive at least every 15 s
        with map_exceptions(STREAM_ERRORS):
            async with self._client.stream("GET", path, headers=headers, timeout=timeout) as response:
                if response.status_code >= 400:
                    await response.aread()
                    raise _error_from(response)
                if on_open is not None:
                    on_open()
                async for event in iter_sse(response.aiter_bytes(), on_comment):
                    yield event
