"""What every benchmark shares: real processes on loopback, a few statistics, the result rows.

Processes come from ``jupyter_ext.testing`` (``RedisServerProcess``,
``JupyterServerProcess``, ``free_port``): the same real redis-server and ``jupyter server``
subprocesses the integration tests start, used here outside pytest.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_ext.testing import JupyterServerProcess, RedisServerProcess, free_port, stop_processes, wait_until

from .loadgen import HTTPConnection, split_url

REPO_ROOT = Path(__file__).resolve().parent.parent
# Servers load Code Stream only by default: turning the heavy extensions off makes 20+ of them
# start in seconds each on 2 shared cores (none of them sits on the relay path).
OTHER_EXTENSIONS = ("jupyterlab", "jupyter_lsp", "jupyter_collaboration", "jupyter_server_ydoc",
                    "jupyter_server_fileid", "jupyter_server_terminals", "notebook_shim",
                    "panel.io.jupyter_server_extension", "jupyter_server_proxy")
CODESTREAM_ONLY = ["--ServerApp.jpserver_extensions=jupyter_ext=True"] + [
    f"--ServerApp.jpserver_extensions={name}=False" for name in OTHER_EXTENSIONS]


# -- statistics ------------------------------------------------------------------------------
def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def mb(n_bytes: float) -> str:
    return f"{n_bytes / 2 ** 20:.0f} MB"


def rss_bytes(pid: int) -> int:
    """Resident set size of one process (``VmRSS``), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (independent of how busy the machine is)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds_fine(pid: int) -> float:
    """CPU time of all the process's current threads, in ns resolution (``schedstat``), where
    ``cpu_seconds``' clock ticks (10 ms) are too coarse: an idle server's minute."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue  # a thread that just ended
    return total / 1e9


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise this process's open-file limit (children inherit it); root may raise the hard one too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(wanted, hard)), wanted))
            hard = wanted
        except (ValueError, OSError):
            pass  # not root: stay under the hard limit
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- results ---------------------------------------------------------------------------------
@dataclass
class Row:
    """One line of the table: a figure, its same-run baseline, the ratio and the target."""

    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""
    target: str = ""
    met: bool | None = None
    detail: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def format_table(rows: list[Row]) -> str:
    header = ("figure", "measured", "baseline (same run)", "ratio", "target", "met")
    lines = [header] + [(r.figure, r.value, r.baseline, r.ratio, r.target,
                         {True: "yes", False: "NO", None: "-"}[r.met]) for r in rows]
    out = ["| " + " | ".join(cells) + " |" for cells in lines]
    out.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(out)


# -- the running parts -----------------------------------------------------------------------
def start_with_retry(server: JupyterServerProcess, attempts: int = 3) -> None:
    """Start a server; if its free port was taken in between (the load generator's thousands of
    client sockets use the same ephemeral range), try again on another one."""
    for attempt in range(attempts):
        try:
            server.start(120.0)
            return
        except RuntimeError as exc:
            if "is not available" not in str(exc) or attempt == attempts - 1:
                raise
            server.stop()
            server.port = free_port()

class BenchServer(JupyterServerProcess):
    """The plugin's Jupyter server process, at the default log level (INFO).

    The test plugin logs at DEBUG, which writes one line per request: a cost no real server
    pays, and one that would land on the measured side only.
    """

    log_level = "INFO"
    profile_to: str | None = None  # a path: run the server under cProfile, stats written on stop

    def start(self, timeout: float = 60.0) -> BenchServer:
        profiler = ["-m", "cProfile", "-o", self.profile_to] if self.profile_to else []
        cmd = [sys.executable, *profiler, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
               f"--port={self.port}", "--port-retries=0", f"--ServerApp.root_dir={self.root_dir}",
               f"--ServerApp.base_url={self.base_url}", f"--ServerApp.log_level={self.log_level}",
               *(["--allow-root"] if os.geteuid() == 0 else []),
               "--CodeStreamApp.max_streams_per_address=100000",  # every simulated student is on loopback
               *self.args]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, env=self.environment(), stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self._ready, timeout, interval=0.1, what=f"jupyter server on port {self.port}")
        return self


class Lab:
    """A Redis and a teacher Jupyter server (with the bench baseline extension), on loopback.

    Student servers and other processes started through it are stopped by ``close``.
    """

    def __init__(self, workdir: Path | None = None, keep: bool = False, teacher_options: list[str] | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="codestream-bench-"))
        self.keep = keep
        self.teacher_options = list(teacher_options or [])  # e.g. --CodeStreamApp.freeze_startup_objects=True
        self.redis: RedisServerProcess | None = None
        self.teacher: BenchServer | None = None
        self.students: list[JupyterServerProcess] = []
        self.others: list[subprocess.Popen] = []

    # starting ------------------------------------------------------------------------------
    def start(self) -> Lab:
        self.redis = RedisServerProcess(self.workdir / "redis").start()
        self.teacher = self.make_server("teacher", teacher=True)
        self.teacher.profile_to = os.environ.get("BENCH_PROFILE_TEACHER") or None
        start_with_retry(self.teacher)
        return self

    def make_server(self, name: str, *, teacher: bool = False, extra_args: list[str] | None = None,
                    env: dict | None = None, full_stack: bool = False) -> JupyterServerProcess:
        """A Jupyter server with Code Stream only, or with every installed extension (``full_stack``)."""
        base_env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        args = [] if full_stack else list(CODESTREAM_ONLY)
        if teacher:
            base_env.update({"CODESTREAM_REDIS_URL": self.redis.url, "BENCH_REDIS_URL": self.redis.url})
            args.append("--ServerApp.jpserver_extensions=bench.bare_ext=True")
            args.extend(self.teacher_options)
        server = BenchServer(self.workdir / name, env={**base_env, **(env or {})},
                                      args=args + (extra_args or []))
        return server

    async def start_students(self, n: int, concurrency: int = 3) -> list[JupyterServerProcess]:
        """Start ``n`` student Jupyter servers (Code Stream only, ``bench/shims`` first on their
        path), ``concurrency`` at a time."""
        semaphore = asyncio.Semaphore(concurrency)
        first = len(self.students)
        shims = {"PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "bench" / "shims"), str(REPO_ROOT)])}
        servers = [self.make_server(f"student-{first + i}", env=shims) for i in range(n)]
        self.students.extend(servers)

        async def one(server):
            async with semaphore:
                await asyncio.to_thread(start_with_retry, server)

        await asyncio.gather(*(one(s) for s in servers))
        return servers

    async def stop_students_beyond(self, keep: int) -> None:
        """Stop all but the first ``keep`` student servers (later figures need fewer)."""
        extra, self.students[keep:] = self.students[keep:], []
        await asyncio.gather(*(asyncio.to_thread(server.stop) for server in extra))

    def start_process(self, args: list[str], name: str, ready_url: str | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.others.append(process)
        if ready_url:
            import httpx

            def ready():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited; see {self.workdir / (name + '.log')}")
                try:
                    return httpx.get(ready_url, timeout=1.0).status_code < 500
                except httpx.HTTPError:
                    return False

            wait_until(ready, 30, interval=0.1, what=name)
        return process

    def start_bare_sse(self) -> tuple[subprocess.Popen, int]:
        port = free_port()
        process = self.start_process([sys.executable, "-m", "bench.bare_sse", "--port", str(port)],
                                     "bare-sse", ready_url=f"http://127.0.0.1:{port}/status")
        return process, port

    def stop_process(self, process: subprocess.Popen) -> None:
        stop_processes([process])
        if process in self.others:
            self.others.remove(process)

    def close(self) -> None:
        for process in list(self.others):
            self.stop_process(process)
        for server in self.students:
            server.stop()
        if self.teacher is not None:
            self.teacher.stop()
        if self.redis is not None:
            self.redis.stop()
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # talking to it -------------------------------------------------------------------------
    def address(self, server: JupyterServerProcess | None = None) -> tuple[str, int, str]:
        return split_url((server or self.teacher).url)

    async def connection(self, server: JupyterServerProcess | None = None,
                         headers: dict | None = None, auth: bool = True) -> HTTPConnection:
        server = server or self.teacher
        host, port, _base = split_url(server.url)
        all_headers = {**(server.auth_headers() if auth else {}), **(headers or {})}
        return await HTTPConnection(host, port, all_headers).connect()

    async def create_session(self, title: str = "bench", notebook_path: str | None = None) -> dict:
        connection = await self.connection()
        try:
            body = {"title": title, **({"notebook_path": notebook_path} if notebook_path else {})}
            status, _h, raw = await connection.request("POST", "/codestream/api/sessions", body)
            if status != 201:
                raise RuntimeError(f"create session: {status} {raw[:200]!r}")
            return json.loads(raw)
        finally:
            await connection.close()

    async def publish_cells(self, code: str, n: int, *, source_bytes: int = 400, prefix: str = "cell",
                            notebook_path: str | None = None) -> list[str]:
        """Publish ``n`` code cells of about ``source_bytes`` each; returns their ids."""
        connection = await self.connection()
        ids = []
        try:
            for i in range(n):
                cell_id = f"{prefix}{i:04d}"
                line = f"value_{i} = compute({i})  # "
                source = "\n".join([line + "x" * max(0, 60 - len(line))] * max(1, source_bytes // 61))
                body = {"source": source, "cell_type": "code", "position": i,
                        **({"notebook_path": notebook_path} if notebook_path else {})}
                status, _h, raw = await connection.request(
                    "PUT", f"/codestream/api/sessions/{code}/cells/{cell_id}", body)
                if status != 200:
                    raise RuntimeError(f"publish: {status} {raw[:200]!r}")
                ids.append(cell_id)
        finally:
            await connection.close()
        return ids

    async def configure_student(self, student: JupyterServerProcess, code: str, key: str) -> None:
        connection = await self.connection(student)
        try:
            status, _h, raw = await connection.request("PUT", "/codestream/api/student/config", {
                "teacher_url": self.teacher.url, "session_code": code, "student_key": key})
            if status != 200:
                raise RuntimeError(f"student config: {status} {raw[:300]!r}")
        finally:
            await connection.close()

    def redis_client(self, db: int = 0):
        import redis

        return redis.Redis.from_url(self.redis.url.rsplit("/", 1)[0] + f"/{db}", decode_responses=True)


def timed(label: str):
    """Print how long a benchmark section took (to stderr, the table goes to stdout)."""

    class _Timer:
        def __enter__(self):
            self.started = time.perf_counter()
            print(f"[bench] {label} ...", file=sys.stderr, flush=True)
            return self

        def __exit__(self, *exc):
            print(f"[bench] {label}: {time.perf_counter() - self.started:.1f} s", file=sys.stderr, flush=True)

    return _Timer()
