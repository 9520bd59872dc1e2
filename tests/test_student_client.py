"""The teacher client (driven through ``httpx.MockTransport``) and the student config file."""

from __future__ import annotations

import json
import os
import stat

import httpx
import pytest

from jupyter_ext.clients.teacher import TeacherClient, TeacherConnection
from jupyter_ext.domain import CodeStreamError, InvalidUrl
from jupyter_ext.domain.urls import parse_networks
from jupyter_ext.services.student_config import StudentConfig, StudentConfigStore

KEY = "s3cret-student-key-123456"
CONN = TeacherConnection("http://10.0.0.5:8888/", "ABCDEF", KEY)
CELL = {"cell_id": "c1", "cell_type": "code", "source": "x = 1", "version": 1, "position": 1.0,
        "updated": "2025-01-01T00:00:00.000+00:00"}
LISTING = {"session": "ABCDEF", "title": "", "cells": [CELL], "last_event_id": "1-0"}


def client_for(handler, **kwargs) -> TeacherClient:
    return TeacherClient(transport=httpx.MockTransport(handler), client_id="client-1", **kwargs)


async def failure(client: TeacherClient, conn: TeacherConnection = CONN) -> CodeStreamError:
    with pytest.raises(CodeStreamError) as caught:
        await client.list_cells(conn)
    await client.aclose()
    assert KEY not in caught.value.message and KEY not in repr(caught.value)
    return caught.value


async def test_sends_the_key_as_bearer_and_the_client_id():
    seen = []

    def handler(request: httpx.Request):
        seen.append(request)
        return httpx.Response(200, json=LISTING)

    client = client_for(handler)
    assert (await client.list_cells(CONN))["cells"] == [CELL]
    await client.aclose()
    request = seen[0]
    assert str(request.url) == "http://10.0.0.5:8888/codestream/api/sessions/ABCDEF/cells"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-CodeStream-Client"] == "client-1"
    assert KEY not in repr(CONN)


@pytest.mark.parametrize("status,body,code", [
    (401, {"error": {"code": "unauthorized", "message": "no"}}, "unauthorized"),
    (403, "<html>forbidden</html>", "unauthorized"),
    (429, {"error": {"code": "too_many_requests", "message": "wait"}}, "unauthorized"),
    (404, {"error": {"code": "session_not_found", "message": "no"}}, "session_not_found"),
    (400, {"error": {"code": "invalid_session_code", "message": "no"}}, "session_not_found"),
    (404, "<html>404: Not Found</html>", "bad_response"),
    (500, "oops", "bad_response"),
    (503, {"error": {"code": "store_unavailable", "message": "down"}}, "bad_response"),
    (200, "not json", "bad_response"),
    (200, {"cells": "nope"}, "bad_response"),
    (200, {"cells": [{**CELL, "version": "1"}]}, "bad_response"),
    (200, {"cells": [{**CELL, "cell_type": "python"}]}, "bad_response"),
])
async def test_teacher_answers_map_to_contract_codes(status, body, code):
    def handler(request):
        if isinstance(body, str):
            return httpx.Response(status, text=body)
        return httpx.Response(status, json=body)

    error = await failure(client_for(handler))
    assert error.code == code and error.message


@pytest.mark.parametrize("exc,code", [
    (httpx.ConnectError("refused"), "unreachable"),
    (httpx.ConnectTimeout("slow"), "unreachable"),
    (httpx.ReadTimeout("slow"), "timeout"),
    (httpx.RemoteProtocolError("garbage"), "unreachable"),
])
async def test_transport_failures_map_to_contract_codes(exc, code):
    def handler(request):
        raise exc

    error = await failure(client_for(handler))
    assert error.code == code and ("address" in error.message or "answer" in error.message)


