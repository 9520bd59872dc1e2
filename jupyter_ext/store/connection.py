"""Where Redis comes from, and the two clients the extension (or a relay) keeps.

``CODESTREAM_REDIS_URL``, then ``REDIS_URL``, then the 1.x ``REDIS_HOST``/``REDIS_PORT``/
``REDIS_DB``; else ``None`` (the teacher's server then embeds one).

One URL chooses the topology:

- ``redis://``, ``rediss://`` (TLS), ``unix://`` — one Redis server (redis-py's own URL rules).
- ``redis+cluster://[user:pass@]host:port[,host:port…]`` (``rediss+cluster://`` for TLS) —
  Redis Cluster, through redis-py's asyncio cluster client; the hosts are startup nodes, the
  rest of the cluster is discovered. Every key of a session carries the ``{CODE}`` hash tag,
  so nothing Code Stream does is ever cross-slot.
- ``redis+sentinel://[user:pass@]host:port[,host:port…]/service_name[/db]``
  (``rediss+sentinel://`` for TLS) — the master of ``service_name`` as Redis Sentinel reports
  it, followed across failovers. ``user:pass`` are the master's; the Sentinels' own are the
  ``sentinel_username``/``sentinel_password`` query options.

Query options for cluster and sentinel URLs: ``ssl_cert_reqs`` (``none``/``optional``/
``required``), ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``, ``ssl_check_hostname``,
``client_name``, ``sentinel_username``, ``sentinel_password``. A URL can carry a password:
it is never logged; ``describe_redis_url`` gives a form safe to log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
_TEXT_OPTIONS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "client_name"}
_BOOL_OPTIONS = {"ssl_check_hostname"}
_SENTINEL_OPTIONS = {"sentinel_username", "sentinel_password"}


@dataclass(frozen=True)
class RedisTarget:
    """A parsed Redis URL: which topology, where, and how to connect (TLS, credentials)."""

    kind: str  # "standalone" | "cluster" | "sentinel"
    url: str = field(default="", repr=False)  # standalone: handed to redis-py as is
    nodes: tuple[tuple[str, int], ...] = ()
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    service_name: str = ""
    db: int = 0
    options: dict = field(default_factory=dict, repr=False)
    sentinel_options: dict = field(default_factory=dict, repr=False)


def redis_url_from_env(environ: Mapping[str, str]) -> str | None:
    for name in ("CODESTREAM_REDIS_URL", "REDIS_URL"):
        if environ.get(name):
            return environ[name]
    if environ.get("REDIS_HOST"):
        host = environ["REDIS_HOST"]
        port = environ.get("REDIS_PORT") or "6379"
        db = environ.get("REDIS_DB") or "0"
        return f"redis://{host}:{port}/{db}"
    return None


def parse_redis_url(url: str) -> RedisTarget:
    """Split a Redis URL into a ``RedisTarget``; ``ValueError`` says what is wrong (never echoing it)."""
    if not isinstance(url, str) or "://" not in url:
        raise ValueError("a Redis URL starts with redis://, rediss://, unix://, redis+cluster://"
                         " or redis+sentinel://")
    scheme = url.split("://", 1)[0].lower()
    if scheme not in CLUSTER_SCHEMES and scheme not in SENTINEL_SCHEMES:
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"unknown Redis URL scheme {scheme!r}")
        return RedisTarget(kind="standalone", url=url, tls=scheme == "rediss")
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    sentinel = scheme in SENTINEL_SCHEMES
    nodes = tuple(_host_port(item, DEFAULT_SENTINEL_PORT if sentinel else DEFAULT_PORT)
                  for item in hostlist.split(",") if item.strip())
    if not nodes:
        raise ValueError("the Redis URL names no host")
    options, sentinel_options = {}, {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _TEXT_OPTIONS:
            options[name] = value
        elif name in _BOOL_OPTIONS:
            options[name] = value.lower() in ("1", "true", "yes", "on")
        elif sentinel and name in _SENTINEL_OPTIONS:
            sentinel_options[name.removeprefix("sentinel_")] = value
        else:
            raise ValueError(f"unsupported option {name!r} in the Redis URL")
    service_name, db = "", 0
    path = [segment for segment in parts.path.split("/") if segment]
    if sentinel:
        if not path or len(path) > 2:
            raise ValueError("a Sentinel URL ends with /service_name (and optionally /db)")
        service_name = unquote(path[0])
        if len(path) == 2:
            if not path[1].isdigit():
                raise ValueError("the database after the service name must be a number")
            db = int(path[1])
    elif path and path != ["0"]:
        raise ValueError("Redis Cluster has only database 0; remove the path from the URL")
    return RedisTarget(
        kind="sentinel" if sentinel else "cluster", nodes=nodes,
        tls=(SENTINEL_SCHEMES if sentinel else CLUSTER_SCHEMES)[scheme],
        username=unquote(username) or None, password=unquote(password) or None,
        service_name=service_name, db=db, options=options, sentinel_options=sentinel_options,
    )


def _host_port(item: str, default_port: int) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError("a host in the Redis URL is empty")
    if port_text and not port_text.isdigit():
        raise ValueError("a port in the Redis URL is not a number")
    port = int(port_text) if port_text else default_port
    if not 0 < port < 65536:
        raise ValueError("a port in the Redis URL is out of range")
    return host, port


def describe_redis_url(url: str) -> str:
    """A log-safe description of where a URL points: topology and hosts, never credentials."""
    try:
        target = parse_redis_url(url)
    except ValueError as exc:
        return f"an invalid Redis URL ({exc})"
    tls = " over TLS" if target.tls else ""
    if target.kind == "standalone":
        parts = urlsplit(url)
        where = parts.path if parts.scheme == "unix" else (parts.netloc.rpartition("@")[2] or "localhost")
        return f"Redis at {where}{tls}"
    hosts = ", ".join(f"{host}:{port}" for host, port in target.nodes)
    if target.kind == "cluster":
        return f"Redis Cluster via {hosts}{tls}"
    return f"Redis Sentinel master {target.service_name!r} via {hosts}{tls}"


def cluster_transactions_supported() -> bool:
    """Teacher writes use WATCH/MULTI on one slot; redis-py's asyncio cluster has it from 6.2."""
    from redis.asyncio import cluster

    return hasattr(cluster, "TransactionStrategy")


