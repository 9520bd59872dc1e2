"""The hub service's embedded redis-server: a password it keeps out of argv, a 0600 config."""

import os
import secrets
import stat
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError

from jupyter_ext.store import EmbeddedRedis


async def test_embedded_redis_with_a_password(tmp_path):
    password = secrets.token_urlsafe(24)
    embedded = EmbeddedRedis(tmp_path / "redis", password=password)
    url = await embedded.start()
    try:
        assert password not in Path(f"/proc/{embedded.process.pid}/cmdline").read_bytes().decode()
        config = next((tmp_path / "redis").glob("*.conf"))
        assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
        client = aioredis.Redis.from_url(url, decode_responses=True)
        assert await client.ping()
        await client.aclose()
        anonymous = aioredis.Redis(unix_socket_path=embedded.socket_path)
        with pytest.raises((AuthenticationError, ResponseError, RedisConnectionError), match="(?i)auth"):
            await anonymous.set("x", "1")
        await anonymous.aclose()
    finally:
        await embedded.stop()
