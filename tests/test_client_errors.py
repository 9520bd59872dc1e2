"""The clients' one error boundary: callers only ever see the domain's errors, never httpx's."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
import pytest

from jupyter_ext.clients import ServerClient
from jupyter_ext.clients.teacher import TeacherClient, TeacherConnection
from jupyter_ext.domain import CodeStreamError, SessionNotFound, TooManyRequests, Unauthorized

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


def server_client(handler) -> ServerClient:
    return ServerClient("http://jupyter.test/", "token", transport=httpx.MockTransport(handler))


async def test_contract_answers_become_their_domain_types():
    def handler(request):
        status, code = {"a": (401, "unauthorized"), "b": (429, "too_many_requests"),
                        "c": (404, "session_not_found"), "d": (418, "teapot")}[request.url.path[-1]]
        return httpx.Response(status, json={"error": {"code": code, "message": "words"}})

    client = server_client(handler)
    expected = {"a": Unauthorized, "b": TooManyRequests, "c": SessionNotFound, "d": CodeStreamError}
    for path, error_type in expected.items():
        with pytest.raises(CodeStreamError) as caught:
            await client.request("GET", f"x/{path}")
        assert type(caught.value) is error_type and caught.value.message == "words"
    await client.aclose()


@pytest.mark.parametrize("exc,code", [(httpx.ConnectError("refused"), "server_unreachable"),
                                      (httpx.ReadTimeout("slow"), "server_timeout")])
async def test_transport_failures_of_requests_and_streams_are_domain_errors(exc, code):
    def handler(request):
        raise exc

    client = server_client(handler)
    with pytest.raises(CodeStreamError) as caught:
        await client.request("GET", "api/status")
    assert caught.value.code == code
    with pytest.raises(CodeStreamError) as caught:
        async for _event in client.events("codestream/api/student/events"):
            pass
    assert caught.value.code == code
    await client.aclose()


async def test_a_stream_cut_midway_is_a_domain_error():
    class Cut(httpx.AsyncByteStream):
        async def __aiter__(self):
            yield b": connected\n\nid: 1-0\nevent: published\ndata: {}\n\n"
            raise httpx.ReadError("reset by peer")

    client = server_client(lambda request: httpx.Response(200, stream=Cut()))
    events = []
    with pytest.raises(CodeStreamError) as caught:
        async for event in client.events("codestream/api/student/events"):
            events.append(event.id)
    assert events == ["1-0"] and caught.value.code == "server_unreachable"
    await client.aclose()


@pytest.fixture
async def cutting_server():
    """A real server on 127.0.0.1 that starts an event stream and then resets the connection."""
    async def on_connect(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"d\r\n: connected\n\n\r\n")
        await writer.drain()
        writer.transport.abort()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize("allow_list", [(), LOOPBACK], ids=["httpx-transport", "allow-listed-transport"])
async def test_the_teacher_client_maps_a_cut_stream_on_either_transport(cutting_server, allow_list):
    client = TeacherClient(allowed_networks=allow_list, connect_timeout=3.0, read_timeout=3.0)
    conn = TeacherConnection(f"http://127.0.0.1:{cutting_server}/", "ABCDEF", "AAAA-BBBB-CCCC-DDDD-EEEE")
    try:
        with pytest.raises(CodeStreamError) as caught:
            async with client.open_events(conn, None) as events:
                async for _event in events:
                    pass
    finally:
        await client.aclose()
    assert caught.value.code == "unreachable"
    assert "AAAA-BBBB" not in caught.value.message
