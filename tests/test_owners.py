"""Sessions have an owner without a hub (issue 14 item 8): a stable id of the server's user,
kept in its data directory. Two teachers' servers on one Redis each list and change only their
own sessions; the dashboard of one never adopts the other's."""

from __future__ import annotations

import asyncio
import stat
from concurrent.futures import ThreadPoolExecutor

import fakeredis
import pytest

from codestream_dash.teacher import TeacherDashboard
from jupyter_ext.clients import ServerClient
from jupyter_ext.domain import Forbidden
from jupyter_ext.pytest_plugin import create_session, publish
from jupyter_ext.services.owner import load_owner_id
from jupyter_ext.store import SessionStore, keys


# -- the owner id file -------------------------------------------------------------------------
def test_owner_id_is_made_once_private_and_stable(tmp_path):
    path = tmp_path / "data" / "codestream" / "owner-id"
    with ThreadPoolExecutor(8) as pool:  # servers of one user starting at once agree on one id
        ids = set(pool.map(lambda _: load_owner_id(path), range(16)))
    assert len(ids) == 1
    owner = ids.pop()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_owner_id(path) == owner
    assert [p.name for p in path.parent.iterdir()] == ["owner-id"], "no temporary file left"
    path.write_text("\n")  # damaged: a fresh id, not a crash
    assert load_owner_id(path) not in ("", owner)
    assert load_owner_id(tmp_path / "other" / "owner-id") != owner


# -- the store ----------------------------------------------------------------------------------
@pytest.fixture
def store():
    return SessionStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True))


async def test_store_lists_and_claims_by_owner(store):
    mine, _ = await store.create_session("mine", owner="alice")
    theirs, _ = await store.create_session("theirs", owner="bob")
    legacy, _ = await store.create_session("1.x")  # made before owners existed
    assert [s["code"] for s in await store.list_sessions("alice")] == [mine.code]
    assert {s["code"] for s in await store.list_sessions()} == {mine.code, theirs.code, legacy.code}
    assert (await store.claim_session(mine.code, "alice")).owner == "alice"
    with pytest.raises(Forbidden):
        await store.claim_session(theirs.code, "alice")
    # an ownerless session is listed to nobody until someone changes it; of two claims one wins
    results = await asyncio.gather(store.claim_session(legacy.code, "alice"),
                                   store.claim_session(legacy.code, "bob"), return_exceptions=True)
    assert sorted(type(r).__name__ for r in results) == ["Forbidden", "SessionRecord"]
    winner = next(r for r in results if not isinstance(r, Exception)).owner
    assert legacy.code in [s["code"] for s in await store.list_sessions(winner)]
    await store.delete_session(mine.code)
    assert [s["code"] for s in await store.list_sessions("alice")] == ([legacy.code] if winner == "alice" else [])
    assert not await store.redis.zscore(keys.owner_index("alice"), mine.code)


# -- two teachers' servers on one real Redis ----------------------------------------------------
def test_two_teachers_on_one_redis_see_and_change_only_their_own(cs_jupyter_server_factory, cs_redis):
    env = {"CODESTREAM_REDIS_URL": cs_redis.url}
    ada = cs_jupyter_server_factory("ada", env=env)
    bob = cs_jupyter_server_factory("bob", env=env)
    a, b = ada.client(), bob.client()
    session = create_session(a, title="Ada's class")
    code, key = session["code"], session["student_key"]
    publish(a, code, "c1", "x = 1", 0)
    owner_file = ada.data_dir / "codestream" / "owner-id"
    assert stat.S_IMODE(owner_file.stat().st_mode) == 0o600
    assert owner_file.read_text() != (bob.data_dir / "codestream" / "owner-id").read_text()

    assert [s["code"] for s in a.get("codestream/api/sessions").json()["sessions"]] == [code]
    assert b.get("codestream/api/sessions").json() == {"sessions": []}
    for method, path, body in [
        ("DELETE", f"codestream/api/sessions/{code}", None),
        ("POST", f"codestream/api/sessions/{code}/key", None),
        ("PUT", f"codestream/api/sessions/{code}/cells/c1", {"source": "rm -rf", "cell_type": "code", "position": 0}),
        ("PUT", f"codestream/api/sessions/{code}/cells/c2", {"source": "new", "cell_type": "code", "position": 1}),
        ("DELETE", f"codestream/api/sessions/{code}/cells/c1", None),
        ("GET", f"codestream/api/sessions/{code}/cells", None),
        ("GET", f"codestream/api/sessions/{code}/cells/c1", None),
        ("GET", f"codestream/api/sessions/{code}/events", None),
    ]:
        r = b.request(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["error"]["code"] == "forbidden"
    r = b.post(f"code_stream/{code}/push-cell/", json={"cell_id": "c1", "cell_content": "hijack"})
    assert r.status_code == 403 and r.json()["status"] == "error", r.text

    # nothing of Ada's changed; her students' key still works, also read through Bob's server
    cells = a.get(f"codestream/api/sessions/{code}/cells").json()["cells"]
    assert [(c["cell_id"], c["source"], c["version"]) for c in cells] == [("c1", "x = 1", 1)]
    student = bob.client(auth=False, headers={"Authorization": f"Bearer {key}"})
    assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 200
    assert publish(a, code, "c1", "x = 2", 0)["version"] == 2

    # Bob's 1.x push to a code of his own makes a session of his
    r = b.post("code_stream/BXBS22/push-cell/", json={"cell_id": "c1", "cell_content": "y = 1"})
    assert r.status_code == 200, r.text
    assert [s["code"] for s in b.get("codestream/api/sessions").json()["sessions"]] == ["BXBS22"]
    assert [s["code"] for s in a.get("codestream/api/sessions").json()["sessions"]] == [code]

    # Bob's dashboard does not adopt Ada's session (the newest one on this Redis)
    create_session(a, title="Ada's newest")

    async def bobs_dashboard_code():
        dash = TeacherDashboard(ServerClient(bob.url, bob.token), server_url=bob.url)
        try:
            await dash.load()
            await dash.settle()
            return dash.session_code
        finally:
            await dash.close()

    assert asyncio.run(bobs_dashboard_code()) == "BXBS22"

    # the id is stable: after a restart Ada's server still owns her sessions
    ada.restart()
    a = ada.client()
    assert len(a.get("codestream/api/sessions").json()["sessions"]) == 2
    assert a.delete(f"codestream/api/sessions/{code}").status_code == 204
