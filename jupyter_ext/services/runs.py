"""Run status: how each student's latest run of a published cell ended (teacher-only counts)."""

from __future__ import annotations

from ..domain import InvalidInput, validate_cell_id
from ..domain.talkback import validate_run
from ..store.runs import RunLedger
from .hands import reporting_client
from .session_service import SessionService


async def record_run(service: SessionService, code: str, cell_id: str, reader, body: dict) -> bool:
    """``POST …/cells/{cell_id}/runs``: counted once per client and cell (latest wins), only for
    a client present on an event stream of the session; True when the counts changed."""
    cell_id = validate_cell_id(cell_id)
    if reader.role == "member" and "client" not in body:
        body = {**body, "client": "hub"}  # the hub user is the client; the body's is not needed
    client, version, state, ename = validate_run(body)
    store = await service.session_store()
    cell = await store.get_cell(code, cell_id)  # 404 for a session or cell that does not exist
    if version > cell.version:
        raise InvalidInput(f"Cell {cell_id} has no version {version} yet.")
    ledger = RunLedger(store.redis, stream_maxlen=store.stream_maxlen)
    return await ledger.record(code, cell_id, reporting_client(reader, client), state, ename)


async def run_counts(service: SessionService, code: str) -> dict[str, dict]:
    return await RunLedger((await service.session_store()).redis).counts(code)
