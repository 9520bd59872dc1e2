"""Event fan-out capacity of the read relays: 1, 2 and 4 ``codestream relay`` processes over one
Redis, next to the same-run baseline of the teacher's own Jupyter server serving the same streams.

    python -m bench.relay_fanout                 # 400 streams x 100 events, 2 rounds
    python -m bench.relay_fanout --quick         # 100 streams x 30 events, 1 round
    python -m bench.relay_fanout --relays 1,2,4 --subscribers 1000 --events 50 --json out.json

One trial: S event streams of one session are opened (split evenly over the servers under test,
read by ``bench.relay_subscribers`` worker processes), E ``published`` events are written to
the session's Redis stream in one burst (see ``publish_burst``), and the trial ends when every
stream has all E events (or at the time limit). Capacity = S x E deliveries / (last arrival - first
publish). Also: per-event delay from the Redis stream id's timestamp to arrival (p50/p99), and
the CPU seconds the serving processes spent. Trials of all configurations are interleaved, each
configuration's best round is reported. Everything is bounded (time limit per trial, fixed
sizes) and stops by itself; the table goes to stdout, all trials to JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from jupyter_ext.testing import JupyterServerProcess, RedisServerProcess, free_port, stop_processes, wait_until
from jupyter_ext.store import SessionStore
from jupyter_ext.store.connection import make_clients

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "relay_fanout.json"
# The baseline server loads Code Stream only (a command-line jpserver_extensions replaces the
# config files' table). It logs at the test plugin's DEBUG level: one line per request, i.e. per
# stream opened, none per event delivered, so nothing inside the measured window.
CODESTREAM_ONLY = ["--ServerApp.jpserver_extensions=jupyter_ext=True"]


@dataclass
class FanoutSize:
    subscribers: int = 400
    events: int = 100
    repeats: int = 2
    relays: tuple[int, ...] = (1, 2, 4)
    workers: int = 2
    timeout: float = 60.0  # per trial, after every stream is open

    @classmethod
    def quick(cls) -> FanoutSize:
        return cls(subscribers=100, events=30, repeats=1, timeout=30.0)


@dataclass
class Trial:
    config: str  # "jupyter" or "N relays"
    servers: int
    subscribers: int
    events: int
    complete: bool = False
    deliveries: int = 0
    publish_s: float = 0.0
    elapsed_s: float = 0.0
    deliveries_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(p / 100 * len(ordered)) - 1))] if ordered else 0.0


# -- the processes under test ------------------------------------------------------------------
class RelayFleet:
    """Up to N ``codestream relay`` processes on one Redis; a trial uses the first n of them."""

    def __init__(self, redis_url: str, workdir: Path):
        self.redis_url = redis_url
        self.workdir = workdir
        self.processes: list[subprocess.Popen] = []
        self.ports: list[int] = []

    def start(self, n: int) -> RelayFleet:
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        for i in range(n):
            port = free_port()
            log = open(self.workdir / f"relay-{i}.log", "ab")
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyter_ext.cli", "relay", "--port", str(port),
                 "--redis", self.redis_url, "--log-level", "WARNING",
                 "--max-streams-per-address", "100000"],  # every simulated student is on loopback
                stdout=log, stderr=subprocess.STDOUT, env=env)
            self.processes.append(process)
            self.ports.append(port)
        for process, port in zip(self.processes, self.ports):
            wait_until(lambda p=process, q=port: _ready(p, f"http://127.0.0.1:{q}/readyz"), 60,
                       interval=0.1, what=f"relay on {port}")
        return self

    def urls(self, n: int) -> list[str]:
        return [f"http://127.0.0.1:{port}/" for port in self.ports[:n]]

    def pids(self, n: int) -> list[int]:
        return [p.pid for p in self.processes[:n]]

    def stop(self) -> None:
        stop_processes(self.processes, timeout=20)


def _ready(process: subprocess.Popen, url: str) -> bool:
    import httpx

    if process.poll() is not None:
        raise RuntimeError(f"{url}: process exited ({process.returncode})")
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


# -- one trial ---------------------------------------------------------------------------------
async def publish_burst(store: SessionStore, code: str, n: int) -> None:
    """``n`` ``published`` events in one pipeline, entries exactly as the store writes them.

    One round trip, so the figure is the servers' fan-out, not the publisher's pace (publishing
    one cell at a time, the publisher shares the same 2 cores and would set the rate).
    """
    async with store.redis.pipeline(transaction=False) as pipe:
        for i in range(n):
            store._queue_event(pipe, code, "published", {
                "session": code, "cell_id": f"c{i}", "version": 1, "cell_type": "code",
                "position": i, "updated": ""})
        await pipe.execute()


async def run_trial(store: SessionStore, config: str, bases: list[str], pids: list[int],
                    redis_pid: int, size: FanoutSize) -> Trial:
    trial = Trial(config, len(bases), size.subscribers, size.events)
    record, key = await store.create_session(f"bench {config}")
    code = record.code
    urls = [f"{bases[i % len(bases)]}codestream/api/sessions/{code}/events" for i in range(size.subscribers)]
    workers = []
    try:
        for w in range(size.workers):
            spec = {"urls": urls[w::size.workers], "key": key, "name": f"w{w}", "events": size.events,
                    "timeout": size.timeout, "open_timeout": 60.0}
            workers.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.relay_subscribers", "--spec", json.dumps(spec),
                cwd=str(REPO_ROOT), env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                stdout=asyncio.subprocess.PIPE))
        for worker in workers:
            line = await asyncio.wait_for(worker.stdout.readline(), 90)
            if line.strip() != b"READY":
                trial.errors.append(f"a subscriber worker did not get ready: {line[:200]!r}")
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        redis_before = cpu_seconds(redis_pid)
        started = time.time()
        await publish_burst(store, code, size.events)
        trial.publish_s = time.time() - started
        streams = []
        for worker in workers:
            out, _ = await asyncio.wait_for(worker.communicate(), size.timeout + 90)
            report = json.loads(out.decode().strip().splitlines()[-1])
            streams += report["streams"]
            trial.client_cpu_s = round(trial.client_cpu_s + report["cpu_s"], 3)
        trial.server_cpu_s = round(sum(cpu_seconds(pid) for pid in pids) - cpu_before, 3)
        trial.redis_cpu_s = round(cpu_seconds(redis_pid) - redis_before, 3)
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
        await store.delete_session(code)

    latencies, lasts = [], []
    for stream in streams:
        if "error" in stream:
            trial.errors.append(stream["error"])
            continue
        trial.deliveries += stream["count"]
        if stream["count"] == size.events and stream["ordered"]:
            lasts.append(stream["last"])
        latencies += stream["latency_ms"]
    trial.complete = len(lasts) == size.subscribers
    if lasts:
        trial.elapsed_s = round(max(lasts) - started, 4)
        trial.deliveries_per_s = round(trial.deliveries / max(trial.elapsed_s, 1e-6))
    if latencies:
        trial.p50_ms, trial.p99_ms = percentile(latencies, 50), percentile(latencies, 99)
    if not trial.complete:
        trial.errors.append(f"{size.subscribers - len(lasts)} streams missed events")
    return trial


async def measure(redis_url: str, redis_pid: int, teacher: JupyterServerProcess | None,
                  fleet: RelayFleet, size: FanoutSize, log=print) -> list[Trial]:
    """Interleaved rounds: the teacher's server (if given), then each relay count."""
    commands, blocking = make_clients(redis_url)
    store = SessionStore(commands)
    trials = []
    try:
        for round_no in range(size.repeats):
            configs = []
            if teacher is not None:
                configs.append(("jupyter", [teacher.url], [teacher.process.pid]))
            configs += [(f"{n} relay{'s' if n > 1 else ''}", fleet.urls(n), fleet.pids(n)) for n in size.relays]
            for config, bases, pids in configs:
                trial = await run_trial(store, config, bases, pids, redis_pid, size)
                log(f"[relay-fanout] round {round_no + 1}/{size.repeats} {config}: "
                    f"{trial.deliveries_per_s:,.0f} deliveries/s, p99 {trial.p99_ms:.0f} ms"
                    f"{'' if trial.complete else ' INCOMPLETE'}")
                trials.append(trial)
    finally:
        await commands.aclose()
        await blocking.aclose()
    return trials


