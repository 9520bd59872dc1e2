"""The teacher's laptop crashes (issue 24 item 3): ``kill -9`` of the teacher's Jupyter server
and its embedded redis-server together, 1.5 s after a burst of publishes.

The embedded redis-server runs with ``appendonly yes`` and ``appendfsync everysec``: a write is
in the append-only file (the kernel's page cache) before Redis answers it, and on disk within
about a second. So a killed process loses nothing it acknowledged; a power cut can lose the
last second. After the restart every acknowledged publish is there, versions continue from
where they were, and the students' servers reconnect by themselves and catch up.
"""

from __future__ import annotations

import json
import os
import signal
import time

import psutil

from jupyter_ext.testing import SSEReader, create_session, publish
from student_fixtures import configure

BURST = 60


def test_a_crashed_teacher_laptop_loses_no_acknowledged_publish(cs_jupyter_server_factory):
    teacher_server = cs_jupyter_server_factory("teacher")  # no Redis URL: the embedded redis-server
    teacher = teacher_server.client()
    session = create_session(teacher, title="Crash")
    code, key = session["code"], session["student_key"]
    student_server = cs_jupyter_server_factory("student")
    configure(student_server.client(), teacher_server.url, code, key)
    following = SSEReader(f"{student_server.url}codestream/api/student/events", student_server.auth_headers())

    acknowledged: dict[str, int] = {}
    for i in range(BURST):  # a burst: new cells, and new versions of the first ones
        cell_id = f"c{i % 40}"
        acknowledged[cell_id] = publish(teacher, code, cell_id, f"x = {i}", i % 40)["version"]
    following.wait_for(BURST)
    time.sleep(1.5)  # the crash comes 1.5 s after the last acknowledged publish

    group = psutil.Process(teacher_server.process.pid)
    redis_pids = [c.pid for c in group.children(recursive=True) if "redis-server" in " ".join(c.cmdline())]
    assert redis_pids, "the embedded redis-server runs under the teacher's server"
    os.killpg(teacher_server.process.pid, signal.SIGKILL)  # server and redis-server at once
    teacher_server.process.wait(10)
    psutil.wait_procs([psutil.Process(pid) for pid in redis_pids if psutil.pid_exists(pid)], timeout=10)

    restarted = time.monotonic()
    teacher_server.start()  # the same port and data directory: the laptop comes back
    teacher = teacher_server.client()
    cells = teacher.get(f"codestream/api/sessions/{code}/cells")
    assert cells.status_code == 200, cells.text
    assert {c["cell_id"]: c["version"] for c in cells.json()["cells"]} == acknowledged
    # versions continue: a changed source is the next version, never a repeat
    assert publish(teacher, code, "c0", "x = 'after the crash'", 0)["version"] == acknowledged["c0"] + 1
    publish(teacher, code, "new", "y = 1", 99)

    # the student's server reconnected by itself (Last-Event-ID) and caught up, each event once
    events = following.wait_for(BURST + 2, timeout=60)
    assert not following.ended.is_set(), "the student's own stream stayed open across the crash"
    print(f"\nlaptop crash: restart to the student caught up {time.monotonic() - restarted:.1f} s")
    cell_events = [(e["event"], json.loads(e["data"])["cell_id"], json.loads(e["data"])["version"])
                   for e in events if e["event"] in ("published", "updated")]
    assert cell_events[-2:] == [("updated", "c0", acknowledged["c0"] + 1), ("published", "new", 1)]
    ids = [e["id"] for e in events if "id" in e]
    assert len(ids) == len(set(ids)), "no event delivered twice"
