"""The student's client checks the allow-list on the address it connects to, not on an earlier lookup.

A DNS-rebinding teacher URL answers an allowed address to the policy check and a forbidden one
(here: loopback, where a real server listens) to the connection. The resolver is replaced for
the one made-up host name only; the sockets, the server and the HTTP client are real.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest

from jupyter_ext.clients.teacher import TeacherClient, TeacherConnection
from jupyter_ext.domain import InvalidUrl

REBINDING_HOST = "classroom-rebind.test"
ALLOWED = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.fixture
async def loopback_server():
    """A real server on 127.0.0.1 that counts the connections it gets (it answers 200 JSON)."""
    connections = []

    async def on_connect(reader, writer):
        connections.append(writer.get_extra_info("peername"))
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"session": {"code": "ABCDEF"}, "cells": []}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                     % (len(body), body))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], connections
    server.close()
    await server.wait_closed()


@pytest.fixture
async def rebinding_resolver(monkeypatch):
    """The made-up host resolves to 10.1.2.3 the first time and to 127.0.0.1 after that."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    lookups = []

    async def getaddrinfo(host, port, *args, **kwargs):
        if host != REBINDING_HOST:
            return await real(host, port, *args, **kwargs)
        lookups.append(host)
        address = "10.1.2.3" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return lookups


async def test_a_host_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(loopback_server,
                                                                                   rebinding_resolver):
    port, connections = loopback_server
    client = TeacherClient(allowed_networks=ALLOWED, connect_timeout=3.0, read_timeout=3.0)
    conn = TeacherConnection(teacher_url=f"http://{REBINDING_HOST}:{port}/", session_code="ABCDEF",
                             student_key="AAAA-BBBB-CCCC-DDDD-EEEE")
    try:
        with pytest.raises(InvalidUrl) as refused:
            await client.list_cells(conn)
    finally:
        await client.aclose()
    assert len(rebinding_resolver) >= 2, "the connection should have looked the host up again"
    assert connections == [], "the client connected to a forbidden address"
    assert "outside the networks" in str(refused.value)
    assert "AAAA-BBBB" not in str(refused.value)


async def test_an_allowed_address_is_connected_to_the_address_checked(loopback_server, monkeypatch):
    """With loopback allowed, the same client reaches the server: the check is not a blanket refusal."""
    port, connections = loopback_server
    client = TeacherClient(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),),
                           connect_timeout=3.0, read_timeout=3.0)
    conn = TeacherConnection(teacher_url=f"http://localhost:{port}/", session_code="ABCDEF", student_key="k")
    try:
        listing = await client.list_cells(conn)
    finally:
        await client.aclose()
    assert listing["cells"] == [] and len(connections) == 1