def best_by_config(trials: list[Trial]) -> dict[str, Trial]:
    best: dict[str, Trial] = {}
    for trial in trials:
        current = best.get(trial.config)
        if current is None or (trial.complete, trial.deliveries_per_s) > (current.complete, current.deliveries_per_s):
            best[trial.config] = trial
    return best


def table_rows(trials: list[Trial]) -> list[dict]:
    """One row per configuration: wall-clock capacity (best round) with its same-run baseline
    (the teacher's server) and ratios; CPU figures as the median over the complete rounds."""
    best = best_by_config(trials)
    base = best.get("jupyter")
    one = best.get("1 relay")
    rows = []
    for config, trial in best.items():
        rounds = [t for t in trials if t.config == config and t.complete and t.server_cpu_s > 0] or [trial]
        cpu = statistics.median(t.server_cpu_s for t in rounds)
        per_cpu = statistics.median(t.deliveries / max(t.server_cpu_s, 1e-3) for t in rounds)
        share = (trial.server_cpu_s + trial.redis_cpu_s + trial.client_cpu_s) / max(
            trial.elapsed_s * (os.cpu_count() or 1), 1e-6)
        rows.append({
            "figure": f"event fan-out, {'teacher Jupyter server' if config == 'jupyter' else config}",
            "measured": f"{trial.deliveries_per_s:,.0f} deliveries/s" + ("" if trial.complete else " (INCOMPLETE)"),
            "baseline": "" if config == "jupyter" or base is None else f"{base.deliveries_per_s:,.0f}/s (teacher server)",
            "ratio": "" if config == "jupyter" or base is None or not base.deliveries_per_s
            else f"{trial.deliveries_per_s / base.deliveries_per_s:.2f}x",
            "vs_1_relay": "" if one is None or config in ("jupyter", "1 relay") or not one.deliveries_per_s
            else f"{trial.deliveries_per_s / one.deliveries_per_s:.2f}x",
            "p50_p99": f"{trial.p50_ms:.0f} / {trial.p99_ms:.0f} ms",
            "server_cpu": f"{cpu:.2f} s",
            "per_cpu_second": f"{per_cpu:,.0f}",
            "projected": f"{trial.servers * per_cpu:,.0f}/s",
            "redis_cpu": f"{1000 * statistics.median(t.redis_cpu_s for t in rounds):.0f} ms",
            "machine_share": f"{share:.0%}",
            "complete": trial.complete,
        })
    return rows


