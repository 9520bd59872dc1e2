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
        clean = {"source": source, "cell_type": cell_type, "position": float(position),
                 "notebook_path": notebook_path, "number": position + 1}
        if cell.outputs is not None:  # published with its output: the saved output goes too
            clean["outputs"] = saved_outputs(saved, cell_type)
        if (source != cell.source or cell_type != cell.cell_type or float(position) != cell.position
                or (cell.number is not None and clean["number"] != cell.number) or clean.get("outputs", cell.outputs) != cell.outputs):
            plan.append((cell.cell_id, clean))
    return plan


def saved_outputs(saved: dict, cell_type: str) -> list:
    """The outputs of a saved notebook cell, as plain JSON (a markdown cell has none)."""
    if cell_type != "code":
        return []
    return [dict(output) for output in saved.get("outputs") or []]
