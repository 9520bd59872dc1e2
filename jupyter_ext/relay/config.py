"""The relay's configuration (``RelayConfig``: the shared options of ``jupyter_ext.config``
plus ``xheaders``) and its command line, generated from those traits (``codestream relay --help``)."""

from __future__ import annotations

import os

from traitlets import Bool

from ..config import (
    KeyLimits,
    ListenOptions,
    LogOptions,
    ProgramApp,
    RedisOptions,
    StreamLimits,
    flag_names,
)
from ..store.connection import parse_redis_url, redis_url_from_env


class RelayConfig(ListenOptions, RedisOptions, StreamLimits, KeyLimits, LogOptions):
    """Everything one relay process is told (``RelayConfig(redis_url=..., port=0)`` in tests)."""

    xheaders = Bool(
        False, config=True,
        help="Trust X-Forwarded-For/X-Real-IP from the load balancer for the client address (rate"
             " limits, presence). Only behind a proxy that sets them. Default: off.")


RELAY_FLAGS = flag_names(
    ListenOptions.port, ListenOptions.address, ListenOptions.base_url, RelayConfig.xheaders,
    StreamLimits.heartbeat_seconds, RedisOptions.event_block_ms, RedisOptions.redis_max_connections,
    RedisOptions.redis_stream_connections, RedisOptions.redis_socket_timeout, KeyLimits.key_failures_per_minute,
    StreamLimits.max_streams, StreamLimits.max_streams_per_session, StreamLimits.max_streams_per_address,
    ListenOptions.drain_seconds, LogOptions.log_format, LogOptions.log_level,
    redis=RedisOptions.redis_url,
)


class RelayApp(ProgramApp):
    name = "codestream relay"
    description = ("Serve Code Stream's read routes (cells, one cell, events) from Redis, without"
                   " Jupyter; run any number of replicas behind a load balancer.")
    options_class = RelayConfig
    options = RELAY_FLAGS


def parse_args(argv: list[str] | None, environ=os.environ) -> RelayConfig:
    """The relay's options from ``argv``; the Redis URL from the environment when not given."""
    app = RelayApp()
    config = app.load(argv)
    config.redis_url = config.redis_url or redis_url_from_env(environ)
    if not config.redis_url:
        app.fail("no Redis configured: pass --redis URL or set CODESTREAM_REDIS_URL"
                 " (a relay never embeds Redis)")
    try:
        parse_redis_url(config.redis_url)
    except ValueError as exc:
        app.fail(f"--redis: {exc}")
    return config
