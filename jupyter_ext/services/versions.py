"""Past versions of a cell, for the read routes' ``?version=N`` (contract v3 *Past versions*)."""

from __future__ import annotations

from ..domain import Cell
from ..store.stream import translate_redis_errors
from ..store.versions import read_version
from .session_service import SessionService


async def cell_version(service: SessionService, code: str, cell_id: str, version: int) -> Cell:
    """``version`` of a published cell, numbered as the cell is now when it was published without
    a number (its rank among the published cells)."""
    store = await service.session_store()
    cell = await translate_redis_errors(read_version)(store.redis, code, cell_id, version)
    if cell.number is None:
        cell.number = (await service.get_cell(code, cell_id)).number
    return cell
