"""Benchmark-only Jupyter server extension: the baseline "bare authenticated handler".

Not part of the product. ``python -m bench`` loads it into the same teacher server it measures
(``--ServerApp.jpserver_extensions`` with ``bench`` on ``PYTHONPATH``), so the cell-list route
and this handler share the process, the auth, the logging and the Redis.

``GET bench/bare/redis-get`` — Jupyter-authenticated ``APIHandler`` that does exactly one
Redis ``GET`` (of ``bench:bare``) and answers it as JSON: the least any read route can cost.

``GET bench/gc?collect=1`` — run one full collection now and answer how long it took.

``GET bench/gc`` — the server's garbage-collection pauses (full collections, and any over 5 ms),
so a latency tail can be matched against them, and what the collector tracks: counts by type, and
coroutines, functions and bound methods by name (what each open stream keeps alive).
"""

from __future__ import annotations

import gc
import json
import os
import time

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from redis.asyncio import Redis
from tornado import web

BARE_KEY = "bench:bare"


class BareRedisGetHandler(APIHandler):
    def initialize(self, redis: Redis):
        self.redis = redis

    @web.authenticated
    async def get(self):
        value = await self.redis.get(BARE_KEY)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"value": value}))


class GCPauses:
    """Durations of the server's garbage collections (the bench reports the long ones)."""

    def __init__(self):
        self.pauses: list[tuple[int, float, float]] = []  # (generation, started, seconds)
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif info.get("generation") == 2 or time.perf_counter() - self._started > 0.005:
            self.pauses.append((info.get("generation"), self._started, time.perf_counter() - self._started))


class GCHandler(APIHandler):
    def initialize(self, pauses: GCPauses):
        self.pauses = pauses

    @web.authenticated
    def get(self):
        self.set_header("Content-Type", "application/json")
        if self.get_query_argument("collect", None):
            # one full collection, timed here: the pause every open stream would wait out
            started = time.perf_counter()
            gc.collect()
            self.finish(json.dumps({"full_gc_ms": (time.perf_counter() - started) * 1000,
                                    "objects": len(gc.get_objects())}))
            return
        objects = gc.get_objects()
        by_type: dict[str, int] = {}
        for obj in objects:
            name = type(obj).__qualname__
            by_type[name] = by_type.get(name, 0) + 1
        top = sorted(by_type.items(), key=lambda item: -item[1])[:25]
        # which coroutines, functions and bound methods: the per-stream objects a full collection walks
        by_name: dict[str, int] = {}
        for obj in objects:
            kind = type(obj).__name__
            if kind == "coroutine":
                name = f"coroutine {obj.cr_code.co_qualname}"
            elif kind == "function":
                name = f"function {obj.__qualname__}"
            elif kind == "method":
                name = f"method {getattr(obj, '__qualname__', '?')}"
            else:
                continue
            by_name[name] = by_name.get(name, 0) + 1
        top_named = sorted(by_name.items(), key=lambda item: -item[1])[:40]
        self.finish(json.dumps({"pauses": self.pauses.pauses, "stats": gc.get_stats(),
                                "objects": len(objects), "top_types": top, "top_named": top_named}))


def _jupyter_server_extension_points():
    return [{"module": "bench.bare_ext"}]


def _load_jupyter_server_extension(serverapp):
    url = os.environ["BENCH_REDIS_URL"]
    redis = Redis.from_url(url, decode_responses=True, socket_timeout=5.0, socket_connect_timeout=3.0)
    route = url_path_join(serverapp.web_app.settings["base_url"], "bench/bare/redis-get")
    pauses = GCPauses()
    gc.callbacks.append(pauses)
    gc_route = url_path_join(serverapp.web_app.settings["base_url"], "bench/gc")
    serverapp.web_app.add_handlers(".*$", [(route, BareRedisGetHandler, {"redis": redis}),
                                           (gc_route, GCHandler, {"pauses": pauses})])
