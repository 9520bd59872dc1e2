"""10,000 students, simulated, and any read service through a proxy vs direct.

``students-10k`` (``python -m bench --only students-10k``): K ``codestream relay`` replicas
(default 4) over the bench's one Redis, behind one configurable-http-proxy (CHP, the proxy
JupyterHub runs; it routes by path prefix, so replica i serves ``/r<i>/`` and the streams are
split evenly over the prefixes, as a hub's per-user routes split users). The teacher's server
publishes; each event must reach every one of the N streams. Interleaved with two baselines on
one more replica, in the same run: 1,000 streams through the same proxy, and 1,000 streams
straight on that replica (no proxy): the proxy's own share, the shape of the hub path
(publish → hub proxy → hub service; ``proxy_vs_direct`` takes any service URL).

Per-delivery CPU = CPU seconds the relays (and, separately, the proxy) used during the rounds /
(rounds × streams). Loopback only; the load generator's connections use source addresses
127.0.0.2–9 so that 20,000+ loopback sockets never run out of ephemeral ports; the fd limit is
raised in-process (root may raise the hard one).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from jupyter_ext.pytest_plugin import free_port, wait_until

from .harness import REPO_ROOT, Lab, Row, cpu_seconds, ms, percentile, raise_fd_limit, rss_bytes, timed
from .loadgen import close_streams, open_streams
from .teacher_figures import FanoutProbe, Size, publish_round, put_cell

LOCAL_HOSTS = [f"127.0.0.{i}" for i in range(2, 10)]


def find_chp() -> str:
    for candidate in (shutil.which("configurable-http-proxy"),
                      str(REPO_ROOT / "node_modules" / ".bin" / "configurable-http-proxy"),
                      "/work/main/node_modules/.bin/configurable-http-proxy"):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("configurable-http-proxy not found (npm ci installs it into node_modules/)")


class Proxy:
    """One configurable-http-proxy on loopback; ``route(prefix, target)`` adds a route."""

    def __init__(self, lab: Lab, name: str = "chp"):
        self.lab = lab
        self.name = name
        self.port, self.api_port = free_port(), free_port()
        self.token = secrets.token_hex(16)
        self.process: subprocess.Popen | None = None

    def start(self) -> Proxy:
        log = open(self.lab.workdir / f"{self.name}.log", "ab")
        env = {**os.environ, "CONFIGPROXY_AUTH_TOKEN": self.token}
        self.process = subprocess.Popen(
            [find_chp(), "--ip", "127.0.0.1", "--port", str(self.port), "--api-ip", "127.0.0.1",
             "--api-port", str(self.api_port), "--log-level", "warn"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        self.lab.others.append(self.process)
        wait_until(self._up, 30, interval=0.1, what="configurable-http-proxy")
        return self

    def _api(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        return httpx.request(method, f"http://127.0.0.1:{self.api_port}/api/routes{path}", json=body,
                             headers={"Authorization": f"token {self.token}"}, timeout=5)

    def _up(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"configurable-http-proxy exited; see {self.name}.log")
        try:
            return self._api("GET", "").status_code == 200
        except httpx.HTTPError:
            return False

    def route(self, prefix: str, target: str) -> None:
        r = self._api("POST", prefix, {"target": target})
        if r.status_code not in (200, 201):
            raise RuntimeError(f"CHP route {prefix}: {r.status_code}")


def start_relay(lab: Lab, name: str, base_url: str, max_per_session: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = lab.start_process(
        [sys.executable, "-m", "jupyter_ext.cli", "relay", "--port", str(port), "--redis", lab.redis.url,
         "--base-url", base_url, "--log-level", "WARNING", "--max-streams-per-session", str(max_per_session),
         "--max-streams", str(max(10_000, max_per_session)),
         "--max-streams-per-address", "100000"],  # every simulated student is on loopback
        name, ready_url=f"http://127.0.0.1:{port}{base_url}readyz")
    return process, port


@dataclass
class Config:
    """One measured configuration: a session, N streams, where they connect."""

    name: str
    code: str
    key: str
    probe: FanoutProbe
    pids: list[int]
    delays: list[float]
    cpu: float = 0.0


async def students_10k(lab: Lab, size: Size) -> list[Row]:
    n, replicas, n_base, rounds = size.scale_streams, size.scale_replicas, size.scale_baseline, size.scale_rounds
    fd_limit = raise_fd_limit(4 * (n + 2 * n_base) + 4096)
    # A proxied stream holds two sockets in the proxy. When one process may not open that many
    # (this container's hard limit is 20,000 and cannot be raised), the proxy tier is several
    # CHP processes with the same routes, streams split evenly; the table says how many.
    n_proxies = max(1, -(-(2 * (n + n_base) + 2000) // fd_limit))
    per_replica = -(-n // replicas)
    with timed(f"start {replicas + 1} relays and {n_proxies} configurable-http-proxy"):
        relays = [start_relay(lab, f"relay-{i}", f"/r{i}/", per_replica + 100) for i in range(replicas)]
        base_relay = start_relay(lab, "relay-base", "/b/", n_base + 100)
        proxies = [Proxy(lab, f"chp-{j}").start() for j in range(n_proxies)]
        for proxy in proxies:
            for i, (_p, port) in enumerate(relays):
                proxy.route(f"/r{i}", f"http://127.0.0.1:{port}")
            proxy.route("/b", f"http://127.0.0.1:{base_relay[1]}")
        proxy = proxies[0]
    configs = []
    for name in ("scale", "proxied", "direct"):
        session = await lab.create_session(f"10k {name}")
        configs.append(Config(name, session["code"], session["student_key"],
                              FanoutProbe(n if name == "scale" else n_base), [], []))
    scale, proxied, direct = configs
    scale.pids = [p.pid for p, _ in relays]
    proxied.pids = direct.pids = [base_relay[0].pid]

    def headers(config: Config):
        return lambda i: {"Authorization": f"Bearer {config.key}", "X-CodeStream-Client": f"{config.name}-{i}"}

    events = "codestream/api/sessions/{code}/events"
    try:
        with timed(f"open {n} streams through the proxy to {replicas} relays, {n_base} proxied and"
                   f" {n_base} direct to one more"):
            for j, through in enumerate(proxies):  # stream i: replica i % replicas, proxy j
                share = range(j, n, n_proxies)
                scale.probe.streams += await open_streams(
                    len(share), "127.0.0.1", through.port,
                    lambda k, share=share: f"/r{share[k] % replicas}/" + events.format(code=scale.code),
                    lambda k, share=share: headers(scale)(share[k]),
                    lambda k, line, at: scale.probe.on_data(k, line, at),
                    concurrency=100, timeout=120, local_hosts=LOCAL_HOSTS)
            proxied.probe.streams = await open_streams(
                n_base, "127.0.0.1", proxy.port, "/b/" + events.format(code=proxied.code), headers(proxied),
                proxied.probe.on_data, concurrency=100, timeout=120, local_hosts=LOCAL_HOSTS)
            direct.probe.streams = await open_streams(
                n_base, "127.0.0.1", base_relay[1], "/b/" + events.format(code=direct.code), headers(direct),
                direct.probe.on_data, concurrency=100, timeout=120, local_hosts=LOCAL_HOSTS)
        await asyncio.sleep(2.0)
        proxy_rss = sum(rss_bytes(p.process.pid) for p in proxies)
        relay_rss = [rss_bytes(p.pid) for p, _ in relays]
        proxy_cpu = {c.name: 0.0 for c in configs}
        publisher = await lab.connection()
        try:
            with timed(f"{rounds} interleaved rounds: {n} via {replicas} relays, {n_base} proxied, {n_base} direct"):
                for r in range(rounds):
                    for config in configs:
                        cell_id = f"{config.name}{r:03d}"

                        async def publish(config=config, cell_id=cell_id):
                            await put_cell(publisher, config.code, cell_id, r)

                        before = [cpu_seconds(pid) for pid in config.pids]
                        proxy_before = sum(cpu_seconds(p.process.pid) for p in proxies)
                        config.delays += (await publish_round(publish, [config.probe], f'"{cell_id}"',
                                                              timeout=60.0))[0]
                        config.cpu += sum(cpu_seconds(pid) for pid in config.pids) - sum(before)
                        proxy_cpu[config.name] += sum(cpu_seconds(p.process.pid) for p in proxies) - proxy_before
                        await asyncio.sleep(0.3)
        finally:
            await publisher.close()
    finally:
        for config in configs:
            await close_streams(config.probe.streams)
        for process in [p for p, _ in relays] + [base_relay[0]] + [p.process for p in proxies]:
            lab.stop_process(process)

    def per_delivery_us(config: Config, cpu: float) -> float:
        return cpu / (rounds * config.probe.n) * 1e6

    stats = {c.name: (percentile(c.delays, 50), percentile(c.delays, 99)) for c in configs}
    detail = {"streams": n, "replicas": replicas, "proxies": n_proxies, "fd_limit": fd_limit, "baseline_streams": n_base, "rounds": rounds,
              **{f"{c.name}_p50_ms": stats[c.name][0] * 1000 for c in configs},
              **{f"{c.name}_p99_ms": stats[c.name][1] * 1000 for c in configs},
              **{f"{c.name}_relay_cpu_us_per_delivery": per_delivery_us(c, c.cpu) for c in configs},
              **{f"{c.name}_proxy_cpu_us_per_delivery": per_delivery_us(c, proxy_cpu[c.name]) for c in configs},
              "proxy_rss_mb": proxy_rss / 2 ** 20, "relay_rss_mb": [x / 2 ** 20 for x in relay_rss],
              "deliveries": sum(len(c.delays) for c in configs)}
    s50, s99 = stats["scale"]
    p50, p99 = stats["proxied"]
    d50, d99 = stats["direct"]
    return [
        Row(f"{n} students: publish → event on all {n} streams, through "
            + ("one configurable-http-proxy" if n_proxies == 1 else
               f"{n_proxies} configurable-http-proxy processes (same routes; one may hold only"
               f" {fd_limit} files here: 2 sockets per stream)")
            + f" to {replicas} relays over one Redis, p50 / p99 (relay CPU"
            f" {detail['scale_relay_cpu_us_per_delivery']:.0f} µs + proxy"
            f" {detail['scale_proxy_cpu_us_per_delivery']:.0f} µs per delivery)",
            f"{ms(s50)} / {ms(s99)} (all {n} × {rounds} delivered)",
            f"{n_base} streams on one relay through the same proxy: {ms(p50)} / {ms(p99)}; relay"
            f" {detail['proxied_relay_cpu_us_per_delivery']:.0f} µs + proxy"
            f" {detail['proxied_proxy_cpu_us_per_delivery']:.0f} µs per delivery",
            f"{s99 / p99:.1f}× p99 for {n // n_base}× the students", "every event to all; reported",
            True, detail),
        Row(f"publish → {n_base} streams on one relay through configurable-http-proxy vs straight on"
            " it (the hub path's shape), p50 / p99", f"{ms(p50)} / {ms(p99)}",
            f"direct: {ms(d50)} / {ms(d99)}", f"{p99 / d99:.2f}× p99", "p99 ≤ 1.5×", p99 <= 1.5 * d99, detail),
    ]


async def proxy_vs_direct(service_url: str, proxy_url: str, events_path: str, headers: dict, n: int,
                          rounds: int, publish: Callable[[int, str], Awaitable[None]]) -> dict:
    """Any read service: ``n`` streams at ``proxy_url`` and ``n`` at ``service_url`` (the same
    service behind that proxy); each round ``publish(r, marker)`` makes an event whose data
    carries ``marker``, seen by both sets at once; p50/p99 of each. For the hub service (issue 17
    item 3) pass the hub's proxy URL, the service's own URL and a hub token in ``headers``."""
    from .loadgen import split_url

    probes = {"proxy": FanoutProbe(n), "direct": FanoutProbe(n)}
    for name, url in (("proxy", proxy_url), ("direct", service_url)):
        host, port, base = split_url(url)
        probes[name].streams = await open_streams(
            n, host, port, base.rstrip("/") + "/" + events_path.lstrip("/"), lambda i: headers,
            probes[name].on_data, concurrency=100, local_hosts=LOCAL_HOSTS)
    delays: dict[str, list[float]] = {"proxy": [], "direct": []}
    try:
        for r in range(rounds):
            marker = f"pvd{r:04d}"
            seen = await publish_round(lambda: publish(r, marker), list(probes.values()), marker)
            for name, got in zip(probes, seen):
                delays[name] += got
            await asyncio.sleep(0.2)
    finally:
        for probe in probes.values():
            await close_streams(probe.streams)
    return {name: {"p50_ms": percentile(d, 50) * 1000, "p99_ms": percentile(d, 99) * 1000}
            for name, d in delays.items()}


FIGURES = {"students-10k": students_10k}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scale --service URL --proxy URL --code CODE --read-auth 'Bearer KEY'
    --teacher URL --teacher-token TOKEN``: publish → N streams through the proxy vs straight on
    the service, for any running read service (a relay, the hub service behind the hub's CHP)."""
    import argparse

    from .loadgen import HTTPConnection, split_url

    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=main.__doc__.splitlines()[0])
    parser.add_argument("--service", required=True, help="the read service's own base URL")
    parser.add_argument("--proxy", required=True, help="the same service's base URL through the proxy")
    parser.add_argument("--code", required=True, help="a live session code the service serves")
    parser.add_argument("--read-auth", required=True, help="Authorization header value for its event streams")
    parser.add_argument("--teacher", required=True, help="base URL the teacher publishes through")
    parser.add_argument("--teacher-token", required=True, help="that server's token")
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args(argv)
    raise_fd_limit(4 * args.streams + 1024)

    async def run() -> dict:
        host, port, base = split_url(args.teacher)
        teacher = await HTTPConnection(host, port, {"Authorization": f"token {args.teacher_token}"}).connect()

        async def publish(r: int, marker: str) -> None:
            status, _h, raw = await teacher.request(
                "PUT", f"{base.rstrip('/')}/codestream/api/sessions/{args.code}/cells/{marker}",
                {"source": f"print({r})", "cell_type": "code", "position": r})
            if status != 200:
                raise RuntimeError(f"publish answered {status}: {raw[:200]!r}")

        try:
            return await proxy_vs_direct(args.service, args.proxy, f"codestream/api/sessions/{args.code}/events",
                                         {"Authorization": args.read_auth}, args.streams, args.rounds, publish)
        finally:
            await teacher.close()

    result = asyncio.run(run())
    ratio = result["proxy"]["p99_ms"] / result["direct"]["p99_ms"]
    print(f"through the proxy: p50 {result['proxy']['p50_ms']:.1f} ms / p99 {result['proxy']['p99_ms']:.1f} ms;"
          f" direct: p50 {result['direct']['p50_ms']:.1f} ms / p99 {result['direct']['p99_ms']:.1f} ms;"
          f" {ratio:.2f}x p99 (target <= 1.5x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
