"""What a notebook save means for its published cells (pure)."""

from __future__ import annotations

from .cells import Cell


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def republish_plan(published: list[Cell], notebook_cells: list[dict], notebook_path: str) -> list[tuple[str, dict]]:
    """``(cell_id, clean publish input)`` for every published cell of ``notebook_path`` that the
    saved notebook changed (source, type or position). Cells missing from the notebook stay as
    published: unpublishing is the teacher's explicit choice."""
    index = {cell.get("id"): (i, cell) for i, cell in enumerate(notebook_cells) if cell.get("id")}
    plan = []
    for cell in published:
        if cell.notebook_path != notebook_path or cell.cell_id not in index:
            continue
        position, saved = index[cell.cell_id]
        source, cell_type = _source(saved), saved.get("cell_type", "code")
        if source != cell.source or cell_type != cell.cell_type or float(position) != cell.position:
            plan.append((cell.cell_id, {"source": source, "cell_type": cell_type,
                                        "position": float(position), "notebook_path": notebook_path}))
    return plan
