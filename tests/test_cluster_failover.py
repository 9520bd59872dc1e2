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

import asyncio
import json
import os
import threading
import time

import httpx
from redis.crc import key_slot

from jupyter_ext.store import keys
from jupyter_ext.testing import create_session, wait_until
from relay_fixtures import RedisClusterProcess

STREAMS = int(os.environ.get("CODESTREAM_FAILOVER_STREAMS", "200"))
PUBLISH_EVERY = 0.1
RESUME_SECONDS = 10


class Classroom:
    """``STREAMS`` event streams on an asyncio loop in a thread; each reconnects (to the other
    relay, as a load balancer would send it) with ``Last-Event-ID`` when its stream ends."""

    def __init__(self, relay_urls: list[str], code: str, key: str):
        self.relay_urls = relay_urls
        self.path = f"codestream/api/sessions/{code}/events"
        self.key = key
        self.versions: list[list[tuple[int, float]]] = [[] for _ in range(STREAMS)]  # (version, arrival)
        self.ids: list[list[str]] = [[] for _ in range(STREAMS)]
        self.reconnects = [0] * STREAMS
        self.connected = [threading.Event() for _ in range(STREAMS)]
        self.stop = threading.Event()
        self._tasks: list[asyncio.Future] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._all(),), daemon=True)
        self.thread.start()

    async def _all(self):
        limits = httpx.Limits(max_connections=STREAMS + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=40), limits=limits) as client:
            self._tasks = [asyncio.ensure_future(self._one(client, i)) for i in range(STREAMS)]
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _one(self, client: httpx.AsyncClient, i: int):
        turn = i
        while not self.stop.is_set():
            url = self.relay_urls[turn % len(self.relay_urls)] + self.path
            headers = {"Authorization": f"Bearer {self.key}", "X-CodeStream-Client": f"s{i}"}
            if self.ids[i]:
                headers["Last-Event-ID"] = self.ids[i][-1]
            try:
                async with client.stream("GET", url, headers=headers) as response:
                    if response.status_code != 200:
                        raise httpx.HTTPError(f"status {response.status_code}")
                    self.connected[i].set()
                    await self._read(response, i)
            except httpx.HTTPError:
                pass
            if self.stop.is_set():
                return
            self.reconnects[i] += 1
            turn += 1
            await asyncio.sleep(0.2)

    async def _read(self, response: httpx.Response, i: int):
        event_id = name = None
        async for line in response.aiter_lines():
            if self.stop.is_set():
                return
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: ") and name in ("published", "updated"):
                data = json.loads(line[6:])
                self.versions[i].append((data["version"], time.monotonic()))
                self.ids[i].append(event_id)
            elif not line:
                event_id = name = None

    def close(self):
        self.stop.set()
        self.loop.call_soon_threadsafe(lambda: [task.cancel() for task in self._tasks])
        self.thread.join(60)
        self.loop.close()


def test_a_master_killed_mid_lesson_loses_no_acknowledged_publish(
        tmp_path, cs_jupyter_server_factory, cs_relay_factory):
    cluster = RedisClusterProcess(tmp_path / "cluster", replicas=1, node_timeout_ms=2000).start()
    classroom = None
    try:
        server = cs_jupyter_server_factory("teacher", env={"CODESTREAM_REDIS_URL": cluster.url},
                                           args=["--CodeStreamApp.redis_wait_replicas=1"])
        relays = [cs_relay_factory(cluster.url), cs_relay_factory(cluster.url)]
        teacher = server.client(timeout=30)
        session = create_session(teacher, title="Failover")
        code, key = session["code"], session["student_key"]
        slot = key_slot(keys.session_key(code).encode())
        master = cluster.master_port(slot)

        classroom = Classroom([relay.url for relay in relays], code, key)
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
