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
