"""Pytest fixtures that start real parts: a redis-server, Jupyter servers, Chromium.

Only the wiring: what they start and check lives in ``jupyter_ext.testing``. Prefixed ``cs_``
so ``tests/conftest.py`` is only a ``pytest_plugins`` list. Every HTTP response a test receives
through ``JupyterServerProcess.client`` and every server log is scanned for credentials
(Jupyter tokens, student keys) when the test ends. Tests that use Panel or the dashboards get
``pn.state.reset()`` after each test, as Panel's testing guide does.

The helpers' names are importable from here too, as before the split (new code imports them
from ``jupyter_ext.testing``).
"""

from __future__ import annotations

import os

import pytest

from jupyter_ext.testing import (
    CHROMIUM_ARGS,
    JupyterServerProcess,
    RedisServerProcess,
    SecretScanner,
    SSEReader,
    artifacts_dir,
    create_session,
    find_chromium,
    free_port,
    publish,
    reset_panel_state,
    scanned_client,
    stop_processes,
    uses_dashboards,
    wait_until,
    write_notebook,
)


@pytest.fixture(scope="session")
def cs_secret_scanner():
    return SecretScanner()


@pytest.fixture(autouse=True)
def _cs_fail_on_leaked_credentials(cs_secret_scanner):
    before = len(cs_secret_scanner.findings)
    yield
    leaked = cs_secret_scanner.findings[before:]
    assert not leaked, "credential leaked: " + "; ".join(leaked)


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
        page.screenshot(path=str(artifacts_dir() / f"FAILED-{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def _cs_reset_panel_state(request):
    """Panel keeps per-process state (sessions, caches, curdoc): reset it after a dashboard test."""
    yield
    if request.module is not None and uses_dashboards(request.module):
        reset_panel_state()


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