async def test_redirects_only_within_the_origin():
    def handler(request: httpx.Request):
        if request.url.path == "/codestream/api/sessions/ABCDEF/cells":
            return httpx.Response(307, headers={"Location": "/moved/cells"})
        if request.url.path == "/moved/cells":
            assert request.headers["Authorization"] == f"Bearer {KEY}"
            return httpx.Response(200, json=LISTING)
        raise AssertionError(request.url)

    client = client_for(handler)
    assert (await client.list_cells(CONN))["session"] == "ABCDEF"
    await client.aclose()

    other_origin = []

    def elsewhere(request: httpx.Request):
        if request.url.host == "evil.example":
            other_origin.append(request)
        return httpx.Response(302, headers={"Location": "http://evil.example/steal"})

    error = await failure(client_for(elsewhere))
    assert error.code == "bad_response" and "redirected" in error.message and other_origin == []

    def loop(request):
        return httpx.Response(302, headers={"Location": str(request.url)})

    assert (await failure(client_for(loop))).code == "bad_response"


async def test_response_size_is_capped():
    big = {**LISTING, "cells": [{**CELL, "source": "x" * 5000}]}

    def handler(request):
        return httpx.Response(200, json=big)

    error = await failure(client_for(handler, max_response_bytes=1000))
    assert error.code == "bad_response" and "1000 bytes" in error.message

    def streamed(request):  # no Content-Length: the cap applies while reading
        return httpx.Response(200, stream=httpx.ByteStream(json.dumps(big).encode()),
                              headers={"Transfer-Encoding": "chunked"})

    assert (await failure(client_for(streamed, max_response_bytes=1000))).code == "bad_response"


async def test_event_stream_parsing_and_line_cap():
    body = ": connected\n\nid: 1-0\nevent: published\ndata: {\"cell_id\": \"c1\", \"version\": 1}\n\n"

    def handler(request):
        assert request.headers["Last-Event-ID"] == "0-0"
        return httpx.Response(200, text=body, headers={"Content-Type": "text/event-stream"})

    client = client_for(handler)
    async with client.open_events(CONN, "0-0") as events:
        received = [event async for event in events]
    assert [(e.id, e.event, e.json()["cell_id"]) for e in received] == [("1-0", "published", "c1")]

    def endless_line(request):
        return httpx.Response(200, text="data: " + "x" * 5000, headers={"Content-Type": "text/event-stream"})

    small = client_for(endless_line, max_event_bytes=1000)
    with pytest.raises(CodeStreamError) as caught:
        async with small.open_events(CONN, None) as events:
            [event async for event in events]
    assert caught.value.code == "bad_response"
    await client.aclose()
    await small.aclose()


async def test_network_allow_list_is_applied_before_connecting():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json=LISTING)

    client = client_for(handler, allowed_networks=parse_networks(["10.0.0.0/8"]))
    assert (await client.list_cells(CONN))["session"] == "ABCDEF"
    outside = TeacherConnection("http://192.0.2.10:8888/", "ABCDEF", KEY)
    with pytest.raises(InvalidUrl):
        await client.list_cells(outside)
    by_name = TeacherConnection("http://localhost:8888/", "ABCDEF", KEY)  # resolves to loopback
    with pytest.raises(InvalidUrl, match="outside the networks"):
        await client.list_cells(by_name)
    await client.aclose()
    assert len(calls) == 1


def test_config_file_is_private_atomic_and_survives_damage(tmp_path):
    folder = tmp_path / "data" / "codestream"
    store = StudentConfigStore(folder)
    assert store.load() is None
    config = StudentConfig("http://10.0.0.5:8888/", "ABCDEF", KEY)
    store.save(config)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert sorted(p.name for p in folder.iterdir()) == ["student.json"]
    assert KEY not in repr(config) and config.public_dict() == {
        "teacher_url": "http://10.0.0.5:8888/", "session_code": "ABCDEF", "has_key": True}

    reloaded = StudentConfigStore(folder)
    assert reloaded.load() == config
    client_id = reloaded.client_id()
    assert StudentConfigStore(folder).client_id() == client_id

    store.path.write_text("{broken")
    assert StudentConfigStore(folder).load() is None
    store.delete()
    assert not store.path.exists() and store.config is None
