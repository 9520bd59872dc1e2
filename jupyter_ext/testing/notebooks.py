"""Small notebooks on disk for tests and the bench."""

from __future__ import annotations

from pathlib import Path


def write_notebook(root: Path, path: str, cells: list[tuple[str, str]]) -> Path:
    """Write a small nbformat v4 notebook of ``(cell_type, source)`` cells under ``root``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
              "raw": nbformat.v4.new_raw_cell}
    nb.cells = [makers[kind](source) for kind, source in cells]
    target = Path(root) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return target


def notebook_cells(server, path: str) -> list[dict]:
    """The cells of ``path`` as the server's contents API gives them (``server``: a test server)."""
    r = server.client().get(f"api/contents/{path}", params={"type": "notebook", "content": 1})
    assert r.status_code == 200, r.text
    return r.json()["content"]["cells"]


def source_of(cell: dict) -> str:
    """A contents-API cell's source as one string (it may come as a list of lines)."""
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def saved_sources(server, path: str) -> list[str]:
    """The notebook's cell sources as saved, read through the server's contents API; [] when
    read in the instant something writes it (Jupyter writes a notebook file in place, and a
    collaboration room saves by itself), so a test polls it with ``wait_until``."""
    r = server.client().get(f"api/contents/{path}", params={"type": "notebook", "content": 1})
    if r.status_code == 400 and "Unreadable Notebook" in r.text:
        return []
    assert r.status_code == 200, r.text
    return [source_of(cell) for cell in r.json()["content"]["cells"]]
