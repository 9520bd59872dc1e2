"""The hub service's command line and configuration (``codestream hub-service --help``): the
relay's settings plus the hub's own, read from the arguments and the environment the hub gives
the managed service."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..relay import RelayConfig
from ..relay.addresses import parse_networks
from ..relay.config import add_address_cap_argument
from ..store.connection import redis_url_from_env
from ..store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_SESSION
from .config import (
    SERVICE_BIND_ENV,
    SERVICE_DATA_DIR_ENV,
    SERVICE_PUBLIC_HUB_URL_ENV,
    SERVICE_TEACH_SCOPE_ENV,
    SERVICE_TRUSTED_PROXIES_ENV,
    TEACH_SCOPE,
)
from .identity import CACHE_SECONDS


@dataclass
class HubServiceConfig:
    """The relay's settings (``relay``: address, prefix, Redis, limits) plus the hub's own."""

    relay: RelayConfig
    data_dir: str
    hub_base_url: str = "/"
    public_hub_url: str = ""
    teach_scope: str = TEACH_SCOPE
    hub_timeout: float = 5.0
    identity_cache_seconds: int = CACHE_SECONDS
    trusted_proxies: tuple = ()  # addresses whose X-Forwarded-For is believed (relay/addresses.py)
    redis_wait_replicas: int = 0

    @property
    def embedded(self) -> bool:
        return not self.relay.redis_url


def parse_args(argv: list[str] | None, environ=os.environ) -> HubServiceConfig:
    parser = argparse.ArgumentParser(
        prog="codestream hub-service",
        description="The Code Stream JupyterHub service (started by the hub: see"
                    " jupyter_ext.hub.configure_jupyterhub). Reads JUPYTERHUB_SERVICE_URL,"
                    " JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and"
                    " CODESTREAM_REDIS_URL from its environment.")
    parser.add_argument("--heartbeat-seconds", type=float, default=15.0,
                        help="Event-stream heartbeat interval (at most 15). Default: 15.")
    parser.add_argument("--failures-per-minute", type=int, default=20,
                        help="Refused reads (wrong key, unknown code, not allowed) per hub user"
                             " (or per address without one) per minute before 429. Default: 20.")
    parser.add_argument("--hub-timeout", type=float, default=5.0,
                        help="Seconds to wait for the hub to say who a token is. Default: 5.")
    parser.add_argument("--max-streams", type=int, default=DEFAULT_MAX_STREAMS,
                        help="Open event streams this service process serves in all; beyond it a"
                             f" new stream is 503 too_many_streams. Default: {DEFAULT_MAX_STREAMS}.")
    parser.add_argument("--max-streams-per-session", type=int, default=DEFAULT_MAX_STREAMS_PER_SESSION,
                        help="Open event streams one session may have on this service process;"
                             " beyond it a new stream is 503 too_many_streams."
                             f" Default: {DEFAULT_MAX_STREAMS_PER_SESSION}.")
    add_address_cap_argument(parser, "service process")
    parser.add_argument("--identity-cache-seconds", type=int, default=CACHE_SECONDS,
                        help="How long the hub's answer about a token (its user, their groups) is"
                             " believed; a member removed from a session's group is refused and"
                             f" their streams closed within this plus a heartbeat. Default: {CACHE_SECONDS}.")
    parser.add_argument("--trusted-proxies", default=environ.get(SERVICE_TRUSTED_PROXIES_ENV, ""),
                        help="Comma-separated addresses or networks of the hub's proxy: only a"
                             " connection from one of them has its X-Forwarded-For believed as the"
                             " client address (X-Real-Ip never is). Default: none (the connection's"
                             f" own address); {SERVICE_TRUSTED_PROXIES_ENV} sets it.")
    parser.add_argument("--redis-wait-replicas", type=int, default=0,
                        help="Acknowledge a publish only once this many Redis replicas hold it (WAIT;"
                             " set 1 with a replicated Redis: a failover then loses no acknowledged"
                             " publish). Default: 0.")
    parser.add_argument("--log-format", choices=("json", "text"), default="text")
    args = parser.parse_args(argv)
    if args.max_streams < 1 or args.max_streams_per_session < 1 or args.max_streams_per_address < 1:
        parser.error("--max-streams, --max-streams-per-session and --max-streams-per-address must be at least 1")
    if args.identity_cache_seconds < 0:
        parser.error("--identity-cache-seconds must be 0 or more")
    try:
        trusted_proxies = parse_networks(args.trusted_proxies)
    except ValueError as exc:
        parser.error(f"--trusted-proxies: {exc}")
    if not environ.get("JUPYTERHUB_API_TOKEN"):
        parser.error("JUPYTERHUB_API_TOKEN is not set: this service is started by JupyterHub")
    parts = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101")
    bind = urlsplit("//" + environ[SERVICE_BIND_ENV]) if environ.get(SERVICE_BIND_ENV) else parts
    relay = RelayConfig(
        redis_url=redis_url_from_env(environ) or "",
        address=bind.hostname or "127.0.0.1", port=bind.port or 80,
        base_url=_slashed(environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/codestream/"),
        xheaders=False,  # the client address is the connection's, or a trusted proxy's word (addresses.py)
        heartbeat_seconds=min(max(args.heartbeat_seconds, 0.1), 15.0),
        key_failures_per_minute=max(args.failures_per_minute, 1), log_format=args.log_format,
        max_streams=args.max_streams, max_streams_per_session=args.max_streams_per_session,
        max_streams_per_address=args.max_streams_per_address)
    return HubServiceConfig(
        relay=relay,
        data_dir=environ.get(SERVICE_DATA_DIR_ENV) or str(Path.cwd() / "codestream-service"),
        hub_base_url=_slashed(environ.get("JUPYTERHUB_BASE_URL") or "/"),
        public_hub_url=environ.get(SERVICE_PUBLIC_HUB_URL_ENV, ""),
        teach_scope=environ.get(SERVICE_TEACH_SCOPE_ENV) or TEACH_SCOPE,
        hub_timeout=max(args.hub_timeout, 0.1),
        identity_cache_seconds=args.identity_cache_seconds,
        trusted_proxies=trusted_proxies,
        redis_wait_replicas=max(args.redis_wait_replicas, 0),
    )


def _slashed(path: str) -> str:
    inner = path.strip("/")
    return f"/{inner}/" if inner else "/"