def make_clients(url: str, *, max_connections: int = 50, socket_timeout: float = 5.0,
                 connect_timeout: float = 3.0, block_ms: int = 10_000,
                 blocking_max_connections: int | None = None) -> tuple[Redis, Redis]:
    """A pooled client for commands, and one for blocking ``XREAD`` whose timeout outlives the block.

    (redis-py 8 defaults ``socket_timeout`` to 5 s, which would cut a longer ``XREAD BLOCK``.)
    The blocking client holds one connection per session being read (``blocking_max_connections``,
    default ``max_connections``). For Redis Cluster, pool sizes are per node. Raises
    ``ValueError`` for a URL that cannot work.
    """
    target = parse_redis_url(url)
    plan = ((max_connections, socket_timeout),
            (blocking_max_connections or max_connections, block_ms / 1000 + socket_timeout))
    if target.kind == "cluster":
        return tuple(_cluster_client(target, size, timeout, connect_timeout) for size, timeout in plan)
    if target.kind == "sentinel":
        return tuple(_sentinel_client(target, size, timeout, connect_timeout) for size, timeout in plan)
    # One immediate retry on a broken connection: after a Redis restart every pooled connection
    # is dead, and without it the first command on each fails (a 503 with Redis already back).
    # Timeouts are not retried: a hung Redis must not double the wait.
    common = dict(decode_responses=True, socket_connect_timeout=connect_timeout,
                  health_check_interval=30, retry_on_timeout=False,
                  retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
    # A blocking pool: a burst of more concurrent commands than connections (a class opening
    # its event streams at once) waits up to a command timeout for a free connection instead
    # of failing at once with "Too many connections", and never opens more than ``size``.
    return tuple(Redis.from_pool(BlockingConnectionPool.from_url(
        url, max_connections=size, timeout=socket_timeout, socket_timeout=timeout, **common))
        for size, timeout in plan)


def _tls_kwargs(target: RedisTarget) -> dict:
    if not target.tls:
        if any(name.startswith("ssl_") for name in target.options):
            raise ValueError("ssl_* options need a rediss+… URL")
        return {}
    return {"ssl": True, **{k: v for k, v in target.options.items() if k.startswith("ssl_")}}


def _cluster_client(target: RedisTarget, max_connections: int, socket_timeout: float,
                    connect_timeout: float):
    from redis.asyncio.cluster import ClusterNode, RedisCluster

    if not cluster_transactions_supported():
        raise ValueError("Redis Cluster needs redis-py >= 6.2 (asyncio cluster transactions)")
    return RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
        username=target.username, password=target.password,
        client_name=target.options.get("client_name"),
        max_connections=max_connections, socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout, health_check_interval=30,
        decode_responses=True, **_tls_kwargs(target),
    )


class SentinelMasterRedis(Redis):
    """The master's client; closing it also closes its connections to the Sentinels."""

    sentinels: tuple = ()

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        for sentinel in self.sentinels:
            await sentinel.aclose()


def _sentinel_client(target: RedisTarget, max_connections: int, socket_timeout: float,
                     connect_timeout: float) -> Redis:
    from redis.asyncio.sentinel import Sentinel

    tls = _tls_kwargs(target)
    sentinel_kwargs = {"socket_timeout": 5.0, "socket_connect_timeout": connect_timeout,
                       **tls, **target.sentinel_options}
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs)
    client = sentinel.master_for(
        target.service_name, redis_class=SentinelMasterRedis,
        username=target.username, password=target.password, db=target.db,
        client_name=target.options.get("client_name"),
        max_connections=max_connections, socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout, health_check_interval=30,
        retry_on_timeout=False, decode_responses=True, **tls,
    )
    client.sentinels = tuple(sentinel.sentinels)
    return client
