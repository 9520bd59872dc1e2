"""The fan-out's direct write (``handlers.sse.write_now``) on a real tornado server and sockets.

It hands each event's pre-framed chunk to the socket itself when the stream is idle, so these
check what tornado would otherwise guarantee: the body stays valid chunked coding, a reader
that stops reading still gets every event whole and in order once it reads again, and a gone
client is reported (so the hub queues instead of writing).
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from tornado import httpserver, web

from jupyter_ext.handlers import sse
from jupyter_ext.store.sessions import Event


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


@pytest.fixture
async def sse_server():
    opened: asyncio.Queue = asyncio.Queue()
    done = asyncio.Event()
    app = web.Application([(r"/events", StreamHandler, {"opened": opened, "done": done})])
    server = httpserver.HTTPServer(app)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.setblocking(False)
    server.add_sockets([listener])
    yield listener.getsockname()[1], opened
    done.set()
    server.stop()
    await server.close_all_connections()


async def open_raw_stream(port: int, opened: asyncio.Queue, version: str = "1.1"):
    """A client socket with a tiny receive buffer, so the server's sends fill up quickly."""
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", port))
    client.sendall(f"GET /events HTTP/{version}\r\nHost: test\r\n\r\n".encode())
    handler = await asyncio.wait_for(opened.get(), 10)
    return client, handler


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
    port, opened = sse_server
    client, handler = await open_raw_stream(port, opened)
    written, refused = [], 0
    for i in range(400):  # ~1.2 MB: far past what the two 4 KB socket buffers hold
        event = big_event(i)
        if sse.write_now(handler, event):
            written.append(event)
        else:
            refused += 1
            # a refused event is the caller's to queue: the handler's own write path, in order
            handler.write(event.sse())
            handler.flush()
            written.append(event)
        await asyncio.sleep(0)
    assert refused > 0, "the socket never filled: the slow-reader path was not exercised"
    assert handler.request.connection.stream.writing()

    expected = ": connected\n\n" + "".join(event.sse() for event in written)
    head, text = await asyncio.to_thread(read_body, client, len(expected))
    assert b"Transfer-Encoding: chunked" in head
    assert text == expected
    client.close()


async def test_an_idle_stream_gets_the_event_at_once_and_a_gone_client_is_reported(sse_server):
    port, opened = sse_server
    client, handler = await open_raw_stream(port, opened)
    # write_now frames its own chunks by what tornado says here (else it takes the slow path)
    assert handler.request.connection._chunking_output is True
    event = Event(id="5-0", name="updated", data={"cell_id": "a", "version": 2})
    assert sse.write_now(handler, event)
    raw = await asyncio.to_thread(read_all, client, b'"version": 2}\n\n\r\n')
    assert dechunk(raw.partition(b"\r\n\r\n")[2]).decode().endswith(event.sse())

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
    port, opened = sse_server
    client, handler = await open_raw_stream(port, opened, version="1.0")
    event = Event(id="7-0", name="published", data={"cell_id": "b"})
    assert sse.write_now(handler, event)
    raw = await asyncio.to_thread(read_all, client, b'"cell_id": "b"}\n\n')
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"chunked" not in head
    assert body == b": connected\n\n" + event.sse().encode()
    client.close()
