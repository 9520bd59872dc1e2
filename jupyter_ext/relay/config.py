"""The relay's command line and configuration (``codestream relay --help``)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from ..store.connection import parse_redis_url, redis_url_from_env
from ..store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_ADDRESS, DEFAULT_MAX_STREAMS_PER_SESSION


@dataclass
class RelayConfig:
    redis_url: str
    port: int = 8765
    address: str = "127.0.0.1"
    base_url: str = "/"
    xheaders: bool = False
    heartbeat_seconds: float = 15.0
    event_block_ms: int = 10_000
    redis_max_connections: int = 100
    redis_stream_connections: int = 1000
    redis_socket_timeout: float = 5.0
    key_failures_per_minute: int = 20
    max_streams: int = DEFAULT_MAX_STREAMS
    max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION
    max_streams_per_address: int = DEFAULT_MAX_STREAMS_PER_ADDRESS
    drain_seconds: float = 10.0
    log_format: str = "json"
    log_level: str = "INFO"


def add_address_cap_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-streams-per-address``, shared with the hub service."""
    parser.add_argument("--max-streams-per-address", type=int, default=DEFAULT_MAX_STREAMS_PER_ADDRESS,
                        help=f"Open event streams one client may hold on this {what} (a remote address;"
                             " a hub user under the hub); beyond it a new stream is 503"
                             f" too_many_streams. Default: {DEFAULT_MAX_STREAMS_PER_ADDRESS}.")


def parse_args(argv: list[str] | None, environ=os.environ) -> RelayConfig:
    parser = argparse.ArgumentParser(
        prog="codestream relay",
        description="Serve Code Stream's read routes (cells, one cell, events) from Redis, without"
                    " Jupyter; run any number of replicas behind a load balancer.")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free one). Default: 8765.")
    parser.add_argument("--address", default="127.0.0.1",
                        help="Address to bind (0.0.0.0 in a container). Default: 127.0.0.1.")
    parser.add_argument("--redis", dest="redis_url", default=None,
                        help="Redis URL: redis://, rediss://, unix://, redis+cluster://h:p[,h:p],"
                             " redis+sentinel://h:p[,h:p]/service. Default: CODESTREAM_REDIS_URL or"
                             " REDIS_URL.")
    parser.add_argument("--base-url", default="/", help="Path prefix of every route. Default: /.")
    parser.add_argument("--xheaders", action="store_true",
                        help="Trust X-Forwarded-For/X-Real-IP from the load balancer for the client"
                             " address (rate limits, presence). Only behind a proxy that sets them.")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0,
                        help="Event-stream heartbeat interval (at most 15). Default: 15.")
    parser.add_argument("--event-block-ms", type=int, default=10_000,
                        help="How long one XREAD blocks, in ms. Default: 10000.")
    parser.add_argument("--redis-max-connections", type=int, default=100,
                        help="Redis connections for commands (per node in a cluster); a burst"
                             " beyond them waits for a free one. Default: 100.")
    parser.add_argument("--redis-stream-connections", type=int, default=1000,
                        help="Redis connections for blocking XREADs (per node in a cluster): one"
                             " per session with open event streams on this relay. Default: 1000.")
    parser.add_argument("--redis-socket-timeout", type=float, default=5.0,
                        help="Redis command timeout in seconds. Default: 5.")
    parser.add_argument("--key-failures-per-minute", type=int, default=20,
                        help="Wrong student keys per client address and session per minute answered 401; further wrong ones wait and get 429; a right key always passes. Default: 20.")
    parser.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                        help="Open event streams this relay serves in all; beyond it a new stream"
                             f" is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS}.")
    parser.add_argument("--max-streams-per-session", type=int, default=DEFAULT_MAX_STREAMS_PER_SESSION,
                        help="Open event streams one session may have on this relay; beyond it a"
                             f" new stream is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS_PER_SESSION}.")
    add_address_cap_argument(parser, "relay")
    parser.add_argument("--drain-seconds", type=float, default=10.0,
                        help="On SIGTERM, how long to wait for requests in flight. Default: 10.")
    parser.add_argument("--log-format", choices=("json", "text"), default="json",
                        help="Log lines as JSON objects or as text. Default: json.")
    parser.add_argument("--log-level", default="INFO", help="Default: INFO.")
    args = parser.parse_args(argv)
    redis_url = args.redis_url or redis_url_from_env(environ)
    if not redis_url:
        parser.error("no Redis configured: pass --redis URL or set CODESTREAM_REDIS_URL"
                     " (a relay never embeds Redis)")
    try:
        parse_redis_url(redis_url)
    except ValueError as exc:
        parser.error(f"--redis: {exc}")
    if not 0 <= args.port < 65536:
        parser.error("--port must be 0..65535")
    for name in ("heartbeat_seconds", "event_block_ms", "redis_max_connections",
                 "redis_stream_connections", "redis_socket_timeout", "key_failures_per_minute",
                 "max_streams", "max_streams_per_session", "max_streams_per_address"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    base_url = "/" + args.base_url.strip("/") + "/" if args.base_url.strip("/") else "/"
    return RelayConfig(
        redis_url=redis_url, port=args.port, address=args.address, base_url=base_url,
        xheaders=args.xheaders, heartbeat_seconds=min(args.heartbeat_seconds, 15.0),
        event_block_ms=args.event_block_ms, redis_max_connections=args.redis_max_connections,
        redis_stream_connections=args.redis_stream_connections,
        redis_socket_timeout=args.redis_socket_timeout,
        key_failures_per_minute=args.key_failures_per_minute,
        max_streams=args.max_streams, max_streams_per_session=args.max_streams_per_session,
        max_streams_per_address=args.max_streams_per_address,
        drain_seconds=max(args.drain_seconds, 0.0), log_format=args.log_format,
        log_level=args.log_level.upper(),
    )
