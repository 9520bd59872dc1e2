"""Where the embedded redis-server's unix socket lives: beside its data, or (for a data folder too
deep for a socket path) in a temp folder of its own; either way gone after it stops."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from redis.asyncio import Redis

from jupyter_ext.store.embedded import MAX_SOCKET_PATH, EmbeddedRedis


@pytest.fixture
def short_root():
    root = Path(tempfile.mkdtemp(prefix="cs-"))  # /tmp/cs-xxxx: short enough for a socket path
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def run_once(data_dir: Path) -> tuple[str, list[str]]:
    """Start, store a value, stop; the socket path it used and the temp folders left behind."""
    before = set(os.listdir(tempfile.gettempdir()))
    embedded = EmbeddedRedis(data_dir)
    url = await embedded.start()
    socket_path = embedded.socket_path
    client = Redis.from_url(url, decode_responses=True)
    try:
        assert await client.set("k", "v") and await client.get("k") == "v"
    finally:
        await client.aclose()
        await embedded.stop()
    assert not Path(socket_path).exists()
    left = sorted(set(os.listdir(tempfile.gettempdir())) - before)
    return socket_path, [name for name in left if name.startswith("codestream-redis-")]


async def test_the_socket_sits_beside_the_data(short_root):
    data_dir = short_root / "codestream" / "redis"
    socket_path, left = await run_once(data_dir)
    assert socket_path == str(data_dir / "redis.sock")
    assert left == []


async def test_a_data_folder_too_deep_for_a_socket_uses_a_temp_folder_and_removes_it(short_root):
    data_dir = short_root / ("d" * 60) / ("e" * 60) / "redis"
    assert len(str(data_dir / "redis.sock")) > MAX_SOCKET_PATH
    socket_path, left = await run_once(data_dir)
    assert Path(socket_path).parent.name.startswith("codestream-redis-")
    assert not Path(socket_path).parent.exists() and left == []
