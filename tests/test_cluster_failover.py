"""A Redis Cluster master dies mid-lesson (issue 24 item 1).

Six real redis-server nodes (3 masters, 3 replicas, ``cluster-node-timeout`` 2 s), the teacher's
Jupyter server on the cluster with ``redis_wait_replicas = 1`` (a publish is acknowledged once a
replica holds it), two relays, and ``STREAMS`` students' event streams split between the relays.
The teacher publishes every 100 ms, retrying a ``503 store_unavailable`` as the dashboard does;
the master holding the session's slot is killed with SIGKILL. Its replica is promoted, and every
acknowledged publish reaches every stream exactly once, in order; the streams resume within 10 s
of the promotion.
"""

from __future__ import annotations

import os
import time

import httpx
from redis.crc import key_slot

from jupyter_ext.store import keys
from jupyter_ext.testing import create_session, wait_until
from relay_fixtures import RedisClusterProcess
from stream_fixtures import Classroom

STREAMS = int(os.environ.get("CODESTREAM_FAILOVER_STREAMS", "200"))
PUBLISH_EVERY = 0.1
RESUME_SECONDS = 10


def test_a_master_killed_mid_lesson_loses_no_acknowledged_publish(
        tmp_path, cs_jupyter_server_factory, cs_relay_factory):
    cluster = RedisClusterProcess(tmp_path / "cluster", replicas=1, node_timeout_ms=2000).start()
    classroom = None
    try:
        server = cs_jupyter_server_factory("teacher", env={"CODESTREAM_REDIS_URL": cluster.url},
                                           args=["--CodeStreamApp.redis_wait_replicas=1"])
        relays = [cs_relay_factory(cluster.url, args=["--max-streams-per-address", "1000"])  # all from loopback
                  for _ in range(2)]
        teacher = server.client(timeout=30)
        session = create_session(teacher, title="Failover")
        code, key = session["code"], session["student_key"]
        slot = key_slot(keys.session_key(code).encode())
        master = cluster.master_port(slot)

        classroom = Classroom([relay.url for relay in relays], code, key, STREAMS)
        for connected in classroom.connected:
            assert connected.wait(60), "a student's stream never opened"

        acknowledged: list[tuple[int, float]] = []  # (version, when the teacher had the answer)
        refusals: list[str] = []
        killed_at = promoted_at = None
        n = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            n += 1
            body = {"source": f"x = {n}", "cell_type": "code", "position": 1}
            while time.monotonic() < deadline:  # the dashboard's retry: a 503 store_unavailable is sent again
                try:
                    answer = teacher.put(f"codestream/api/sessions/{code}/cells/live", json=body)
                except httpx.TimeoutException:
                    refusals.append("timeout")
                    continue
                if answer.status_code == 200:
                    acknowledged.append((answer.json()["version"], time.monotonic()))
                    break
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"]["code"] == "store_unavailable", answer.text
                refusals.append(answer.json()["error"]["message"])
                time.sleep(0.5)
            time.sleep(PUBLISH_EVERY)
            if killed_at is None and n == 20:
                cluster.kill(master)
                killed_at = time.monotonic()
            elif killed_at is not None and promoted_at is None and cluster.master_port(slot) != master:
                promoted_at = time.monotonic()
            elif promoted_at is not None and time.monotonic() > promoted_at + 5 and n % 10 == 0:
                break
        assert promoted_at is not None, "the replica was never promoted"
        assert cluster.master_port(slot) == cluster.replica_of(master)

        expected = [version for version, _ in acknowledged]
        assert expected == list(range(1, len(expected) + 1)), "versions continue, one per changed source"
        final = expected[-1]
        wait_until(lambda: all(v and v[-1][0] >= final for v in classroom.versions), 60,
                   what="every stream catching up")
        first_after = next(version for version, at in acknowledged if at > promoted_at)
        resumed = []
        for i, received in enumerate(classroom.versions):
            got = [version for version, _ in received]
            assert got == expected, f"stream {i}: lost, repeated or out of order: {sorted(set(expected) - set(got))}"
            assert len(set(classroom.ids[i])) == len(classroom.ids[i])
            resumed.append(next(at for version, at in received if version == first_after) - promoted_at)
        assert max(resumed) <= RESUME_SECONDS, f"streams resumed {max(resumed):.1f} s after the promotion"
        print(f"\ncluster failover: promoted {promoted_at - killed_at:.1f} s after the kill; streams resumed"
              f" within {max(resumed):.1f} s of it; {len(expected)} publishes acknowledged, {len(refusals)}"
              f" answered 503 and retried; {sum(classroom.reconnects)} reconnects of {STREAMS} streams")
    finally:
        if classroom is not None:
            classroom.close()
        cluster.stop()
