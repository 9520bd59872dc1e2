"""NotebookPuller on a real file contents manager, without a server: one pull at a time per notebook."""

from __future__ import annotations

import asyncio

import nbformat
from jupyter_server.services.contents.filemanager import AsyncFileContentsManager

from jupyter_ext.domain.notebooks import Position
from jupyter_ext.services.pull import NotebookPuller


async def test_concurrent_pulls_into_one_notebook_keep_every_cell_and_leave_no_lock_behind(tmp_path):
    contents = AsyncFileContentsManager(root_dir=str(tmp_path))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# mine")])
    nbformat.write(notebook, tmp_path / "a.ipynb")
    nbformat.write(notebook, tmp_path / "b.ipynb")
    puller = NotebookPuller(lambda: contents, lambda: {})

    def cell(i: int) -> dict:
        return {"cell_id": f"c{i}", "version": 1, "cell_type": "code", "source": f"x = {i}",
                "position": i, "updated": "2026-11-22T00:00:00Z"}

    pulls = [puller.pull(cell(i), session="ABCDEF", teacher_url="http://127.0.0.1:1/",
                         notebook_path=path, position=Position())
             for i in range(12) for path in ("a.ipynb", "b.ipynb")]
    answers = await asyncio.gather(*pulls)
    assert all(answer["live"] is False for answer in answers)
    for path in ("a.ipynb", "b.ipynb"):
        saved = nbformat.read(tmp_path / path, as_version=4)
        nbformat.validate(saved)
        assert [c.source for c in saved.cells] == ["# mine"] + [f"x = {i}" for i in range(12)]
    assert len(puller._locks) == 0, "a lock outlived the pulls into its notebook"
