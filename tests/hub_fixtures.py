"""A real JupyterHub for the hub tests: the hub, configurable-http-proxy from node_modules, the
DummyAuthenticator, SimpleLocalProcessSpawner running this venv's ``jupyterhub-singleuser``, the
``codestream`` service from ``configure_jupyterhub`` and a password-protected redis-server.

Users: ``teacher1`` (teachers, course ``algebra``), ``teacher2`` (teachers, course ``geometry``),
``student1`` and ``student2`` (``algebra``), ``outsider`` (no group). One hub per test session
(single-user servers are slow to start, so each is started once, on first need, and reused).
Tests reach every single-user server and the service through the hub's proxy only.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from jupyter_ext.pytest_plugin import RedisServerProcess, free_port, scanned_client, stop_processes, wait_until

ROOT = Path(__file__).resolve().parent.parent
PROXY = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"
SINGLEUSER = Path(sys.executable).with_name("jupyterhub-singleuser")
TEACHERS = ("teacher1", "teacher2")
STUDENTS = ("student1", "student2")
OUTSIDER = "outsider"
USERS = (*TEACHERS, *STUDENTS, OUTSIDER)
GROUPS = {"teachers": list(TEACHERS), "algebra": ["teacher1", *STUDENTS], "geometry": ["teacher2"]}
SERVICE_PREFIX = "services/codestream/"
HUB_TIMEOUT = 2.0  # the service's wait for the hub (the hub-down test waits this long)


class PasswordRedis(RedisServerProcess):
    """A real redis-server that needs a password (``requirepass``), as a hub's Redis should."""

    def __init__(self, workdir: Path, password: str):
        super().__init__(workdir, extra_args=["--requirepass", password])
        self.password = password

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                return b"+PONG" in sock.recv(64)
        except OSError:
            return False


def find_proxy() -> str | None:
    if PROXY.exists():
        return str(PROXY)
    return shutil.which("configurable-http-proxy")


