"""Benchmark-only Jupyter server extension: the baseline "bare authenticated handler".

Not part of the product. ``python -m bench`` loads it into the same teacher server it measures
(``--ServerApp.jpserver_extensions`` with ``bench`` on ``PYTHONPATH``), so the cell-list route
and this handler share the process, the auth, the logging and the Redis.

``GET bench/bare/redis-get`` — Jupyter-authenticated ``APIHandler`` that does exactly one
Redis ``GET`` (of ``bench:bare``) and answers it as JSON: the least any read route can cost.
"""

from __future__ import annotations

import json
import os

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


def _jupyter_server_extension_points():
    return [{"module": "bench.bare_ext"}]


def _load_jupyter_server_extension(serverapp):
    url = os.environ["BENCH_REDIS_URL"]
    redis = Redis.from_url(url, decode_responses=True, socket_timeout=5.0, socket_connect_timeout=3.0)
    route = url_path_join(serverapp.web_app.settings["base_url"], "bench/bare/redis-get")
    serverapp.web_app.add_handlers(".*$", [(route, BareRedisGetHandler, {"redis": redis})])
