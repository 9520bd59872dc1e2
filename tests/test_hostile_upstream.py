"""A hostile teacher against a real student server: the student's upstream event stream holds
at most one bounded event and a bounded buffer, tells the dashboard why it refused the
stream, and the student's other routes keep answering meanwhile (issue 14, item 3).

The "teacher" is a real HTTP server on 127.0.0.1 that answers the cell list as the contract
says and then streams what a hostile teacher (or an advertised relay) could: data lines of one
event that never ends, one endless line in 1 KB chunks, 10 MB events, or many valid events of
50 KB each to fill the replay buffer.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from student_fixtures import STUDENT_ARGS, configure

from codestream_dash.student import StudentDashboard
from jupyter_ext.clients import ServerClient
from jupyter_ext.domain.events import TEACHER_STREAM_REFUSED
from jupyter_ext.testing import SSEReader, until, wait_until
from jupyter_ext.testing.http import LoopbackHTTPServer, QuietHandler

CODE = "HQSTAB"
KEY = "K" * 20
EVENT_BOUND = 64 * 1024  # the default upstream_max_event_bytes
MiB = 1024 * 1024


class HostileTeacher(LoopbackHTTPServer):
    """A teacher on 127.0.0.1 whose event stream is ``mode``; records every events request."""

    def __init__(self, mode: str):
        self.mode = mode
        self.events_requests: list[dict] = []  # the headers of each /events request
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        teacher = self

        class Handler(QuietHandler):
            def do_GET(self):
                if self.path.endswith("/cells"):
                    body = json.dumps({"session": CODE, "title": "hostile", "cells": [],
                                       "last_event_id": "0-0"}).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if self.path.endswith("/events"):
                    with teacher._lock:
                        teacher.events_requests.append(dict(self.headers))
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                    try:
                        for chunk in teacher.stream():
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            with teacher._lock:
                                teacher.bytes_sent += len(chunk)
                    except OSError:
                        pass  # the student's server hung up: what it should do
                    return
                self.send_error(404)

        super().__init__(Handler)

    def stream(self):
        yield b": connected\n\n"
        if self.mode == "data_lines":  # one event's data lines, never the blank line that ends it
            while not self._stop.is_set():
                yield b"data: " + b"x" * 1000 + b"\n"
        elif self.mode == "endless_line":  # one line, never its end, 1 KB at a time
            yield b"data: "
            while not self._stop.is_set():
                yield b"y" * 1024
        elif self.mode == "huge_events":  # complete events of 10 MB each
            n = 0
            while not self._stop.is_set():
                n += 1
                yield f"id: {n}-0\nevent: published\ndata: ".encode()
                body = json.dumps({"session": CODE, "cell_id": f"c{n}", "version": 1,
                                   "pad": "z" * (10 * MiB)}).encode()
                for i in range(0, len(body), 64 * 1024):
                    yield body[i:i + 64 * 1024]
                yield b"\n\n"
        elif self.mode == "big_buffer":  # valid events under the bound, 50 KB each, then quiet
            for n in range(1, 201):
                data = json.dumps({"session": CODE, "cell_id": f"c{n}", "version": 1, "position": n,
                                   "pad": "p" * 50_000})
                yield f"id: {n}-0\nevent: published\ndata: {data}\n\n".encode()
            while not self._stop.wait(1.0):
                yield b": heartbeat\n\n"

    def close(self):
        self._stop.set()
        super().close()


@pytest.fixture
def student(cs_student):
    """The module's student server (short backoffs), no teacher configured yet."""
    return cs_student


@pytest.fixture
def hostile(request):
    teacher = HostileTeacher(request.param)
    yield teacher
    teacher.close()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def refusals(reader: SSEReader) -> list[str]:
    return [line for line in reader.comment_lines if line.startswith(TEACHER_STREAM_REFUSED)]


@pytest.mark.parametrize("hostile", ["data_lines", "endless_line", "huge_events"], indirect=True)
def test_a_hostile_stream_is_refused_within_bounds_and_the_server_keeps_answering(student, hostile):
    client = student.client()
    configure(client, hostile.url, CODE, KEY)
    reader = SSEReader(f"{student.url}codestream/api/student/events", student.auth_headers())
    try:
        wait_until(lambda: refusals(reader), 30, what="the upstream to refuse the stream")
        what = "an event" if hostile.mode == "data_lines" else "a line"  # 10 MB in one data line
        assert f"sent {what} larger than {EVENT_BOUND} bytes" in refusals(reader)[0]
        before = rss_bytes(student.process.pid)
        # it retries (the teacher may come to its senses): let it meet the hostile stream again
        # and again, asking the student server's other routes meanwhile
        slowest = 0.0
        for _attempt in range(4):
            seen = len(hostile.events_requests)
            started = time.monotonic()
            assert client.get("codestream/api/student/config").status_code == 200
            slowest = max(slowest, time.monotonic() - started)
            wait_until(lambda: len(hostile.events_requests) > seen, 30, what="the next attempt")
        assert slowest < 1.0, f"the student server took {slowest:.2f} s to answer"
        grown = rss_bytes(student.process.pid) - before
        assert grown < 16 * MiB, f"the student server grew by {grown / MiB:.1f} MiB"
        assert reader.events == []  # nothing of it reached the local listeners
        if hostile.mode == "huge_events":
            # it read at most about one bound's worth per attempt, not 10 MB events
            assert hostile.bytes_sent < len(hostile.events_requests) * 8 * MiB
    finally:
        reader.close()


@pytest.mark.parametrize("hostile", ["big_buffer"], indirect=True)
def test_the_replay_buffer_is_bounded_in_bytes(cs_jupyter_server_factory, hostile):
    """200 valid events of 50 KB: the buffer keeps 4 MiB of them (not 1000 events = 10 MB), so
    a listener resuming from the first one makes the upstream re-open from there."""
    student = cs_jupyter_server_factory("student", args=[a for a in STUDENT_ARGS if "buffer_events" not in a])
    configure(student.client(), hostile.url, CODE, KEY)
    first = SSEReader(f"{student.url}codestream/api/student/events", student.auth_headers())
    try:
        assert [e["id"] for e in first.wait_for(200, timeout=60)][-1] == "200-0"
        assert len(hostile.events_requests) == 1
        late = SSEReader(f"{student.url}codestream/api/student/events",
                         {**student.auth_headers(), "Last-Event-ID": "1-0"})
        try:
            wait_until(lambda: len(hostile.events_requests) == 2, 30, what="the upstream to re-open")
            assert hostile.events_requests[1].get("Last-Event-ID") == "1-0"
        finally:
            late.close()
    finally:
        first.close()


@pytest.mark.parametrize("hostile", ["huge_events"], indirect=True)
async def test_the_dashboard_says_why_the_stream_was_refused(student, hostile):
    configure(student.client(), hostile.url, CODE, KEY)
    board = StudentDashboard(ServerClient(student.url, student.token))
    try:
        await board.start()
        await until(board, lambda: "larger than" in board.connection_message, "the refusal's reason")
        assert board.connection == "reconnecting"
        assert f"a line larger than {EVENT_BOUND} bytes" in board.connection_message
    finally:
        await board.aclose()
