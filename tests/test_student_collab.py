"""Pulling into a notebook open in a real-time collaboration room (jupyter-collaboration):
the cell lands in the live shared document, seen by a connected Y client, no reload."""

from __future__ import annotations

import asyncio
import json
import time

import nbformat
from jupyter_ydoc import YNotebook
from pycrdt import Doc, Provider
from student_fixtures import configure
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_ext.testing import create_session, publish, write_notebook


class WebSocketChannel:
    """pycrdt's ``Channel`` over a tornado websocket client connection."""

    def __init__(self, connection, path: str):
        self._connection = connection
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def __aiter__(self):
        return self

    async def __anext__(self) -> bytes:
        message = await self._connection.read_message()
        if message is None:
            raise StopAsyncIteration
        return message

    async def send(self, message: bytes) -> None:
        await self._connection.write_message(message, binary=True)

    async def recv(self) -> bytes:
        return await self.__anext__()


async def eventually(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def type_into(notebook: YNotebook, index: int, text: str) -> None:
    """What typing at the end of a cell in the open tab does to the shared document."""
    source = notebook.ycells[index]["source"]
    source.insert(len(source), text)


async def open_room(server, client, path: str):
    """Open ``path`` the way JupyterLab does: a collaboration session, then the room's
    websocket. Returns the connection and the room id."""
    r = client.put(f"api/collaboration/session/{path}", json={"format": "json", "type": "notebook"})
    assert r.status_code in (200, 201), r.text
    room = r.json()
    room_id = f"{room['format']}:{room['type']}:{room['fileId']}"
    ws_url = (f"ws://127.0.0.1:{server.port}/api/collaboration/room/{room_id}"
              f"?sessionId={room['sessionId']}")
    return await websocket_connect(HTTPRequest(ws_url, headers=server.auth_headers())), room_id


def pulled(cell: dict) -> dict | None:
    return cell.get("metadata", {}).get("codestream")


async def test_pull_into_open_collaborative_notebook(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher)
    code, key = session["code"], session["student_key"]
    publish(teacher, code, "c1", "print('from the teacher')", 1)
    configure(student, cs_teacher.url, code, key)
    path = "live.ipynb"
    write_notebook(cs_student.root_dir, path, [("code", "mine = 1")])

    connection, room_id = await open_room(cs_student, student, path)
    doc = Doc()
    notebook = YNotebook(doc)
    try:
        async with Provider(doc, WebSocketChannel(connection, room_id)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 20)
            await eventually(lambda: notebook.cell_number == 1, what="the notebook in the room")

            # the student types in their open notebook, and pulls right away
            type_into(notebook, 0, "  # typed in the open tab")
            r = await asyncio.to_thread(student.post, "codestream/api/student/pull",
                                        json={"cell_id": "c1", "notebook_path": path})
            assert r.status_code == 200, r.text
            answer = r.json()
            assert answer["live"] is True and answer["index"] == 1 and answer["reload_needed"] is False

            await eventually(lambda: notebook.cell_number == 2, what="the pulled cell in the room")
            cells = notebook.get()["cells"]
            assert cells[0]["source"] == "mine = 1  # typed in the open tab"
            assert cells[1]["source"] == "print('from the teacher')"
            assert pulled(cells[1]) == {"session": code, "cell_id": "c1", "version": 1, "number": 1}
            assert notebook.get()["metadata"]["codestream"] == {"session": code, "teacher_url": cs_teacher.url}

            # the student edits the pulled copy; a newer version goes right after it
            type_into(notebook, 1, "\n# my note")
            publish(teacher, code, "c1", "print('version two')", 1)
            r = await asyncio.to_thread(student.post, "codestream/api/student/pull",
                                        json={"cell_id": "c1", "notebook_path": path})
            assert r.json()["live"] is True and r.json()["index"] == 2
            await eventually(lambda: notebook.cell_number == 3, what="the second version in the room")
            cells = notebook.get()["cells"]
            assert [c["source"] for c in cells] == [
                "mine = 1  # typed in the open tab",
                "print('from the teacher')\n# my note",
                "print('version two')",
            ]
            assert [(pulled(c) or {}).get("version") for c in cells] == [None, 1, 2]

            # the room writes the document to disk itself: every edit is in the saved file
            def saved_sources():
                try:
                    nb = nbformat.read(str(cs_student.root_dir / path), as_version=4)
                except ValueError:  # read while the room was writing it (NotJSONError)
                    return None
                return [c.source for c in nb.cells]

            await eventually(lambda: saved_sources() == [c["source"] for c in cells], 30,
                             what="the room to save the file")
            saved = nbformat.read(str(cs_student.root_dir / path), as_version=4)
            nbformat.validate(saved)
            assert key not in json.dumps(saved)
    finally:
        connection.close()
