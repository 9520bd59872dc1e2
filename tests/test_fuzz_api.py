"""Schemathesis against the project's own OpenAPI document, on a live Jupyter server and Redis.

Every operation of ``jupyter_ext/openapi.json`` is fuzzed with valid and invalid input, each case
sent twice — with a student key of a real session, then with the teacher's Jupyter token — and
every answer must be documented (status, content type, body schema) and never a 5xx. Half of the
cases aim at the real session and its real cells, so the success paths are fuzzed too, not only
``404 session_not_found``. Requests go through ``JupyterServerProcess.client()``, so the
credential scanner sees every response (event streams are scanned here explicitly).

The budget is small for CI; ``docs/reliability.md`` has the command for a long run.
"""

from __future__ import annotations

import json
import os
import time
import zlib

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from jupyter_ext.handlers.openapi import openapi_document
from jupyter_ext.testing import JupyterServerProcess

MAX_EXAMPLES = int(os.environ.get("CODESTREAM_FUZZ_EXAMPLES", "12"))
# Deterministic in CI (a red build always reproduces); set CODESTREAM_FUZZ_RANDOM=1 to explore.
DETERMINISTIC = os.environ.get("CODESTREAM_FUZZ_RANDOM", "") in ("", "0")
# How long an event stream that answered 200 is read before it is judged (it never ends by itself).
STREAM_READ_SECONDS = 0.3

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]



def laptop_document() -> dict:
    """The contract without its hub-only operations (``x-codestream-hub``): a laptop server has
    no such routes, and tests/test_hub_*.py exercise them under a real hub."""
    document = json.loads(openapi_document())
    for path, item in list(document["paths"].items()):
        for method in [m for m, op in item.items() if isinstance(op, dict) and op.get("x-codestream-hub")]:
            del item[method]
        if not any(isinstance(op, dict) and "responses" in op for op in item.values()):
            del document["paths"][path]
    return document


SCHEMA = schemathesis.openapi.from_dict(laptop_document())
SCHEMA.config.generation.update(
    modes=["positive", "negative"], max_examples=MAX_EXAMPLES, deterministic=DETERMINISTIC,
    with_security_parameters=False, database="none",
)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory, cs_module_redis, cs_secret_scanner):
    """A teacher server whose key limiter does not turn the fuzzer's wrong keys into 429s."""
    server = JupyterServerProcess(
        tmp_path_factory.mktemp("fuzz"), env={"CODESTREAM_REDIS_URL": cs_module_redis.url},
        args=["--CodeStreamApp.key_failures_per_minute=1000000"], scanner=cs_secret_scanner,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def real_session(fuzz_server):
    """A fresh session with two published cells, and the server's own student side connected to
    it (so the student proxy routes reach real answers). Each operation may end or re-key it."""
    teacher = fuzz_server.client()
    created = teacher.post("codestream/api/sessions", json={"title": "fuzz"})
    assert created.status_code == 201, created.text
    session = created.json()
    for position, cell_id in enumerate(("intro", "step-2")):
        r = teacher.put(f"codestream/api/sessions/{session['code']}/cells/{cell_id}",
                        json={"source": f"print({position})", "cell_type": "code", "position": position})
        assert r.status_code == 200, r.text
    r = teacher.put("codestream/api/student/config", json={
        "teacher_url": fuzz_server.url, "session_code": session["code"], "student_key": session["student_key"]})
    assert r.status_code == 200, r.text
    return {"code": session["code"], "key": session["student_key"], "cells": ["intro", "step-2"]}


@pytest.fixture
def fuzz_client(fuzz_server):
    """No default credentials: each case brings the auth mode it tests."""
    return fuzz_server.client(auth=False)


def case_choices(case) -> int:
    """Bits derived from the generated values, so a failing case shrinks and replays the same way."""
    headers = {k: v for k, v in (case.headers or {}).items() if not k.lower().startswith("x-schemathesis")}
    body = case.body if isinstance(case.body, (dict, list, str, int, float, bool)) else repr(type(case.body))
    generated = (case.path_parameters, case.query, headers, body)
    return zlib.crc32(json.dumps(generated, sort_keys=True, default=repr).encode())


def aim_at_real_session(case, session: dict, choice: int) -> None:
    """Point three cases in four at the real session (and half of those at a real cell)."""
    params = case.path_parameters
    if params and "code" in params and (choice & 1 or choice & 16):
        params["code"] = session["code"]
        if "cell_id" in params and choice & 2:
            params["cell_id"] = session["cells"][(choice >> 2) % len(session["cells"])]


def send(client: httpx.Client, case, base_url: str, headers: dict, scanner) -> httpx.Response:
    """Send a schemathesis case through a scanned httpx client; event streams are read briefly."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    body = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content" if isinstance(data, (bytes, str)) else "data"] = data
    request = client.build_request(
        kwargs["method"], kwargs["url"], headers=kwargs.get("headers"), params=kwargs.get("params") or None,
        timeout=httpx.Timeout(20.0), **body,
    )
    response = client.send(request, stream=True)
    try:
        if "text/event-stream" not in response.headers.get("content-type", ""):
            response.read()
            return response
        # The headers came within the normal timeout (a relay may first connect upstream); the
        # body is read until it has been quiet for STREAM_READ_SECONDS. httpcore takes the read
        # timeout of a body from the request's (shared) extensions when the body starts.
        request.extensions["timeout"] = {**request.extensions["timeout"], "read": STREAM_READ_SECONDS}
        received = bytearray()
        deadline = time.monotonic() + 20.0  # heartbeats alone must not keep us reading
        try:
            for chunk in response.iter_raw():
                received += chunk
                if time.monotonic() > deadline:
                    break
        except httpx.ReadTimeout:
            pass  # the stream stays open by design; judge what arrived
        response.close()
        scanner.check_text(f"{request.method} {request.url.path} event stream", received.decode("utf-8", "replace"))
        judged = httpx.Response(response.status_code, headers=response.headers, content=bytes(received),
                                request=request)
        judged.elapsed = response.elapsed
        return judged
    finally:
        response.close()


@SCHEMA.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=DETERMINISTIC, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented_and_never_5xx(case, fuzz_server, real_session, fuzz_client,
                                                  cs_secret_scanner):
    choice = case_choices(case)
    aim_at_real_session(case, real_session, choice)
    # One auth mode per case (both modes reach every route across the cases): the student key
    # of the real session, or the teacher's Jupyter token.
    headers = ({"Authorization": f"Bearer {real_session['key']}"} if choice & 8
               else fuzz_server.auth_headers())
    response = send(fuzz_client, case, fuzz_server.url, headers, cs_secret_scanner)
    case.validate_response(response, checks=CHECKS, headers=headers)
