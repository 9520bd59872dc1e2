"""Publish on save follows the teacher's explicit save, never an autosave (issue 14 item 7;
issue 21 item 5: no private API for it). JupyterLab's Save (Ctrl+S) saves and then creates a
checkpoint; no autosave does, neither a collaboration room's nor JupyterLab's own.

A live collaborative document on the teacher's real server: a y-websocket client (pycrdt)
joins the notebook's room the way JupyterLab does, types, and saves as JupyterLab does (the
room's ``save`` request, then the checkpoint). Without collaboration: the contents REST API.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import nbformat
from jupyter_server_ydoc.utils import MessageType
from jupyter_ydoc import YNotebook
from pycrdt import Decoder, Doc, Encoder, Provider

from jupyter_ext.pytest_plugin import create_session, wait_until, write_notebook
from jupyter_ext.testing import save_like_jupyterlab, saved_sources
from test_student_collab import WebSocketChannel, eventually, open_room, type_into

PATH = "lessons/live.ipynb"


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


async def test_only_the_teachers_explicit_save_publishes_with_collaboration(cs_jupyter_server_factory, cs_redis):
    cs_teacher = cs_jupyter_server_factory("collab-teacher", env={"CODESTREAM_REDIS_URL": cs_redis.url})
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

            # half-typed code: the room autosaves it to disk
            type_into(notebook, 1, "\nx = 2  # still typing")
            await eventually(lambda: saved_sources(cs_teacher, PATH)[1:] == ["x = 1\nx = 2  # still typing"], 30,
                             what="the room's autosave")
            assert published() == (1, "x = 1"), "the room's autosave published half-typed code"

            # ... and more, autosaved too: had an autosave gone out, each would be a version of its own
            type_into(notebook, 1, "\nx = 3")
            await eventually(lambda: saved_sources(cs_teacher, PATH)[1:] == ["x = 1\nx = 2  # still typing\nx = 3"], 30,
                             what="the room's second autosave")
            # the teacher presses Ctrl+S: the frontend asks the room to save, then creates a checkpoint.
            # (The room answers a save request at once but applies edits from its queue, so a
            # save sent in the same instant as an edit can overtake it: here the edits are in.)
            await connection.write_message(save_request(7), binary=True)
            await eventually(lambda: any(r.get("responseTo") == 7 for r in channel.replies), 20,
                             what="the room's answer to the save request")
            assert [r["status"] for r in channel.replies if r.get("responseTo") == 7] == ["success"]
            assert published()[0] == 1, "the room's save alone (as Save All does) published"
            assert teacher.post(f"api/contents/{PATH}/checkpoints").status_code == 201
            await eventually(lambda: published()[0] == 2, 20, what="the explicit save to publish")
            # version 2 is the saved cell: neither autosave before it went out as a version
            assert published() == (2, "x = 1\nx = 2  # still typing\nx = 3")

            # more typing, autosaved again: still version 2
            type_into(notebook, 1, "\n# draft")
            await eventually(lambda: saved_sources(cs_teacher, PATH)[1:] == ["x = 1\nx = 2  # still typing\nx = 3\n# draft"],
                             30, what="a second autosave")
            assert published()[0] == 2
    finally:
        connection.close()


def test_without_collaboration_the_save_publishes_and_the_autosave_does_not(cs_teacher):
    """No room: JupyterLab without collaboration saves through the contents API, and so does
    its autosave (every two minutes), which creates no checkpoint."""
    path = write_notebook(cs_teacher.root_dir, "lessons/rest.ipynb", [("code", "y = 1")])
    cell_id = nbformat.read(str(path), as_version=4).cells[0].id
    teacher = cs_teacher.client()
    code = create_session(teacher, notebook_path="lessons/rest.ipynb")["code"]
    teacher.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                json={"source": "y = 1", "cell_type": "code", "position": 0, "notebook_path": "lessons/rest.ipynb"})
    model = teacher.get("api/contents/lessons/rest.ipynb", params={"content": 1}).json()

    model["content"]["cells"][0]["source"] = "y = 2  # half-typed"
    save_like_jupyterlab(teacher, "lessons/rest.ipynb", model["content"], checkpoint=False)  # the autosave
    model["content"]["cells"][0]["source"] = "y = 3"
    written = save_like_jupyterlab(teacher, "lessons/rest.ipynb", model["content"])  # Ctrl+S
    assert written.json()["path"] == "lessons/rest.ipynb"

    def cell() -> dict:
        return teacher.get(f"codestream/api/sessions/{code}/cells/{cell_id}").json()

    wait_until(lambda: cell()["version"] == 2, 20, what="the save to publish")
    assert cell()["source"] == "y = 3"  # version 2 is the save; the autosave never went out


def test_the_checkpoint_route_still_answers_as_jupyters_own(cs_teacher):
    """The route that hears the explicit save is Jupyter's checkpoint handler: same answers,
    same login, and nothing published for a file that is not a notebook."""
    write_notebook(cs_teacher.root_dir, "lessons/plain.ipynb", [("code", "z = 1")])
    teacher = cs_teacher.client()
    created = teacher.post("api/contents/lessons/plain.ipynb/checkpoints")
    assert created.status_code == 201, created.text
    checkpoint = created.json()
    assert set(checkpoint) == {"id", "last_modified"}
    assert created.headers["Location"].endswith(f"/api/contents/lessons/plain.ipynb/checkpoints/{checkpoint['id']}")
    listed = teacher.get("api/contents/lessons/plain.ipynb/checkpoints")
    assert listed.status_code == 200 and [c["id"] for c in listed.json()] == [checkpoint["id"]]
    (cs_teacher.root_dir / "notes.txt").write_text("hello")
    assert teacher.post("api/contents/notes.txt/checkpoints").status_code == 201
    anonymous = httpx.post(f"{cs_teacher.url}api/contents/lessons/plain.ipynb/checkpoints", timeout=10)
    assert anonymous.status_code == 403
