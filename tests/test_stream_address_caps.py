"""Per-address limits (issue 20, part 2), on real teacher servers and relays.

- Event streams are capped per remote address (``max_streams_per_address``) besides the per
  session and per process caps: one machine holding the key cannot take every place; another
  address still gets in, and the streams already open keep delivering.
- The caps fit the process's open-file limit: the soft limit is raised toward the hard one at
  start, and caps above what still fits are lowered below it, with one log line.
- The public join page answers a guesser of session codes from one address with 429.

Streams are opened from distinct loopback addresses (127.0.0.1, 127.0.0.2) with raw sockets:
the server sees two machines.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jupyter_ext.pytest_plugin import create_session, publish, wait_until
from relay_fixtures import RelayProcess

HEARTBEAT = 1.0


class RawStream:
    """An event stream request on its own socket, from ``source``; reads only the status line
    and headers (then, on demand, what the stream sends)."""

    def __init__(self, base_url: str, path: str, key: str, source: str = "127.0.0.1"):
        url = httpx.URL(base_url + path)
        self.sock = socket.create_connection((url.host, url.port), timeout=15, source_address=(source, 0))
        self.sock.sendall((f"GET {url.raw_path.decode()} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
                           f"Authorization: Bearer {key}\r\nAccept: text/event-stream\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}

    def read_until(self, needle: bytes, timeout: float = 20) -> bytes:
        self.sock.settimeout(timeout)
        while needle not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        return self.buffer

    def close(self) -> None:
        self.sock.close()


def events_path(code: str) -> str:
    return f"codestream/api/sessions/{code}/events"


def assert_too_many_streams(stream: RawStream) -> None:
    assert stream.status == 503, stream.buffer
    assert int(stream.headers["retry-after"]) > 0
    body = stream.read_until(b"}}", timeout=10)
    assert b'"too_many_streams"' in body, body


def exercise_address_cap(base_url: str, teacher, scanner) -> None:
    """Cap 2 per address: the third stream from 127.0.0.1 is refused, one from 127.0.0.2 gets
    in, the open ones keep delivering, and a closed one frees its address's place."""
    with teacher.client() as client:
        session = create_session(client, title="per address")
    scanner.add(session["student_key"])
    code, key = session["code"], session["student_key"]
    opened = [RawStream(base_url, events_path(code), key), RawStream(base_url, events_path(code), key)]
    try:
        assert [s.status for s in opened] == [200, 200]
        refused = RawStream(base_url, events_path(code), key)
        opened.append(refused)
        assert_too_many_streams(refused)
        other = RawStream(base_url, events_path(code), key, source="127.0.0.2")
        opened.append(other)
        assert other.status == 200, "another machine is not refused for the first one's streams"
        with teacher.client() as client:
            publish(client, code, "x1", "print(1)", 0)
        for stream in (opened[0], opened[1], other):
            assert b"event: published" in stream.read_until(b"event: published")
        opened[0].close()
        with teacher.client() as client:  # the closed stream is noticed at its next write
            publish(client, code, "x2", "print(2)", 1)

        def admitted() -> bool:
            stream = RawStream(base_url, events_path(code), key)
            opened.append(stream)
            return stream.status == 200

        wait_until(admitted, 20, interval=0.3, what="the closed stream's place to be free again")
    finally:
        for stream in opened:
            stream.close()


def test_teacher_server_caps_streams_per_address(cs_jupyter_server_factory, cs_module_redis, cs_secret_scanner):
    teacher = cs_jupyter_server_factory("per-address", env={"CODESTREAM_REDIS_URL": cs_module_redis.url}, args=[
        "--CodeStreamApp.max_streams_per_address=2", f"--CodeStreamApp.heartbeat_seconds={HEARTBEAT}"])
    exercise_address_cap(teacher.url, teacher, cs_secret_scanner)


