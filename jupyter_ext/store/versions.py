"""Past versions of published cells (contract v3 *Past versions*): one hash per session,
``cell_id\\nversion`` -> the cell as it was at that version, the last ``KEEP_VERSIONS`` per cell.

Written in the publish's own transaction (``queue_version``, called by
``SessionStore.publish_cell``), so a version is readable exactly when it is published; the hash
carries the session's ``{CODE}`` tag and goes with the session (``keys.all_session_keys``).
"""

from __future__ import annotations

import json

from redis.asyncio import Redis

from ..domain import Cell, CellNotFound, SessionNotFound
from ..domain.errors import VersionNotFound
from ..domain.history import KEEP_VERSIONS, dropped_version
from . import keys


def version_field(cell_id: str, version: int) -> str:
    return f"{cell_id}\n{version}"


def queue_version(pipe, code: str, cell: Cell) -> None:
    """Keep ``cell`` as its version (an outputs or position change rewrites that same version),
    and drop the version that falls out of the window: bounded per cell, in the caller's MULTI."""
    key = keys.versions_key(code)
    pipe.hset(key, version_field(cell.cell_id, cell.version), json.dumps(cell.to_dict()))
    old = dropped_version(cell.version)
    if old is not None:
        pipe.hdel(key, version_field(cell.cell_id, old))


async def read_version(redis: Redis, code: str, cell_id: str, version: int) -> Cell:
    """``version`` of the published cell ``cell_id``. A cell not published (now) is
    ``CellNotFound`` (a student key reads published cells only); a version not kept (older than
    the last ``KEEP_VERSIONS``, or not made yet) is ``VersionNotFound``."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.hexists(keys.session_key(code), "key_hash")
        pipe.hget(keys.cells_key(code), cell_id)
        pipe.hget(keys.versions_key(code), version_field(cell_id, version))
        exists, current_raw, raw = await pipe.execute()
    if not exists:
        raise SessionNotFound(f"There is no live session {code}; check the code.")
    if current_raw is None:
        raise CellNotFound(f"Cell {cell_id} is not published in session {code}.")
    current = Cell.from_dict(json.loads(current_raw))
    if raw is not None:
        return Cell.from_dict(json.loads(raw))
    if current.version == version:  # published before past versions were kept
        return current
    raise VersionNotFound(
        f"Version {version} of cell {cell_id} is not kept (the last {KEEP_VERSIONS} versions of a cell are;"
        f" it is at version {current.version}).")


__all__ = ["queue_version", "read_version", "version_field"]
