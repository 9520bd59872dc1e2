"""A hostile teacher's (or a forged join link's) JSON answers against a real student server:
bounded WHILE they are read (issue 20, item 3).

A 31 MiB answer of ``{"cells": [{}, {}, ...]}`` (under the 32 MiB byte cap, ten million empty
objects) once took a student's server to 953 MiB and it stayed at 860 MiB. Now its peak stays
within 64 MB of its idle size and every route answers the contract's error. Deeply nested JSON
(in a cell list, a cell, an error answer or an event) is an error, never a 500.
"""

from __future__ import annotations

import json

import pytest
from student_fixtures import configure

from jupyter_ext.testing import SSEReader, wait_until
from jupyter_ext.testing.http import LoopbackHTTPServer, QuietHandler

CODE = "HQSTAB"
KEY = "K" * 20
MiB = 1024 * 1024
CHUNK = 64 * 1024


def many_objects(total: int):
    """``{"cells": [{}, {}, ...]}`` of about ``total`` bytes, in chunks."""
    yield b'{"cells": ['
    item = b"{}," * (CHUNK // 3)
    sent = 0
    while sent < total:
        yield item
        sent += len(item)
    yield b"{}]}"


def deeply_nested(depth: int) -> bytes:
    return b'{"cells": [' + b"[" * depth + b"]" * depth + b"]}"


class HostileAnswers(LoopbackHTTPServer):
    """Answers every GET with the body ``mode`` names; counts the bytes it sent."""

    def __init__(self, mode: str):
        self.mode = mode
        self.bytes_sent = 0
        teacher = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                status, chunks, length, content_type = teacher.answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                if length is not None:
                    self.send_header("Content-Length", str(length))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    for chunk in chunks:
                        self.wfile.write(chunk)
                        teacher.bytes_sent += len(chunk)
                except OSError:
                    pass  # the student's server stopped reading: what it should do
                self.close_connection = True

        super().__init__(Handler)

    def answer(self, path: str):
        if self.mode == "many_objects":
            total = 31 * MiB
            return 200, many_objects(total), None, "application/json"
        if self.mode == "deep_list" and path.endswith("/cells"):
            body = deeply_nested(200_000)
            return 200, [body], len(body), "application/json"
        if self.mode == "deep_error":
            body = b'{"error": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
            return 401, [body], len(body), "application/json"
        if self.mode == "deep_event":
            if path.endswith("/cells"):
                body = json.dumps({"session": CODE, "title": "t", "cells": [], "last_event_id": "0-0"}).encode()
                return 200, [body], len(body), "application/json"
            nested = "[" * 20_000 + "]" * 20_000
            good = json.dumps({"session": CODE, "cell_id": "c1", "version": 1})
            stream = (f"id: 1-1\nevent: published\ndata: {{\"x\": {nested}}}\n\n"
                      f"id: 1-2\nevent: published\ndata: {good}\n\n").encode()
            return 200, [stream], len(stream), "text/event-stream"
        return 404, [b"{}"], 2, "application/json"


def memory(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {name: int(fields[name].split()[0]) * 1024 for name in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> None:
    """Start VmHWM (peak RSS) afresh at the current RSS (Linux >= 4.0)."""
    with open(f"/proc/{pid}/clear_refs", "w") as clear:
        clear.write("5")


@pytest.fixture
def hostile(request):
    teacher = HostileAnswers(request.param)
    yield teacher
    teacher.close()


@pytest.mark.parametrize("hostile", ["many_objects"], indirect=True)
def test_a_31_mib_answer_of_empty_objects_is_refused_within_64_mb(cs_jupyter_server_factory, hostile):
    student_server = cs_jupyter_server_factory("student-memory")
    student = student_server.client(timeout=60)
    configure(student, hostile.url, CODE, KEY)
    pid = student_server.process.pid
    assert student.get("codestream/api/student/config").status_code == 200  # warmed up
    idle = memory(pid)["VmRSS"]
    reset_peak(pid)

    r = student.get("codestream/api/student/cells")
    assert r.status_code == 502 and r.json()["error"]["code"] == "bad_response", r.text[:300]
    result = student.post("codestream/api/student/test").json()
    assert result["ok"] is False and result["error"]["code"] == "bad_response"
    r = student.get(f"code_stream/{CODE}/get-all-cell-ids/")
    assert r.status_code == 502 and r.json()["status"] == "error"

    peak = memory(pid)["VmHWM"]
    assert peak - idle < 64 * 1024 * 1024, f"peak {peak / MiB:.0f} MiB, idle {idle / MiB:.0f} MiB"
    assert hostile.bytes_sent < 3 * 8 * MiB, "the student's server stopped reading at the bound"
    assert "Traceback" not in student_server.log_text()


@pytest.mark.parametrize("hostile", ["deep_list", "deep_error"], indirect=True)
def test_deeply_nested_answers_are_a_bad_response_not_a_500(cs_jupyter_server_factory, hostile):
    student_server = cs_jupyter_server_factory("student-deep")
    student = student_server.client()
    configure(student, hostile.url, CODE, KEY)
    expected = "bad_response" if hostile.mode == "deep_list" else "unauthorized"
    r = student.get("codestream/api/student/cells")
    assert r.status_code < 500 or r.json()["error"]["code"] == "bad_response", r.text[:300]
    assert r.json()["error"]["code"] == expected
    result = student.post("codestream/api/student/test").json()
    assert result == {"ok": False, "error": {"code": expected, "message": result["error"]["message"]}}
    r = student.get(f"code_stream/{CODE}/get-all-cell-ids/")
    assert r.json()["status"] == "error" and r.json()["code"] == expected
    log = student_server.log_text()
    assert "Traceback" not in log and "RecursionError" not in log


@pytest.mark.parametrize("hostile", ["deep_event"], indirect=True)
def test_a_deeply_nested_event_is_skipped_and_the_stream_goes_on(cs_jupyter_server_factory, hostile):
    student_server = cs_jupyter_server_factory("student-deep-event")
    configure(student_server.client(), hostile.url, CODE, KEY)
    reader = SSEReader(f"{student_server.url}codestream/api/student/events", student_server.auth_headers())
    try:
        events = reader.wait_for(1, timeout=30)
        assert [(e["id"], json.loads(e["data"])["cell_id"]) for e in events] == [("1-2", "c1")]
    finally:
        reader.close()
    wait_until(lambda: "malformed event" in student_server.log_text(), 10, what="the skipped event's log line")
    log = student_server.log_text()
    assert "Traceback" not in log and "RecursionError" not in log
