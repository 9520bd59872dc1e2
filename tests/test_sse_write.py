"""The fan-out's direct write (``web.sse.write_now``) on a real tornado server and sockets.

It hands each event's pre-framed chunk to the socket itself when the stream is idle, so these
check what tornado would otherwise guarantee: the body stays valid chunked coding, a reader
that stops reading still gets every event whole and in order once it reads again, and a gone
client is reported (so the hub queues instead of writing).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest
from tornado import httpserver, web

from jupyter_ext.domain.events import Event
from jupyter_ext.web import sse

TLS_CERT = str(Path(__file__).parent / "data" / "tls-test-cert.pem")  # self-signed for 127.0.0.1, tests only
TLS_KEY = str(Path(__file__).parent / "data" / "tls-test-key.pem")


class StreamHandler(web.RequestHandler):
    """Starts an event stream, records itself, and stays open until the test ends it."""

    def initialize(self, opened: asyncio.Queue, done: asyncio.Event):
        self.opened, self.done = opened, done

    async def get(self):
        sse.start_event_stream(self)
        self.write(": connected\n\n")
        await self.flush()
        self.request.connection.stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.opened.put_nowait(self)
        await self.done.wait()
        self.finish()


class SSEServer:
    """A real tornado HTTP server on 127.0.0.1 serving ``StreamHandler``, plain or over TLS."""

    def __init__(self, tls: bool):
        self.tls = tls
        self.opened: asyncio.Queue = asyncio.Queue()
        self.done = asyncio.Event()
        app = web.Application([(r"/events", StreamHandler, {"opened": self.opened, "done": self.done})])
        ssl_options = None
        if tls:
            ssl_options = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_options.load_cert_chain(TLS_CERT, TLS_KEY)
        self.server = httpserver.HTTPServer(app, ssl_options=ssl_options)
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        self.server.add_sockets([listener])
        self.port = listener.getsockname()[1]

    async def open_stream(self, version: str = "1.1"):
        """A client socket with a tiny receive buffer, so the server's sends fill up quickly."""

        def connect() -> socket.socket:  # in a thread: a TLS handshake needs the server's loop
            client = socket.socket()
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            client.settimeout(10)
            client.connect(("127.0.0.1", self.port))
            if self.tls:
                client = ssl.create_default_context(cafile=TLS_CERT).wrap_socket(client, server_hostname="127.0.0.1")
            client.sendall(f"GET /events HTTP/{version}\r\nHost: test\r\n\r\n".encode())
            return client

        client = await asyncio.to_thread(connect)
        handler = await asyncio.wait_for(self.opened.get(), 10)
        return client, handler

    async def close(self) -> None:
        self.done.set()
        self.server.stop()
        await self.server.close_all_connections()


@pytest.fixture(params=["plain", "tls"])
async def sse_server(request):
    server = SSEServer(tls=request.param == "tls")
    yield server
    await server.close()


def read_all(client: socket.socket, until: bytes, timeout: float = 10.0) -> bytes:
    client.settimeout(timeout)
    data = b""
    while until not in data:
        chunk = client.recv(65536)
        assert chunk, "server closed the stream early"
        data += chunk
    return data


def read_body(client: socket.socket, length: int, timeout: float = 30.0) -> tuple[bytes, str]:
    """Headers, and the dechunked body once it is ``length`` characters long."""
    client.settimeout(timeout)
    data = b""
    while True:
        head, _, body = data.partition(b"\r\n\r\n")
        if _ and body.endswith(b"\r\n"):
            text = dechunk(body).decode()
            if len(text) >= length:
                return head, text
        chunk = client.recv(65536)
        assert chunk, "server closed the stream early"
        data += chunk


def dechunk(body: bytes) -> bytes:
    """Decode chunked transfer coding strictly: every size line must match its data."""
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        assert rest[size:size + 2] == b"\r\n", "chunk data does not end where its size says"
        out, rest = out + rest[:size], rest[size + 2:]
        if size == 0:
            break
    return out


def big_event(i: int) -> Event:
    return Event(id=f"1-{i}", name="published", data={"cell_id": f"c{i}", "filler": "x" * 3000})


async def test_a_reader_that_stops_reading_gets_every_event_whole_and_in_order(sse_server):
    client, handler = await sse_server.open_stream()
    written, refused = [], 0
    for i in range(400):  # ~1.2 MB: far past what the two 4 KB socket buffers hold
        event = big_event(i)
        if sse.write_now(handler, event):
            written.append(event)
        else:
            refused += 1
            # a refused event is the caller's to queue: the handler's own write path, in order
            handler.write(sse.frame(event))
            handler.flush()
            written.append(event)
        await asyncio.sleep(0)
    assert refused > 0, "the socket never filled: the slow-reader path was not exercised"
    assert handler.request.connection.stream.writing()

    expected = ": connected\n\n" + "".join(sse.frame(event) for event in written)
    head, text = await asyncio.to_thread(read_body, client, len(expected))
    assert b"Transfer-Encoding: chunked" in head
    assert text == expected
    client.close()


async def test_an_idle_stream_gets_the_event_at_once_and_a_gone_client_is_reported(sse_server):
    client, handler = await sse_server.open_stream()
    # write_now frames its own chunks by what tornado says here (else it takes the slow path)
    assert handler.request.connection._chunking_output is True
    event = Event(id="5-0", name="updated", data={"cell_id": "a", "version": 2})
    assert sse.write_now(handler, event)
    raw = await asyncio.to_thread(read_all, client, b'"version": 2}\n\n\r\n')
    assert dechunk(raw.partition(b"\r\n\r\n")[2]).decode().endswith(sse.frame(event))

    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()  # a reset, as a crashed student machine sends
    stream = handler.request.connection.stream
    for i in range(50):
        if not sse.write_now(handler, Event(id=f"6-{i}", name="updated", data={"cell_id": "a"})):
            break
        await asyncio.sleep(0.02)
    else:
        pytest.fail("write_now kept reporting success to a client that reset its connection")
    # the hub then queues the event and the handler's own write finds the stream gone
    handler.write("data: after the reset\n\n")
    handler.flush()
    for _ in range(100):
        if stream.closed():
            break
        await asyncio.sleep(0.05)
    assert stream.closed()
    assert not sse.write_now(handler, Event(id="7-0", name="updated", data={"cell_id": "a"}))


async def test_an_http_1_0_client_gets_unframed_events(sse_server):
    client, handler = await sse_server.open_stream(version="1.0")
    event = Event(id="7-0", name="published", data={"cell_id": "b"})
    assert sse.write_now(handler, event)
    raw = await asyncio.to_thread(read_all, client, b'"cell_id": "b"}\n\n')
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" not in head
    assert body == b": connected\n\n" + sse.frame(event).encode()
    client.close()
