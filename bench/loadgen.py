"""The load generator: raw asyncio HTTP/1.1 on loopback, as cheap per request as Python gets.

Why not httpx here: on a 2-core machine shared by the client, the servers and Redis, the
client's own CPU cost becomes part of every figure. httpx spends ~0.5 ms of CPU per request
and one task switch chain per stream; a bare ``asyncio.Protocol`` spends a few microseconds
per ``data_received``. The same client drives every figure and its baseline, so whatever it
still costs is in both sides of each ratio.

- ``HTTPConnection``: one keep-alive connection, one request at a time (``Content-Length`` or
  chunked responses).
- ``SSEConnection``: one open ``text/event-stream``; every received ``data:`` line is handed to
  a callback with the time its bytes arrived (``time.perf_counter``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from urllib.parse import urlsplit


class HTTPError(Exception):
    pass


def split_url(url: str) -> tuple[str, int, str]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80, (parts.path or "/")


class HTTPConnection:
    """A keep-alive HTTP/1.1 client connection (one request in flight)."""

    def __init__(self, host: str, port: int, headers: dict | None = None, timeout: float = 30.0):
        self.host, self.port = host, port
        self.headers = headers or {}
        self.timeout = timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> HTTPConnection:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=2 ** 22), self.timeout)
        return self

    async def request(self, method: str, path: str, body: bytes | dict | None = None,
                      headers: dict | None = None) -> tuple[int, dict, bytes]:
        if self.writer is None:
            await self.connect()
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        all_headers = {"Host": f"{self.host}:{self.port}", **self.headers, **(headers or {})}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
            all_headers["Content-Length"] = str(len(body))
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        self.writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        return await asyncio.wait_for(self._read_response(), self.timeout)

    async def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        return await self.request("GET", path, headers=headers)

    async def _read_response(self) -> tuple[int, dict, bytes]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                chunks.append(chunk[:-2])
            body = b"".join(chunks)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, headers, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


class SSEConnection(asyncio.Protocol):
    """One open event stream, read by callbacks (no task per stream).

    ``on_data(line: bytes, received_at: float)`` is called for every ``data:`` line.
    ``opened`` resolves with the response status once the headers and the first bytes arrived.
    """

    def __init__(self, on_data: Callable[[bytes, float], None]):
        self.on_data = on_data
        self.opened: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.status: int | None = None
        self.error_body = b""
        self._head = b""
        self._tail = b""
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def open(cls, host: str, port: int, path: str, headers: dict,
                   on_data: Callable[[bytes, float], None], timeout: float = 30.0,
                   local_host: str | None = None) -> SSEConnection:
        return await cls.connect(lambda: cls(on_data), host, port, path, headers, timeout, local_host)

    @staticmethod
    async def connect(factory: Callable[[], SSEConnection], host: str, port: int, path: str,
                      headers: dict, timeout: float, local_host: str | None = None) -> SSEConnection:
        """Open a stream with the protocol ``factory()`` makes; ``HTTPError`` unless it answers 200.

        ``local_host`` (e.g. 127.0.0.7) spreads many thousands of loopback connections over
        several source addresses, each with its own ephemeral port range."""
        loop = asyncio.get_running_loop()
        _transport, protocol = await asyncio.wait_for(loop.create_connection(
            factory, host, port, local_addr=(local_host, 0) if local_host else None), timeout)
        all_headers = {"Host": f"{host}:{port}", "Accept": "text/event-stream", **headers}
        head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in all_headers.items())
        protocol.transport.write(head.encode("latin-1") + b"\r\n")
        status = await asyncio.wait_for(protocol.opened, timeout)
        if status != 200:
            await asyncio.sleep(0.05)  # the error body, for the message
            protocol.close()
            raise HTTPError(f"event stream {path} answered {status}: {protocol.error_body[:200]!r}")
        return protocol

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.status is None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            self.status = int(self._head.split(b" ", 2)[1])
            data = self._head[end + 4:]
            self._head = b""
            if not self.opened.done():
                self.opened.set_result(self.status)
        if self.status != 200:
            self.error_body += data
            return
        self.body_received(data, now)

    def body_received(self, data: bytes, now: float) -> None:
        """Body bytes as they come, stamped with their arrival; calls ``on_data`` per ``data:`` line."""
        # Chunked framing lines ("1a3\r\n") never start with "data:", so they are skipped as-is.
        buffer = self._tail + data
        start = 0
        while True:
            found = buffer.find(b"data:", start)
            if found < 0:
                self._tail = buffer[max(start, len(buffer) - 8):]
                return
            end = buffer.find(b"\n", found)
            if end < 0:
                self._tail = buffer[found:]
                return
            self.on_data(buffer[found + 5:end].strip(), now)
            start = end + 1

    def connection_lost(self, exc):
        if not self.opened.done():
            self.opened.set_result(self.status or 0)
        if not self.closed.done():
            self.closed.set_result(exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def open_streams(n: int, host: str, port: int, path: str | Callable[[int], str],
                       headers_for: Callable[[int], dict],
                       on_data: Callable[[int, bytes, float], None], *, concurrency: int = 50,
                       timeout: float = 60.0, local_hosts: list[str] | None = None) -> list[SSEConnection]:
    """Open ``n`` event streams, ``concurrency`` at a time; ``on_data`` gets the stream index.

    ``path`` may depend on the index (streams spread over replicas behind a proxy);
    ``local_hosts`` are source addresses used in turn (see ``SSEConnection.connect``)."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> SSEConnection:
        async with semaphore:
            return await SSEConnection.open(
                host, port, path(i) if callable(path) else path, headers_for(i),
                lambda line, at, i=i: on_data(i, line, at), timeout,
                local_hosts[i % len(local_hosts)] if local_hosts else None)

    return await gather_connections(n, one, SSEConnection, "event streams", lambda s: s.close())


async def gather_connections(n: int, one, kind: type, what: str, close) -> list:
    """``one(i)`` for i < n, all at once (``one`` limits itself); every one must succeed, else
    the opened ones are closed (``close``) and ``HTTPError`` says how many failed."""
    results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    opened = [r for r in results if isinstance(r, kind)]
    errors = [r for r in results if not isinstance(r, kind)]
    if errors:
        for connection in opened:
            close(connection)
        raise HTTPError(f"{len(errors)} of {n} {what} failed to open: {errors[0]!r}")
    return opened


async def close_streams(streams: list[SSEConnection]) -> None:
    for stream in streams:
        stream.close()
    await asyncio.sleep(0)


async def throughput(host: str, port: int, path: str, headers: dict, *, concurrency: int,
                     duration: float, max_requests: int, expect_status: int = 200) -> dict:
    """Closed-loop GETs on ``concurrency`` keep-alive connections until ``duration`` or ``max_requests``."""
    deadline = time.perf_counter() + duration
    done = 0
    latencies: list[float] = []
    bad: list[int] = []

    async def worker():
        nonlocal done
        connection = await HTTPConnection(host, port, headers).connect()
        try:
            while done < max_requests and time.perf_counter() < deadline:
                done += 1
                started = time.perf_counter()
                status, _headers, _body = await connection.get(path)
                latencies.append(time.perf_counter() - started)
                if status != expect_status:
                    bad.append(status)
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if bad:
        raise HTTPError(f"{path}: {len(bad)} answers were not {expect_status} (e.g. {bad[0]})")
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
            "latencies": latencies}
