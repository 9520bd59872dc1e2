"""The hub service's configuration (``HubServiceConfig``: the options it shares with the relay
and the extension, plus the hub's own) and its command line, generated from those traits
(``codestream hub-service --help``). What the hub gives a managed service in its environment
(its URL, prefix, API token; ``CODESTREAM_*`` from ``configure_jupyterhub``) comes first; the
command line overrides it."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from traitlets import Float, Int, TraitError, Unicode, default, validate
from traitlets.config import Config

from ..config import (
    CellSizeLimits,
    KeyLimits,
    ListenOptions,
    LogOptions,
    ProgramApp,
    RedisOptions,
    StreamLimits,
    flag_names,
    not_negative,
    positive,
    section_config,
)
from ..relay.addresses import parse_networks
from ..store.connection import redis_url_from_env
from .config import (
    SERVICE_BIND_ENV,
    SERVICE_DATA_DIR_ENV,
    SERVICE_PUBLIC_HUB_URL_ENV,
    SERVICE_TEACH_SCOPE_ENV,
    SERVICE_TRUSTED_PROXIES_ENV,
    TEACH_SCOPE,
)
from .identity import CACHE_SECONDS

DEFAULT_PREFIX = "/services/codestream/"
DEFAULT_SERVICE_URL = "http://127.0.0.1:10101"


class HubServiceConfig(ListenOptions, RedisOptions, StreamLimits, KeyLimits, CellSizeLimits, LogOptions):
    """The relay's options (address, prefix, Redis, limits) plus the hub's own."""

    xheaders = False  # never: the client address is the connection's, or a trusted proxy's word

    hub_timeout = Float(5.0, config=True, help="Seconds to wait for the hub to say who a token is. Default: 5.")
    identity_cache_seconds = Int(
        CACHE_SECONDS, config=True,
        help="How long the hub's answer about a token (its user, their groups) is believed; a member"
             " removed from a session's group is refused and their streams closed within this plus a"
             f" heartbeat. Default: {CACHE_SECONDS}.")
    trusted_proxies = Unicode(
        "", config=True,
        help="Comma-separated addresses or networks of the hub's proxy: only a connection from one of"
             " them has its X-Forwarded-For believed as the client address (X-Real-Ip never is)."
             f" Default: {SERVICE_TRUSTED_PROXIES_ENV}, else none (the connection's own address).")
    data_dir = Unicode(
        config=True,
        help="Where the embedded redis-server (without a Redis URL) keeps its data. Default:"
             f" {SERVICE_DATA_DIR_ENV}, else codestream-service in the working directory.")
    hub_base_url = Unicode(
        "/", config=True, help="The hub's base URL, for host-relative join links. Default: JUPYTERHUB_BASE_URL, else /.")
    public_hub_url = Unicode(
        "", config=True,
        help=f"The hub's public URL ending in hub/, for join links. Default: {SERVICE_PUBLIC_HUB_URL_ENV},"
             " else none (host-relative links).")
    teach_scope = Unicode(
        TEACH_SCOPE, config=True,
        help=f"The hub scope that lets a user create sessions. Default: {SERVICE_TEACH_SCOPE_ENV}, else {TEACH_SCOPE}.")

    @default("data_dir")
    def _default_data_dir(self):
        return str(Path.cwd() / "codestream-service")

    @default("log_format")
    def _default_log_format(self):
        return "text"  # the hub service's lines go into JupyterHub's own log

    @validate("hub_timeout")
    def _check_hub_timeout(self, proposal):
        return positive(proposal)

    @validate("identity_cache_seconds")
    def _check_cache_seconds(self, proposal):
        return not_negative(proposal)

    @validate("trusted_proxies")
    def _check_trusted_proxies(self, proposal):
        try:
            parse_networks(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"trusted_proxies: {exc}") from None
        return proposal["value"]

    @validate("hub_base_url")
    def _slashed_hub_base_url(self, proposal):
        inner = proposal["value"].strip("/")
        return f"/{inner}/" if inner else "/"

    @property
    def trusted_networks(self) -> tuple:
        """``trusted_proxies`` as networks (relay/addresses.py)."""
        return parse_networks(self.trusted_proxies)

    @property
    def embedded(self) -> bool:
        return not self.redis_url


HUB_SERVICE_FLAGS = flag_names(
    StreamLimits.heartbeat_seconds, HubServiceConfig.hub_timeout, StreamLimits.max_streams,
    StreamLimits.max_streams_per_session, StreamLimits.max_streams_per_address,
    HubServiceConfig.identity_cache_seconds, HubServiceConfig.trusted_proxies, RedisOptions.redis_wait_replicas,
    LogOptions.log_format, LogOptions.log_level,
    failures_per_minute=KeyLimits.key_failures_per_minute,
)


class HubServiceApp(ProgramApp):
    name = "codestream hub-service"
    description = ("The Code Stream JupyterHub service (started by the hub: see"
                   " jupyter_ext.hub.configure_jupyterhub). Reads JUPYTERHUB_SERVICE_URL,"
                   " JUPYTERHUB_SERVICE_PREFIX, JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and"
                   " CODESTREAM_REDIS_URL from its environment.")
    options_class = HubServiceConfig
    options = HUB_SERVICE_FLAGS


def environment_config(environ) -> Config:
    """What the hub (and ``configure_jupyterhub``) put in the service's environment, as config."""
    service_url = urlsplit(environ.get("JUPYTERHUB_SERVICE_URL") or DEFAULT_SERVICE_URL)
    bind = urlsplit("//" + environ[SERVICE_BIND_ENV]) if environ.get(SERVICE_BIND_ENV) else service_url
    values = {
        ListenOptions.address: bind.hostname or "127.0.0.1",
        ListenOptions.port: bind.port or 80,
        ListenOptions.base_url: environ.get("JUPYTERHUB_SERVICE_PREFIX") or DEFAULT_PREFIX,
        HubServiceConfig.hub_base_url: environ.get("JUPYTERHUB_BASE_URL") or "/",
    }
    for trait, name in ((HubServiceConfig.data_dir, SERVICE_DATA_DIR_ENV),
                        (HubServiceConfig.public_hub_url, SERVICE_PUBLIC_HUB_URL_ENV),
                        (HubServiceConfig.teach_scope, SERVICE_TEACH_SCOPE_ENV),
                        (HubServiceConfig.trusted_proxies, SERVICE_TRUSTED_PROXIES_ENV)):
        if environ.get(name):
            values[trait] = environ[name]
    return section_config(values)


def parse_args(argv: list[str] | None, environ=os.environ) -> HubServiceConfig:
    app = HubServiceApp()
    config = app.load(argv, environment_config(environ))
    config.redis_url = config.redis_url or redis_url_from_env(environ) or ""  # "": the embedded one
    if not environ.get("JUPYTERHUB_API_TOKEN"):
        app.fail("JUPYTERHUB_API_TOKEN is not set: this service is started by JupyterHub")
    return config
