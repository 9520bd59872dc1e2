"""Publish on save with real-time collaboration (issue 14 item 7): the teacher's explicit save
(the frontend's ``save`` request to the room: Ctrl+S, the save command) publishes; the room's
own autosave of the changing document never does. A save through the contents API still does.

A live collaborative document on the teacher's real server: a y-websocket client (pycrdt)
joins the notebook's room the way JupyterLab does, types, and sends the save request.
"""

from __future__ import annotations

import asyncio
import json

import nbformat
from jupyter_server_ydoc.utils import MessageType
from jupyter_ydoc import YNotebook
from pycrdt import Decoder, Doc, Encoder, Provider

from jupyter_ext.pytest_plugin import create_session, wait_until, write_notebook
from test_student_collab import WebSocketChannel, eventually, open_room, type_into

PATH = "lessons/live.ipynb"
AUTOSAVE_SKIPPED = f"{PATH} autosaved by its collaboration room: not published"


class RecordingChannel(WebSocketChannel):
    """Also keeps the room's RAW replies (the save answers), which the Y provider ignores."""

    def __init__(self, connection, path):
        super().__init__(connection, path)
        self.replies: list[dict] = []

    async def __anext__(self) -> bytes:
        message = await super().__anext__()
        if message and message[0] == MessageType.RAW:
            decoder = Decoder(message)
            decoder.read_var_uint()
            self.replies.append(json.loads(decoder.read_var_string()))
        return message


def save_request(request_id: int) -> bytes:
    """What JupyterLab sends to the room on Ctrl+S (@jupyter/docprovider ``requestSave``)."""
    encoder = Encoder()
    encoder.write_var_uint(MessageType.RAW)
    encoder.write_var_string("save")
    encoder.write_var_uint(request_id)
    return encoder.to_bytes()


def saved_sources(server) -> list[str]:
    """The cells' sources in the file on disk ([] while the room is in the middle of writing it)."""
    try:
        return [c.source for c in nbformat.read(str(server.root_dir / PATH), as_version=4).cells]
    except ValueError:  # NotJSONError: read while the room was writing it
        return []


async def test_only_the_teachers_explicit_save_publishes_with_collaboration(cs_jupyter_server_factory, cs_redis):
    # DEBUG: the listener logs each autosave it leaves alone, which the test waits for
    cs_teacher = cs_jupyter_server_factory("collab-teacher", env={"CODESTREAM_REDIS_URL": cs_redis.url},
                                           args=["--CodeStreamApp.log_level=DEBUG"])
    write_notebook(cs_teacher.root_dir, PATH, [("markdown", "# Live"), ("code", "x = 1")])
    cell_id = nbformat.read(str(cs_teacher.root_dir / PATH), as_version=4).cells[1].id
    teacher = cs_teacher.client()
    session = create_session(teacher, notebook_path=PATH)
    code = session["code"]
    r = teacher.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                    json={"source": "x = 1", "cell_type": "code", "position": 1, "notebook_path": PATH})
    assert r.json()["version"] == 1

    def published() -> tuple[int, str]:
        cell = teacher.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json()
        return cell["version"], cell["source"]

    connection, room_id = await open_room(cs_teacher, teacher, PATH)
    doc = Doc()
    notebook = YNotebook(doc)
    channel = RecordingChannel(connection, room_id)
    try:
        async with Provider(doc, channel) as provider:
            await asyncio.wait_for(provider.synced.wait(), 20)
            await eventually(lambda: notebook.cell_number == 2, what="the notebook in the room")

            # half-typed code: the room autosaves it to disk, and nothing reaches students
            type_into(notebook, 1, "\nx = 2  # still typing")
            await eventually(lambda: saved_sources(cs_teacher)[1:] == ["x = 1\nx = 2  # still typing"], 30,
                             what="the room's autosave")
            await eventually(lambda: AUTOSAVE_SKIPPED in cs_teacher.log_text() or published()[0] != 1, 20,
                             what="publish on save to see the autosave")
            assert published() == (1, "x = 1"), "the room's autosave published half-typed code"

            # the teacher presses Ctrl+S: the frontend's save request to the room publishes.
            # (The room answers a save request at once but applies edits from its queue, so a
            # save sent in the same instant as an edit can overtake it: here the edit is in.)
            await connection.write_message(save_request(7), binary=True)
            await eventually(lambda: any(r.get("responseTo") == 7 for r in channel.replies), 20,
                             what="the room's answer to the save request")
            assert [r["status"] for r in channel.replies if r.get("responseTo") == 7] == ["success"]
            await eventually(lambda: published()[0] == 2, 20, what="the explicit save to publish")
            assert published() == (2, "x = 1\nx = 2  # still typing")
            autosaves = cs_teacher.log_text().count(AUTOSAVE_SKIPPED)

            # more typing, autosaved again: still version 2
            type_into(notebook, 1, "\n# draft")
            await eventually(lambda: cs_teacher.log_text().count(AUTOSAVE_SKIPPED) > autosaves, 30,
                             what="a second autosave")
            assert published()[0] == 2
    finally:
        connection.close()


def test_a_contents_api_save_still_publishes_next_to_collaboration(cs_teacher):
    """No room: JupyterLab without collaboration, or any REST client, saving the file."""
    path = write_notebook(cs_teacher.root_dir, "lessons/rest.ipynb", [("code", "y = 1")])
    cell_id = nbformat.read(str(path), as_version=4).cells[0].id
    teacher = cs_teacher.client()
    code = create_session(teacher, notebook_path="lessons/rest.ipynb")["code"]
    teacher.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                json={"source": "y = 1", "cell_type": "code", "position": 0, "notebook_path": "lessons/rest.ipynb"})
    model = teacher.get("api/contents/lessons/rest.ipynb", params={"content": 1}).json()
    model["content"]["cells"][0]["source"] = "y = 2"
    r = teacher.put("api/contents/lessons/rest.ipynb", json={"type": "notebook", "format": "json",
                                                              "content": model["content"]})
    assert r.status_code == 200, r.text
    wait_until(lambda: teacher.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json()["version"] == 2,
               20, what="the REST save to publish")
