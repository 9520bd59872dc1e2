"""Many students' event streams in one thread (asyncio + httpx), for the failover tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx


class Classroom:
    """``streams`` students' event streams on an asyncio loop in a thread; each reconnects (to
    the next URL, as a load balancer would send it) with ``Last-Event-ID`` when its stream ends.
    Keeps, per stream, the version of each cell event and when it arrived."""

    def __init__(self, relay_urls: list[str], code: str, key: str, streams: int):
        self.relay_urls = relay_urls
        self.path = f"codestream/api/sessions/{code}/events"
        self.key = key
        self.streams = streams
        self.versions: list[list[tuple[int, float]]] = [[] for _ in range(streams)]  # (version, arrival)
        self.ids: list[list[str]] = [[] for _ in range(streams)]
        self.reconnects = [0] * streams
        self.cut = [0] * streams  # streams that ended without a complete response
        self.connected = [threading.Event() for _ in range(streams)]
        self.stop = threading.Event()
        self._tasks: list[asyncio.Future] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._all(),), daemon=True)
        self.thread.start()

    async def _all(self):
        limits = httpx.Limits(max_connections=self.streams + 10, max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=40), limits=limits) as client:
            self._tasks = [asyncio.ensure_future(self._one(client, i)) for i in range(self.streams)]
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
                self.cut[i] += 1
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
