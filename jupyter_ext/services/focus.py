"""Follow the teacher: the teacher's "Show" sets the session's focused cell."""

from __future__ import annotations

from ..domain import InvalidInput, validate_cell_id
from ..store.focus import set_focus
from .session_service import SessionService


def focus_target(body: dict) -> str | None:
    """``{"cell_id": str | null}`` → the cell id, or ``None`` for no focus."""
    if "cell_id" not in body:
        raise InvalidInput("Send {\"cell_id\": \"<cell id>\"} to show a cell, or {\"cell_id\": null} to show none.")
    raw = body["cell_id"]
    return None if raw is None else validate_cell_id(raw)


async def show_cell(service: SessionService, code: str, body: dict) -> dict:
    """Focus a published cell (or none); every reader gets a ``focus`` event."""
    cell_id = focus_target(body)
    number = (await service.get_cell(code, cell_id)).number if cell_id is not None else None
    store = await service.session_store()
    await set_focus(store.redis, code, cell_id, number, stream_maxlen=store.stream_maxlen)
    return {"cell_id": cell_id, "number": number}