def test_relay_caps_streams_per_address(cs_teacher, cs_module_redis, cs_relay_factory, cs_secret_scanner):
    relay = cs_relay_factory(cs_module_redis.url, args=[
        "--max-streams-per-address", "2", "--heartbeat-seconds", str(HEARTBEAT)])
    exercise_address_cap(relay.url, cs_teacher, cs_secret_scanner)


def test_relay_refuses_a_non_positive_address_cap():
    from jupyter_ext.relay import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--redis", "redis://127.0.0.1:1/0", "--max-streams-per-address", "0"], environ={})
    assert parse_args(["--redis", "redis://127.0.0.1:1/0"], environ={}).max_streams_per_address == 64


class LimitedRelay(RelayProcess):
    """A relay started under ``prlimit --nofile=SOFT:HARD`` (as a container or systemd would)."""

    def __init__(self, *args, nofile: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def start(self, timeout: float = 60.0) -> LimitedRelay:
        cmd = ["prlimit", f"--nofile={self.nofile}", "--", sys.executable, "-m", "jupyter_ext.cli", "relay",
               "--port", str(self.port), "--redis", self.redis_url, "--log-level", "DEBUG", *self.args]
        env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parent.parent)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(self.ready, timeout, interval=0.1, what=f"relay on port {self.port}")
        return self

    def soft_nofile(self) -> int:
        limits = Path(f"/proc/{self.process.pid}/limits").read_text()
        return int(re.search(r"Max open files\s+(\d+)", limits).group(1))


def test_stream_caps_fit_the_open_file_limit(cs_teacher, cs_module_redis, tmp_path, cs_secret_scanner):
    """Soft 200, hard 240: the relay raises its soft limit to 240, and the configured caps (the
    default 10,000 streams, 1,000 per address) no longer fit: they are lowered to what does
    (240 less a reserve of 64: 176), said in one log line, and stream 177 is a 503, not a
    failed accept."""
    relay = LimitedRelay(tmp_path / "limited", cs_module_redis.url, scanner=cs_secret_scanner, nofile="200:240",
                         args=["--max-streams-per-address", "1000", "--heartbeat-seconds", str(HEARTBEAT)])
    try:
        relay.start()
        assert relay.soft_nofile() == 240
        lines = [r for r in relay.log_records() if "open-file limit" in r.get("msg", "")]
        assert len(lines) == 1, lines
        assert "176 per process, 176 per session and 176 per address" in lines[0]["msg"]
        with cs_teacher.client() as client:
            session = create_session(client, title="descriptors")
        cs_secret_scanner.add(session["student_key"])
        streams = []
        try:
            for _ in range(176):
                streams.append(RawStream(relay.url, events_path(session["code"]), session["student_key"]))
                assert streams[-1].status == 200, streams[-1].buffer
            streams.append(RawStream(relay.url, events_path(session["code"]), session["student_key"]))
            assert_too_many_streams(streams[-1])
        finally:
            for stream in streams:
                stream.close()
    finally:
        relay.stop()


def test_join_page_is_limited_per_address(cs_jupyter_server_factory, cs_module_redis, cs_secret_scanner):
    """Unknown codes count like wrong keys (5 a minute here); past that every lookup from that
    address is 429, a live code too (or hits would still stand out); another address is not."""
    teacher = cs_jupyter_server_factory("join-limit", env={"CODESTREAM_REDIS_URL": cs_module_redis.url},
                                        args=["--CodeStreamApp.key_failures_per_minute=5"])
    with teacher.client() as client:
        live = create_session(client, title="join")["code"]
    assert httpx.get(f"{teacher.url}codestream/join/{live}").status_code == 200
    statuses = [httpx.get(f"{teacher.url}codestream/join/ZZZZZ{c}").status_code for c in "ABCDE"]
    assert statuses == [404] * 5
    blocked = httpx.get(f"{teacher.url}codestream/join/ZZZZZF")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "too_many_requests" in blocked.text
    assert httpx.get(f"{teacher.url}codestream/join/{live}").status_code == 429
    other = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"))
    with other:
        assert other.get(f"{teacher.url}codestream/join/{live}").status_code == 200
