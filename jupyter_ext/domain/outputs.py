"""Outputs that travel with a published cell, and a cell's number as people see it (pure).

Outputs are nbformat v4 output objects, checked with nbformat's own schema (a notebook of one
code cell holding them), and capped in size: a teacher's plot must not become a student's
100 MB download.
"""

from __future__ import annotations

import json

import nbformat

from .errors import InvalidInput, PayloadTooLarge

DEFAULT_MAX_OUTPUT_BYTES = 2 * 1024 * 1024
OUTPUT_TYPES = ("stream", "execute_result", "display_data", "error")


def validate_outputs(raw: object, cell_type: str, max_bytes: int = DEFAULT_MAX_OUTPUT_BYTES) -> list[dict] | None:
    """``None`` when the body has no outputs (code only), else the outputs, checked."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidInput("'outputs' must be a list of nbformat v4 output objects.")
    if raw and cell_type != "code":
        raise InvalidInput("Only code cells have outputs; send 'outputs' with a code cell.")
    size = len(json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise PayloadTooLarge(f"The cell's outputs are larger than {max_bytes} bytes; publish the code"
                              " only, or make the output smaller.")
    for output in raw:
        if not isinstance(output, dict) or output.get("output_type") not in OUTPUT_TYPES:
            raise InvalidInput("Each output needs an 'output_type' of 'stream', 'execute_result',"
                               " 'display_data' or 'error'.")
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(source="")
    cell["outputs"] = [nbformat.from_dict(output) for output in raw]
    notebook.cells.append(cell)
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise InvalidInput(f"'outputs' are not valid nbformat v4 outputs: {_short(exc)}") from None
    return [json.loads(json.dumps(output)) for output in raw]


def _short(exc: nbformat.ValidationError) -> str:
    message = str(getattr(exc, "message", "") or exc).splitlines()[0]
    return message[:200]


def validate_number(raw: object) -> int | None:
    """The cell's 1-based place in the teacher's notebook, when the publisher knows it."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 1_000_000:
        raise InvalidInput("'number' must be the cell's 1-based place in the notebook (a whole number).")
    return raw


def numbered(cells: list, number_of) -> list[int]:
    """Each cell's number: its own when known, else its rank among the published cells (the
    cells arrive in position order)."""
    return [number_of(cell) or rank for rank, cell in enumerate(cells, start=1)]