def format_table(rows: list[dict]) -> str:
    header = ("figure", "measured (wall clock)", "baseline (same run)", "ratio", "vs 1 relay",
              "delay p50 / p99", "server CPU, all processes", "deliveries per server CPU-s",
              "projected, 1 free core per server", "Redis CPU", "machine share")
    lines = [header] + [(r["figure"], r["measured"], r["baseline"], r["ratio"], r["vs_1_relay"],
                         r["p50_p99"], r["server_cpu"], r["per_cpu_second"], r["projected"],
                         r["redis_cpu"], r["machine_share"]) for r in rows]
    out = ["| " + " | ".join(cells) + " |" for cells in lines]
    out.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(out)


def raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))  # children inherit it


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
            "platform": platform.platform()}


# -- entry points ------------------------------------------------------------------------------
async def _main(size: FanoutSize, json_path: Path, keep: bool) -> int:
    raise_fd_limit(4 * size.subscribers + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="codestream-relay-bench-"))
    redis_server = teacher = fleet = None
    started = time.perf_counter()
    try:
        redis_server = await asyncio.to_thread(RedisServerProcess(workdir / "redis").start)
        fleet = await asyncio.to_thread(RelayFleet(redis_server.url, workdir).start, max(size.relays))
        teacher = JupyterServerProcess(workdir / "teacher", env={"CODESTREAM_REDIS_URL": redis_server.url},
                                       args=CODESTREAM_ONLY)
        await asyncio.to_thread(teacher.start, 120.0)
        load_before = machine()["load_average"]
        trials = await measure(redis_server.url, redis_server.process.pid, teacher, fleet, size)
    finally:
        if teacher is not None:
            await asyncio.to_thread(teacher.stop)
        if fleet is not None:
            await asyncio.to_thread(fleet.stop)
        if redis_server is not None:
            await asyncio.to_thread(redis_server.stop)
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = table_rows(trials)
    print()
    print(f"Relay fan-out: {size.subscribers} streams x {size.events} events per trial, best of "
          f"{size.repeats}; {os.cpu_count()} CPUs, load average {load_before} before the trials.")
    print(format_table(rows))
    print("\nmeasured = S x E / (last arrival - burst), best round (its delays and machine share);"
          " machine share = CPU our processes got / (elapsed x CPUs): below ~100% the machine was busy"
          " with other work and the wall clock says more about it than about the servers. Server CPU,"
          " deliveries per server CPU-s and Redis CPU: median of the complete rounds, independent of"
          " that; 'projected' = deliveries per CPU-s x server processes (each on a free core), an"
          " extrapolation.")
    result = {"benchmark": "relay_fanout", "machine": machine(), "load_average_before": load_before,
              "size": asdict(size), "rows": rows, "trials": [asdict(t) for t in trials],
              "seconds": round(time.perf_counter() - started, 1)}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(result, indent=2))
    print(f"\nwritten: {json_path}")
    return 0 if all(r["complete"] for r in rows) else 1