class HubProcess:
    """``jupyterhub`` in its own folder, on free loopback ports; stopped with everything it spawned."""

    def __init__(self, workdir: Path, redis: RedisServerProcess, redis_password: str, scanner=None):
        self.workdir = Path(workdir)
        self.redis = redis
        self.redis_password = redis_password
        self.scanner = scanner
        self.port, self.hub_port, self.proxy_api_port, self.service_port = (free_port() for _ in range(4))
        self.admin_token = secrets.token_hex(16)
        self.password = secrets.token_urlsafe(12)
        self.log_path = self.workdir / "hub.log"
        self.process: subprocess.Popen | None = None
        self._tokens: dict[str, str] = {}
        self._started: set[str] = set()
        self._clients: list[httpx.Client] = []
        if scanner is not None:
            for secret in (self.admin_token, self.password, redis_password):
                scanner.add(secret)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def redis_url(self) -> str:
        return f"redis://:{self.redis_password}@127.0.0.1:{self.redis.port}/0"

    def write_config(self) -> Path:
        home = self.workdir / "home"
        home.mkdir(exist_ok=True)
        cmd = [sys.executable, "-m", "jupyter_ext.cli", "hub-service", "--hub-timeout", str(HUB_TIMEOUT)]
        config = textwrap.dedent(f"""
            from jupyter_ext.hub import configure_jupyterhub

            c.JupyterHub.ip = "127.0.0.1"
            c.JupyterHub.port = {self.port}
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {self.hub_port}
            c.JupyterHub.public_url = "http://127.0.0.1:{self.port}/"
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
            c.ConfigurableHTTPProxy.command = [{find_proxy()!r}]
            c.JupyterHub.db_url = "sqlite:///{self.workdir / 'hub.sqlite'}"
            c.JupyterHub.cookie_secret_file = {str(self.workdir / 'cookie_secret')!r}
            c.JupyterHub.pid_file = {str(self.workdir / 'hub.pid')!r}
            c.JupyterHub.authenticator_class = "dummy"
            c.DummyAuthenticator.password = {self.password!r}
            c.Authenticator.allow_all = True
            c.JupyterHub.spawner_class = "simple"
            c.SimpleLocalProcessSpawner.home_dir_template = {str(home) + '/{username}'!r}
            c.Spawner.cmd = [{str(SINGLEUSER)!r}]
            c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
            c.Spawner.default_url = "/lab"
            c.Spawner.start_timeout = 120
            c.Spawner.http_timeout = 120
            c.Spawner.environment = {{"JUPYTER_PLATFORM_DIRS": "1", "PYTHONUNBUFFERED": "1"}}
            c.JupyterHub.services = [{{"name": "test-admin", "api_token": {self.admin_token!r}}}]
            c.JupyterHub.load_roles = [{{
                "name": "test-admin",
                "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "list:users",
                           "read:users", "admin:server_state"],
                "services": ["test-admin"],
            }}]
            c.JupyterHub.load_groups = {{name: {{"users": users}} for name, users in {GROUPS!r}.items()}}
            configure_jupyterhub(c, redis_url={self.redis_url!r}, teachers_group="teachers",
                                 port={self.service_port}, command={cmd!r},
                                 data_dir={str(self.workdir / 'service')!r})
        """)
        path = self.workdir / "jupyterhub_config.py"
        path.write_text(config)
        return path

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("JUPYTER", "CODESTREAM_", "REDIS_"))}
        env.update({"PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
                    "PYTHONUNBUFFERED": "1"})
        return env

    def start(self, timeout: float = 90.0) -> HubProcess:
        config = self.write_config()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config), "--log-level=INFO"],
            cwd=self.workdir, env=self.environment(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_until(self._ready, timeout, interval=0.2, what="JupyterHub and the codestream service")
        with self.admin() as admin:  # the groups made the others; the outsider is in none
            response = admin.post(f"users/{OUTSIDER}")
            assert response.status_code in (201, 409), response.text
        return self

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited; log:\n{self.log_text()[-6000:]}")
        try:
            hub = httpx.get(f"{self.url}hub/api/", timeout=1.0)
            service = httpx.get(f"{self.url}{SERVICE_PREFIX}healthz", timeout=1.0)
        except httpx.HTTPError:
            return False
        return hub.status_code == 200 and service.status_code == 200

    # -- the hub's REST API, as the test's admin service ------------------------------------
    def admin(self) -> httpx.Client:
        client = httpx.Client(base_url=f"{self.url}hub/api/", timeout=30.0,
                              headers={"Authorization": f"token {self.admin_token}"})
        self._clients.append(client)
        return client

    def token_for(self, user: str) -> str:
        """``user``'s test token (one per user, made on first need)."""
        if user not in self._tokens:
            self._tokens[user] = self.new_token(user)
        return self._tokens[user]

    def new_token(self, user: str, scopes: list[str] | None = None) -> str:
        """A fresh API token of ``user`` (all of the user's scopes unless ``scopes``)."""
        with httpx.Client(base_url=f"{self.url}hub/api/", timeout=30.0,
                          headers={"Authorization": f"token {self.admin_token}"}) as admin:
            body = {"note": "codestream tests", **({"scopes": scopes} if scopes is not None else {})}
            response = admin.post(f"users/{user}/tokens", json=body)
            response.raise_for_status()
            token = response.json()["token"]
        if self.scanner is not None:
            self.scanner.add(token)
        return token

    def start_servers(self, *users: str, timeout: float = 150.0) -> None:
        """Start the single-user servers of ``users`` (at once), wait until all are ready."""
        wanted = [user for user in users if user not in self._started]
        if not wanted:
            return
        with self.admin() as admin:
            for user in wanted:
                response = admin.post(f"users/{user}/server")
                assert response.status_code in (201, 202, 400), response.text  # 400: already running

            def ready() -> bool:
                for user in wanted:
                    model = admin.get(f"users/{user}").json()
                    server = (model.get("servers") or {}).get("")
                    if not server or not server.get("ready"):
                        if self.process.poll() is not None:
                            raise RuntimeError(f"jupyterhub exited; log:\n{self.log_text()[-6000:]}")
                        return False
                return True

            wait_until(ready, timeout, interval=0.5, what=f"single-user servers of {wanted}")
        self._started.update(wanted)

    def user_pids(self) -> dict[str, int]:
        """The pid of each running single-user server (the spawner's state)."""
        pids = {}
        with self.admin() as admin:
            for user in sorted(self._started):
                state = admin.get(f"users/{user}", params={"include_stopped_servers": "0"}).json()
                pid = ((state.get("servers") or {}).get("", {}).get("state") or {}).get("pid")
                if pid:
                    pids[user] = pid
        return pids

    # -- clients, through the hub's proxy only ----------------------------------------------
    def client(self, base: str, user: str | None, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {}
        if token or user:
            headers["Authorization"] = f"token {token or self.token_for(user)}"
        client = scanned_client(self.url + base, headers, self.scanner, timeout)
        self._clients.append(client)
        return client

    def server(self, user: str, *, as_user: str | None = None) -> httpx.Client:
        """``user``'s single-user server, with ``as_user``'s hub token (default: ``user``'s)."""
        self.start_servers(user)
        return self.client(f"user/{user}/", as_user or user)

    def service(self, user: str | None = None, token: str | None = None) -> httpx.Client:
        return self.client(SERVICE_PREFIX, user, token)

    # -- processes --------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def pause(self) -> None:
        """SIGSTOP the hub process alone: the proxy, the service and the servers keep running."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.process is not None and self.process.poll() is None:
            self.resume()
            self.process.terminate()  # the hub stops the servers, the service and the proxy
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                pass
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # anything left of the hub's group
            except ProcessLookupError:
                pass
            self.process.wait()
        self.process = None
        if self.scanner is not None:
            self.scanner.check_text(f"hub log {self.log_path}", self.log_text())


def start_service_replica(hub: HubProcess, log_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """Another ``codestream hub-service`` process over the hub's Redis, started with the managed
    service's own environment (and ``args``) on a port of its own, outside the proxy; returns
    the process and its base URL once it is ready. The caller stops it."""
    import psutil

    first = next(child for child in psutil.Process(hub.process.pid).children(recursive=True)
                 if "hub-service" in child.cmdline())
    raw = Path(f"/proc/{first.pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in raw if b"=" in item)
    port = free_port()
    env["CODESTREAM_SERVICE_BIND"] = f"127.0.0.1:{port}"
    if hub.scanner is not None:
        hub.scanner.add(env["JUPYTERHUB_API_TOKEN"])
    with open(log_path, "wb") as log:
        replica = subprocess.Popen([sys.executable, "-m", "jupyter_ext.cli", "hub-service", *args], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/{SERVICE_PREFIX}"

    def up():
        if replica.poll() is not None:
            raise RuntimeError(f"the replica exited: {log_path.read_text(errors='replace')[-2000:]}")
        try:
            return httpx.get(base + "readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
    try:
        wait_until(up, 60, interval=0.2, what="the second replica")
    except BaseException:
        stop_processes([replica])
        raise
    return replica, base


@contextmanager
def service_replica(hub: HubProcess, log_path: Path, *args: str):
    """``start_service_replica`` for a ``with`` block: yields its base URL, then stops it (its
    log checked by the secret scanner)."""
    replica, base = start_service_replica(hub, log_path, *args)
    try:
        yield base
    finally:
        stop_processes([replica])
        if hub.scanner is not None:
            hub.scanner.check_text("replica log", log_path.read_text(errors="replace"))


@pytest.fixture(scope="session")
def cs_hub(tmp_path_factory, cs_secret_scanner):
    """The test session's JupyterHub (see the module docstring); skipped only without the proxy."""
    if not find_proxy():
        if os.environ.get("CI"):
            raise RuntimeError("configurable-http-proxy is missing: run .ci/setup (npm ci)")
        pytest.skip("configurable-http-proxy is not installed (npm ci)")
    workdir = tmp_path_factory.mktemp("hub")
    password = secrets.token_urlsafe(24)
    redis = PasswordRedis(workdir / "redis", password).start()
    hub = HubProcess(workdir, redis, password, scanner=cs_secret_scanner)
    try:
        hub.start()
        yield hub
    finally:
        hub.stop()
        redis.stop()
