"""A student's own cost of following a session: what their Jupyter server pays for it.

Two student servers, started the same way (Code Stream only). One follows the session as the
student dashboard makes it: configured with the teacher's URL, code and key, and one
``GET codestream/api/student/events`` open on it (its relay holds the one upstream stream to
the teacher). The other is the same server not following. Both are measured over the same idle
window (nothing published in it: heartbeats and presence only):

- RSS increment: the follower's RSS after following minus its own RSS before (the control's
  drift over the same time is reported next to it);
- idle CPU per minute: CPU time each process used in the window (``schedstat``, ns: clock
  ticks of 10 ms are too coarse for an idle minute), scaled to a minute; the figure is the
  follower's minus the control's (what following adds).
"""

from __future__ import annotations

import asyncio
import time

from .harness import Lab, Row, cpu_seconds_fine, rss_bytes, timed
from .loadgen import SSEConnection, split_url
from .teacher_figures import Size, put_cell

MB = 2 ** 20


async def student_cost(lab: Lab, size: Size) -> list[Row]:
    with timed("start 2 student servers (one follows, one does not)"):
        follower, control = await lab.start_students(2)
    lines: list[bytes] = []
    stream: SSEConnection | None = None
    try:
        session = await lab.create_session("a student's cost")
        await asyncio.sleep(2.0)  # both servers settle after start-up
        rss_before = rss_bytes(follower.process.pid)
        control_before = rss_bytes(control.process.pid)
        await lab.configure_student(follower, session["code"], session["student_key"])
        host, port, _ = split_url(follower.url)
        stream = await SSEConnection.open(host, port, "/codestream/api/student/events",
                                          follower.auth_headers(), lambda line, at: lines.append(line))
        publisher = await lab.connection()
        try:  # one event end to end, so the path's code is loaded before the idle window
            await put_cell(publisher, session["code"], "warm-up", 0)
        finally:
            await publisher.close()
        deadline = time.monotonic() + 20
        while not lines and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        if not lines:
            raise RuntimeError("the following student server never relayed the warm-up event")
        await asyncio.sleep(2.0)
        window = size.idle_seconds
        cpu = {name: cpu_seconds_fine(s.process.pid) for name, s in (("follower", follower), ("control", control))}
        with timed(f"idle window of {window:.0f} s"):
            await asyncio.sleep(window)
        cpu = {name: cpu_seconds_fine(s.process.pid) - cpu[name]
               for name, s in (("follower", follower), ("control", control))}
        rss_after = rss_bytes(follower.process.pid)
        control_after = rss_bytes(control.process.pid)
        if stream.closed.done():
            raise RuntimeError("the following student's stream closed during the idle window")
    finally:
        if stream is not None:
            stream.close()
        for server in (follower, control):
            lab.students.remove(server)
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in (follower, control)))
    per_minute = {name: seconds / window * 60 * 1000 for name, seconds in cpu.items()}
    added_cpu = per_minute["follower"] - per_minute["control"]
    added_rss = rss_after - rss_before
    detail = {"idle_seconds": window, "rss_before_mb": rss_before / MB, "rss_after_mb": rss_after / MB,
              "control_rss_before_mb": control_before / MB, "control_rss_after_mb": control_after / MB,
              "follower_cpu_ms_per_min": per_minute["follower"], "control_cpu_ms_per_min": per_minute["control"],
              "cpu_source": "/proc/<pid>/task/*/schedstat (ns)"}
    return [
        Row("a student's server following a session: RSS increment (configured, its dashboard's"
            " event stream open)", f"{added_rss / MB:.1f} MB",
            f"same server before following: {rss_before / MB:.0f} MB; the not-following server drifted"
            f" {(control_after - control_before) / MB:+.1f} MB meanwhile", "", "≤ 10 MB", added_rss <= 10 * MB, detail),
        Row(f"a student's server following a session: idle CPU per minute ({window:.0f} s window, no"
            " publish; heartbeats only)", f"{per_minute['follower']:.0f} ms/min ({added_cpu:+.0f} ms/min added)",
            f"same server not following: {per_minute['control']:.0f} ms/min", "", "≤ 50 ms/min added",
            added_cpu <= 50, detail),
    ]


FIGURES = {"student-cost": student_cost}
