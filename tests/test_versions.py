"""Contract v2 *Versions*: a cell id's version never goes backwards or repeats within a session,
also across an unpublish (issue 14 item 6)."""

from __future__ import annotations

import json

import fakeredis
import pytest

from jupyter_ext.domain.cells import Cell, republished_version, retired_record
from jupyter_ext.pytest_plugin import SSEReader, create_session, publish
from jupyter_ext.store import SessionStore, keys


def clean(source, position=0.0, cell_type="code"):
    return {"source": source, "cell_type": cell_type, "position": position, "notebook_path": None}


def test_republished_version_rule():
    last = retired_record(Cell("a", "code", "x = 2", 0.0, version=2))
    assert republished_version(None, "x = 1", "code") == 1
    assert republished_version(last, "x = 2", "code") == 2  # same source as the last version
    assert republished_version(last, "x = 3", "code") == 3  # changed
    assert republished_version(last, "x = 2", "markdown") == 3  # a changed type is a change too
    assert republished_version({"version": "junk"}, "x", "code") == 1


@pytest.fixture
def store():
    return SessionStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True))


async def test_unpublish_then_publish_continues_versions(store):
    record, _ = await store.create_session()
    code = record.code
    assert (await store.publish_cell(code, "a", clean("x = 1"))).version == 1
    assert (await store.publish_cell(code, "a", clean("x = 2"))).version == 2
    await store.unpublish_cell(code, "a")
    assert (await store.publish_cell(code, "a", clean("x = 2"))).version == 2, "same source: same number"
    await store.unpublish_cell(code, "a")
    assert (await store.publish_cell(code, "a", clean("x = 3"))).version == 3, "changed: the next one"
    assert (await store.publish_cell(code, "a", clean("x = 3"))).version == 3
    events = [(e.name, e.data["version"]) for e in await store.events_after(code, "0-0")]
    assert events == [("published", 1), ("updated", 2), ("unpublished", 2), ("published", 2),
                      ("unpublished", 2), ("published", 3)]


async def test_ending_a_session_forgets_retired_versions(store):
    record, _ = await store.create_session()
    await store.publish_cell(record.code, "a", clean("x"))
    await store.unpublish_cell(record.code, "a")
    assert await store.redis.exists(keys.retired_key(record.code))
    await store.delete_session(record.code)
    assert not await store.redis.exists(*keys.all_session_keys(record.code))


def test_republish_over_http_continues_versions_for_students(cs_teacher):
    """The issue's story on a real server and Redis: publish, update, unpublish, publish again."""
    teacher = cs_teacher.client()
    session = create_session(teacher, title="versions")
    code, key = session["code"], session["student_key"]
    reader = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"Bearer {key}"})
    try:
        assert publish(teacher, code, "c1", "print(1)", 0)["version"] == 1
        assert publish(teacher, code, "c1", "print(2)", 0)["version"] == 2
        assert teacher.delete(f"codestream/api/sessions/{code}/cells/c1").status_code == 204
        assert publish(teacher, code, "c1", "print(2)\nprint('new line')", 0)["version"] == 3
        student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
        cell = student.get(f"codestream/api/sessions/{code}/cells/c1").json()
        assert cell["version"] == 3
        events = reader.wait_for(4)
        assert [(e["event"], json.loads(e["data"])["version"]) for e in events] == [
            ("published", 1), ("updated", 2), ("unpublished", 2), ("published", 3)]
    finally:
        reader.close()
