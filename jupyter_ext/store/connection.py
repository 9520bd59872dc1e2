"""Where Redis comes from, and the two clients the extension keeps.

``CODESTREAM_REDIS_URL``, then ``REDIS_URL``, then the 1.x ``REDIS_HOST``/``REDIS_PORT``/
``REDIS_DB``; else ``None`` (the teacher's server then embeds one).
"""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis


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


def make_clients(url: str, *, max_connections: int = 50, socket_timeout: float = 5.0,
                 connect_timeout: float = 3.0, block_ms: int = 10_000) -> tuple[Redis, Redis]:
    """A pooled client for commands, and one for blocking ``XREAD`` whose timeout outlives the block.

    (redis-py 8 defaults ``socket_timeout`` to 5 s, which would cut a longer ``XREAD BLOCK``.)
    """
    common = dict(decode_responses=True, socket_connect_timeout=connect_timeout,
                  health_check_interval=30, retry_on_timeout=False)
    commands = Redis.from_url(url, max_connections=max_connections,
                              socket_timeout=socket_timeout, **common)
    blocking = Redis.from_url(url, max_connections=max_connections,
                              socket_timeout=block_ms / 1000 + socket_timeout, **common)
    return commands, blocking
