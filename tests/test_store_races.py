"""Concurrent teacher writes on a real Redis: the store's WATCH/MULTI keeps cells and events consistent."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from jupyter_ext.domain import CellNotFound
from jupyter_ext.store import SessionStore


def clean(source: str, position: int = 0) -> dict:
    return {"source": source, "cell_type": "code", "position": position, "notebook_path": None}


@pytest.fixture
async def store(cs_redis):
    redis = Redis.from_url(cs_redis.url, decode_responses=True, max_connections=64)
    yield SessionStore(redis)
    await redis.aclose()


async def events_of(store: SessionStore, code: str):
    return [(e.name, e.data["cell_id"], e.data["version"]) for e in await store.events_after(code, "0-0")]


async def test_concurrent_unpublishes_of_one_cell_give_one_event_and_one_not_found(store):
    record, _key = await store.create_session("race")
    code = record.code
    for round_ in range(20):
        cell_id = f"c{round_}"
        await store.publish_cell(code, cell_id, clean("x"))
        results = await asyncio.gather(*(store.unpublish_cell(code, cell_id) for _ in range(4)),
                                       return_exceptions=True)
        assert sum(r is None for r in results) == 1, results
        assert all(isinstance(r, CellNotFound) for r in results if r is not None), results
    unpublished = [e for e in await events_of(store, code) if e[0] == "unpublished"]
    assert unpublished == [("unpublished", f"c{i}", 1) for i in range(20)]


async def test_an_unpublish_racing_updates_reports_the_version_it_removed(store):
    record, _key = await store.create_session("race")
    code = record.code

    async def updates(cell_id: str):
        for i in range(15):
            try:
                await store.publish_cell(code, cell_id, clean(f"{cell_id} {i} {id(asyncio.current_task())}"))
            except Exception as exc:  # noqa: BLE001 - reported by the gather below
                raise AssertionError(f"publish failed: {exc!r}") from exc

    async def unpublish_soon(cell_id: str):
        await asyncio.sleep(0.002)
        await store.unpublish_cell(code, cell_id)

    for round_ in range(8):
        cell_id = f"r{round_}"
        await store.publish_cell(code, cell_id, clean("first"))
        results = await asyncio.gather(*(updates(cell_id) for _ in range(6)), unpublish_soon(cell_id),
                                       return_exceptions=True)
        assert all(r is None for r in results), results

    by_cell: dict[str, list] = {}
    for event in await events_of(store, code):
        by_cell.setdefault(event[1], []).append(event)
    for cell_id, events in by_cell.items():
        version, published = 0, False
        for name, _cell, v in events:
            if name == "unpublished":
                # the version it names is the one the cell had: the newest announced before it
                assert v == version, (cell_id, events)
                published = False
            else:
                # every source differs, so each publish is the next version, also after an
                # unpublish (contract v2 *Versions*: never backwards, never repeated)
                assert name == ("updated" if published else "published"), (cell_id, events)
                assert v == version + 1, (cell_id, events)
                version, published = v, True