def parse_size(argv: list[str] | None) -> tuple[FanoutSize, Path, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 streams x 30 events, 1 round")
    parser.add_argument("--relays", default=None, help="relay counts to measure, e.g. 1,2,4 (default)")
    parser.add_argument("--subscribers", type=int, help="event streams per trial (default 400)")
    parser.add_argument("--events", type=int, help="events published per trial (default 100)")
    parser.add_argument("--repeats", type=int, help="rounds; each configuration's best is reported (default 2)")
    parser.add_argument("--workers", type=int, help="subscriber processes (default 2)")
    parser.add_argument("--timeout", type=float, help="seconds a trial may take once streams are open (default 60)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help=f"results file (default {DEFAULT_JSON})")
    parser.add_argument("--keep", action="store_true", help="keep the processes' folders and logs")
    args = parser.parse_args(argv)
    size = FanoutSize.quick() if args.quick else FanoutSize()
    if args.relays:
        size.relays = tuple(int(n) for n in args.relays.split(",") if n.strip())
    for name in ("subscribers", "events", "repeats", "workers", "timeout"):
        if getattr(args, name):
            setattr(size, name, getattr(args, name))
    if not size.relays or min(size.relays) < 1 or size.subscribers < 1 or size.events < 1:
        parser.error("relay counts, subscribers and events must be positive")
    return size, Path(args.json), args.keep


def main(argv: list[str] | None = None) -> int:
    size, json_path, keep = parse_size(argv)
    return asyncio.run(_main(size, json_path, keep))


async def figure(lab, size) -> list:
    """For ``python -m bench``: the same measurement on the suite's Lab (its Redis, and its
    teacher server as the baseline), as ``harness.Row``s. ``size.streams`` streams (at most 400)."""
    from .harness import Row

    fanout_size = FanoutSize(subscribers=min(size.streams, 400), events=50 if size.streams > 100 else 30,
                             repeats=1)
    fleet = await asyncio.to_thread(RelayFleet(lab.redis.url, lab.workdir).start, max(fanout_size.relays))
    try:
        trials = await measure(lab.redis.url, lab.redis.process.pid, lab.teacher, fleet, fanout_size)
    finally:
        await asyncio.to_thread(fleet.stop)
    return [Row(r["figure"], r["measured"], r["baseline"], r["ratio"], met=r["complete"] or False,
                detail={"vs_1_relay": r["vs_1_relay"], "delay_p50_p99": r["p50_p99"],
                        "server_cpu": r["server_cpu"],
                        "deliveries_per_server_cpu_second": r["per_cpu_second"],
                        "projected_one_core_per_server": r["projected"],
                        "redis_cpu": r["redis_cpu"], "machine_share": r["machine_share"]})
            for r in table_rows(trials)]


# picked up by ``python -m bench`` (its loader merges every ``bench/relay_*.py``'s FIGURES)
FIGURES = {"relay-fanout": figure}


if __name__ == "__main__":
    sys.exit(main())
