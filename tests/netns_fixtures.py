"""Test hosts in Linux network namespaces, joined by a veth pair whose link a test can cut.

``NetnsLink`` makes two namespaces (say "teacher" and "student"), a veth pair between them
and a /30 from a private test range (10.231.0.0/16) assigned only inside them; nothing is
added to the machine's own network. ``cut()`` makes the link drop every packet in both
directions without a word (a ``pfifo`` queue of length 0 on both ends: no RST, no FIN, no
ICMP; new connections hang), ``restore()`` lets traffic through again, ``delete()`` removes
both namespaces (and with them the veth pair).

Processes run in a namespace because they are started from a thread that entered it (a
child inherits the network namespace of the thread that forks it); the test talks to them
through such threads too (``NetnsLink.run``). Needs root and iproute2 (``ip``, ``tc``); CI has
both, so the fixture fails there when they are missing and skips only outside CI.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jupyter_ext.pytest_plugin import SSEReader

CLONE_NEWNET = 0x40000000
TEST_NET = "10.231"  # 10.231.<n>.0/30 per link; only ever inside the test's namespaces
_libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name: str) -> None:
    """Move the calling thread (only it) into network namespace ``name``."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=30)


class NetnsLink:
    """Two namespaces and the veth link between them; ``roles`` name the two ends."""

    def __init__(self, roles: tuple[str, str]):
        tag = secrets.token_hex(3)
        self.roles = roles
        self.names = {role: f"cs{tag}{role[:5]}" for role in roles}
        self.devices = {role: f"cs{tag}{i}" for i, role in enumerate(roles)}
        subnet = f"{TEST_NET}.{secrets.randbelow(250) + 1}"
        self.addresses = {roles[0]: f"{subnet}.1", roles[1]: f"{subnet}.2"}
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self.created: list[str] = []

    def create(self) -> NetnsLink:
        for role in self.roles:
            _ip("netns", "add", self.names[role])
            self.created.append(self.names[role])
        a, b = self.roles
        _ip("link", "add", self.devices[a], "type", "veth", "peer", "name", self.devices[b])
        for role in self.roles:
            ns, dev = self.names[role], self.devices[role]
            _ip("link", "set", dev, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{self.addresses[role]}/30", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        """Silently drop every packet on the link, both ways."""
        for role in self.roles:
            self._tc(role, "replace", "root", "pfifo", "limit", "0")

    def restore(self) -> None:
        for role in self.roles:
            self._tc(role, "del", "root")

    def _tc(self, role: str, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", self.names[role], "tc", "qdisc", args[0], "dev",
                        self.devices[role], *args[1:]], check=True, capture_output=True, timeout=30)

    def run(self, role: str, fn, *args, timeout: float = 120.0, **kwargs):
        """Call ``fn`` on a thread inside ``role``'s namespace (sockets it opens live there)."""
        executor = self._executors.get(role)
        if executor is None:
            executor = self._executors[role] = ThreadPoolExecutor(
                max_workers=2, thread_name_prefix=f"netns-{role}",
                initializer=enter_netns, initargs=(self.names[role],))
        return executor.submit(fn, *args, **kwargs).result(timeout)

    def delete(self) -> None:
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)
        self._executors.clear()
        for name in self.created:
            _ip("netns", "del", name, check=False)
        self.created.clear()


class NetnsSSEReader(SSEReader):
    """``SSEReader`` whose reading thread lives in a network namespace."""

    def __init__(self, netns: str, url: str, headers: dict):
        self.netns = netns
        super().__init__(url, headers)

    def _run(self, url, headers):
        try:
            enter_netns(self.netns)
        except OSError:
            self.opened.set()
            self.ended.set()
            raise
        super()._run(url, headers)

    def wait_for_comment(self, text: str, timeout: float) -> float:
        """Wait until a comment line ``text`` arrives; returns the monotonic time it was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.comment_lines:
                return time.monotonic()
            time.sleep(0.02)
        raise AssertionError(f"no ': {text}' within {timeout} s; comments: {self.comment_lines[-5:]}")


def netns_available() -> str | None:
    """Why network namespaces cannot be used here, or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"no '{tool}' (apt-get install iproute2)"
    return None


@pytest.fixture
def cs_netns_link():
    """``make(("teacher", "student"))`` -> a created ``NetnsLink``; every namespace made is
    deleted after the test, pass or fail."""
    reason = netns_available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the network-fault tests: {reason}")
        pytest.skip(reason)
    links: list[NetnsLink] = []
    lock = threading.Lock()

    def make(roles: tuple[str, str]) -> NetnsLink:
        link = NetnsLink(roles)
        with lock:
            links.append(link)
        return link.create()

    yield make
    for link in links:
        link.delete()
