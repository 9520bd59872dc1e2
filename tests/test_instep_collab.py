"""Pull-all and merge into a notebook open in a real-time collaboration room: the cells and the
merged source land in the live shared document (seen by a connected Y client, no reload)."""

from __future__ import annotations

import asyncio

from jupyter_ydoc import YNotebook
from pycrdt import Doc, Provider
from student_fixtures import configure
from test_student_collab import WebSocketChannel, eventually, open_room, pulled, type_into

from jupyter_ext.testing import create_session, publish, write_notebook


async def post(client, path, body):
    return await asyncio.to_thread(client.post, path, json=body)


def saved_source(student, path: str, index: int) -> str:
    """A cell as the student's server has it: the room saves what reached it (the test's own
    document may be ahead of the server's room until its update arrives)."""
    answer = student.get(f"api/contents/{path}")
    if answer.status_code != 200:  # the room is writing the file right now: ask again
        return ""
    cells = answer.json()["content"]["cells"]
    return cells[index]["source"] if index < len(cells) else ""  # not saved that far yet


async def test_pull_all_and_merge_into_an_open_collaborative_notebook(cs_teacher, cs_student):
    teacher, student = cs_teacher.client(), cs_student.client()
    session = create_session(teacher, title="Live")
    code, key = session["code"], session["student_key"]
    for i in range(3):
        publish(teacher, code, f"c{i}", f"step = {i}\n", float(i))
    configure(student, cs_teacher.url, code, key)
    path = "live-all.ipynb"
    write_notebook(cs_student.root_dir, path, [("code", "mine = 1")])

    connection, room_id = await open_room(cs_student, student, path)
    doc = Doc()
    notebook = YNotebook(doc)
    try:
        async with Provider(doc, WebSocketChannel(connection, room_id)) as provider:
            await asyncio.wait_for(provider.synced.wait(), 20)
            await eventually(lambda: notebook.cell_number == 1, what="the notebook in the room")

            first = await post(student, "codestream/api/student/pull-all", {"notebook_path": path})
            assert first.status_code == 200, first.text
            assert first.json()["live"] is True and first.json()["added"] == 3
            await eventually(lambda: notebook.cell_number == 4, what="the pulled cells in the room")
            cells = notebook.get()["cells"]
            assert [c["source"] for c in cells] == ["mine = 1", "step = 0\n", "step = 1\n", "step = 2\n"]
            assert [pulled(c)["cell_id"] for c in cells[1:]] == ["c0", "c1", "c2"]
            again = await post(student, "codestream/api/student/pull-all", {"notebook_path": path})
            assert again.json()["added"] == 0 and again.json()["skipped"] == 3
            await asyncio.sleep(0.5)  # nothing else arrives in the room
            assert notebook.cell_number == 4

            # the student edits a pulled cell in the open tab; the teacher changes another line
            type_into(notebook, 2, "# my note\n")
            await eventually(lambda: "my note" in saved_source(student, path, 2), what="the edit in the server's room")
            publish(teacher, code, "c1", "# teacher's header\nstep = 1\n", 1.0)
            answer = await post(student, "codestream/api/student/merge",
                                {"notebook_path": path, "cell_id": "c1", "apply": True})
            assert answer.status_code == 200, answer.text
            merged = answer.json()
            assert merged["clean"] is True and merged["applied"] is True and merged["live"] is True
            assert merged["mine"] == "step = 1\n# my note\n"
            assert merged["merged"] == "# teacher's header\nstep = 1\n# my note\n"
            await eventually(lambda: str(notebook.ycells[2]["source"]) == merged["merged"],
                             what="the merge in the room")
            meta = pulled(notebook.get()["cells"][2])
            assert meta["version"] == 2 and meta["before_merge"] == "step = 1\n# my note\n"
            assert notebook.cell_number == 4

            # a conflict: nothing changes without a resolution
            type_into(notebook, 3, "more = 1\n")
            publish(teacher, code, "c2", "step = 2\nmore = 2\n", 2.0)
            await eventually(lambda: "more = 1" in saved_source(student, path, 3), what="the edit in the server's room")
            refused = await post(student, "codestream/api/student/merge",
                                 {"notebook_path": path, "cell_id": "c2", "apply": True})
            assert refused.status_code == 409 and refused.json()["error"]["code"] == "merge_conflict"
            await asyncio.sleep(0.5)
            assert str(notebook.ycells[3]["source"]) == "step = 2\nmore = 1\n"
    finally:
        connection.close()
