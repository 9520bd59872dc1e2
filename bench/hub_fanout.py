"""Publish -> event on many streams through the hub's proxy and the codestream service, against
the same streams on the service directly, in the same run (issue 13's target: p99 <= 1.5x direct).

    python -m bench.hub_fanout                    # 1000 streams x 20 events, 2 rounds
    python -m bench.hub_fanout --quick            # 200 streams x 10 events, 1 round

A real JupyterHub (the tests' harness: configurable-http-proxy, the managed codestream service,
a password-protected redis-server), no single-user servers: the streams are opened with the
session's student key, which the service accepts on its read routes, so the figure is the
proxy's cost and nothing else. Each trial is ``bench.relay_fanout.run_trial`` (subscriber
worker processes, one burst of events, delays from the Redis stream id's clock); the two
configurations are interleaved and each one's best round is reported. Bounded; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from jupyter_ext.store import SessionStore
from jupyter_ext.store.connection import make_clients

from .relay_fanout import FanoutSize, best_by_config, machine, raise_fd_limit, run_trial

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "hub_fanout.json"
TARGET_RATIO = 1.5


def _hub_classes():
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from hub_fixtures import SERVICE_PREFIX, HubProcess, PasswordRedis

    return SERVICE_PREFIX, HubProcess, PasswordRedis


def _child(hub_pid: int, fragment: str) -> int:
    for child in psutil.Process(hub_pid).children(recursive=True):
        if any(fragment in part for part in child.cmdline()):
            return child.pid
    raise RuntimeError(f"no process of the hub runs {fragment}")


@dataclass
class HubPathResult:
    """Every trial of one run, and the best p99 of each configuration with their ratio."""

    trials: list
    direct: object | None
    proxied: object | None
    seconds: float

    @property
    def ratio(self) -> float:
        if self.direct and self.proxied:
            return self.proxied.p99_ms / max(self.direct.p99_ms, 1e-3)
        return float("nan")

    @property
    def complete(self) -> bool:
        return bool(self.direct and self.proxied and self.direct.complete and self.proxied.complete)


async def measure(size: FanoutSize) -> HubPathResult:
    """Start a hub (its own password-protected Redis), run the interleaved trials, stop it all."""
    prefix, HubProcess, PasswordRedis = _hub_classes()
    raise_fd_limit(4 * size.subscribers + 1024)
    workdir = Path(tempfile.mkdtemp(prefix="codestream-hub-bench-"))
    password = secrets.token_urlsafe(24)
    redis = await asyncio.to_thread(PasswordRedis(workdir / "redis", password).start)
    hub = HubProcess(workdir, redis, password)
    started = time.perf_counter()
    trials = []
    try:
        await asyncio.to_thread(hub.start)
        service_pid = _child(hub.process.pid, "hub-service")
        proxy_pid = _child(hub.process.pid, "configurable-http-proxy")
        configs = [("service direct", f"http://127.0.0.1:{hub.service_port}/{prefix}", [service_pid]),
                   ("through the hub proxy", f"{hub.url}{prefix}", [service_pid, proxy_pid])]
        commands, blocking = make_clients(hub.redis_url)
        store = SessionStore(commands)
        try:
            for round_no in range(size.repeats):
                for config, base, pids in configs:
                    trial = await run_trial(store, config, [base], pids, redis.process.pid, size)
                    print(f"[hub-fanout] round {round_no + 1}/{size.repeats} {config}: p99 {trial.p99_ms:.0f} ms"
                          f"{'' if trial.complete else ' INCOMPLETE ' + '; '.join(trial.errors[:2])}", flush=True)
                    trials.append(trial)
        finally:
            await commands.aclose()
            await blocking.aclose()
    finally:
        await asyncio.to_thread(hub.stop)
        await asyncio.to_thread(redis.stop)
    best = best_by_config(trials)
    return HubPathResult(trials, best.get("service direct"), best.get("through the hub proxy"),
                         round(time.perf_counter() - started, 1))


async def _main(size: FanoutSize, json_path: Path) -> int:
    result = await measure(size)
    print(f"\nHub fan-out: {size.subscribers} streams x {size.events} events, best of {size.repeats};"
          f" {machine()['cpus']} CPUs, load average {machine()['load_average']}.")
    for trial in (result.direct, result.proxied):
        if trial is not None:
            print(f"  {trial.config:24s} p50 {trial.p50_ms:6.0f} ms  p99 {trial.p99_ms:6.0f} ms"
                  f"  {trial.deliveries_per_s:9,.0f} deliveries/s  server CPU {trial.server_cpu_s:.2f} s"
                  f"{'' if trial.complete else '  INCOMPLETE'}")
    print(f"  p99 ratio proxy/direct: {result.ratio:.2f}x (target <= {TARGET_RATIO}x)")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({
        "benchmark": "hub_fanout", "machine": machine(), "size": asdict(size), "p99_ratio": result.ratio,
        "trials": [asdict(t) for t in result.trials], "seconds": result.seconds}, indent=2))
    print(f"written: {json_path}")
    return 0 if result.complete else 1


async def figure(lab, size) -> list:
    """``hub-path`` in ``python -m bench``: ``size.streams`` streams (1000; 100 with --quick)
    through the hub's proxy vs the service directly, on a hub of its own (the Lab's Redis has
    no password, and the service must be the only holder of it)."""
    from .harness import Row

    quick = size.streams <= 100
    fanout_size = FanoutSize(subscribers=size.streams, events=10 if quick else 20, repeats=1 if quick else 2,
                             relays=(1,), timeout=60.0 if quick else 90.0)
    result = await measure(fanout_size)
    direct, proxied = result.direct, result.proxied
    if not (direct and proxied):
        return [Row("hub-path", "FAILED: no complete trial", met=False)]
    met = result.complete and result.ratio <= TARGET_RATIO
    return [Row(f"hub-path: publish -> {size.streams} streams via hub proxy, p99",
                f"{proxied.p99_ms:.0f} ms (p50 {proxied.p50_ms:.0f})",
                f"service direct {direct.p99_ms:.0f} ms (p50 {direct.p50_ms:.0f})",
                f"{result.ratio:.2f}x", f"<= {TARGET_RATIO}x", met=met,
                detail={"events": fanout_size.events, "rounds": fanout_size.repeats,
                        "server_cpu_s": {"direct": direct.server_cpu_s, "proxied": proxied.server_cpu_s},
                        "complete": result.complete, "seconds": result.seconds})]


FIGURES = {"hub-path": figure}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hub_fanout", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 streams x 10 events, 1 round")
    parser.add_argument("--subscribers", type=int)
    parser.add_argument("--events", type=int)
    parser.add_argument("--repeats", type=int)
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args(argv)
    size = FanoutSize(subscribers=1000, events=20, repeats=2, relays=(1,), timeout=90.0)
    if args.quick:
        size = FanoutSize(subscribers=200, events=10, repeats=1, relays=(1,), timeout=60.0)
    for name in ("subscribers", "events", "repeats"):
        if getattr(args, name):
            setattr(size, name, getattr(args, name))
    return asyncio.run(_main(size, Path(args.json)))


if __name__ == "__main__":
    sys.exit(main())
