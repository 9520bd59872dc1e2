"""Figures that need student servers: relay fan-out, the 50-cell view through the student proxy,
and teacher save → the student relay's ``updated`` event.

Student servers are real ``jupyter server`` processes (Code Stream only), each configured with
the teacher's URL, a session code and its student key through ``PUT codestream/api/student/config``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from jupyter_ext.testing import JupyterServerProcess, write_notebook

from .harness import Lab, Row, ms, percentile, rss_bytes, timed
from .loadgen import SSEConnection, close_streams, open_streams, split_url
from .teacher_figures import (BROWSER_CONNECTIONS, FanoutProbe, Size, compare_views, one_request_view,
                              one_x_view, publish_round, put_cell)


async def ensure_students(lab: Lab, n: int) -> list[JupyterServerProcess]:
    """At least ``n`` running student servers (started once, shared by the student figures)."""
    missing = n - len(lab.students)
    if missing > 0:
        with timed(f"start {missing} student Jupyter servers"):
            await lab.start_students(missing)
    return lab.students[:n]


async def open_relay_stream(student: JupyterServerProcess, on_data) -> SSEConnection:
    host, port, _ = split_url(student.url)
    return await SSEConnection.open(host, port, "/codestream/api/student/events",
                                    student.auth_headers(), on_data)


# -- publish → event through N student servers' relays ---------------------------------------
async def relay_fanout(lab: Lab, size: Size) -> list[Row]:
    students = await ensure_students(lab, size.students)
    n = len(students)
    session = await lab.create_session("relay fan-out")
    code, key = session["code"], session["student_key"]
    with timed(f"configure {n} student servers"):
        await asyncio.gather(*(lab.configure_student(s, code, key) for s in students))
    relay_probe, direct_probe = FanoutProbe(n), FanoutProbe(n)
    host, port, _ = lab.address()
    with timed(f"open {n} relay streams (one per student server) and {n} direct teacher streams"):
        relay_probe.streams = list(await asyncio.gather(*(
            open_relay_stream(s, lambda line, at, i=i: relay_probe.on_data(i, line, at))
            for i, s in enumerate(students))))
        direct_probe.streams = await open_streams(
            n, host, port, f"/codestream/api/sessions/{code}/events",
            lambda i: {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"bench-direct-{i}"},
            direct_probe.on_data)
    await asyncio.sleep(1.0)

    publisher = await lab.connection()
    relay_delays, direct_delays = [], []
    rounds = max(10, size.fanout_rounds)
    try:
        with timed(f"{rounds} publish rounds, received through relays and directly"):
            for r in range(rounds):
                cell_id = f"relay{r:04d}"

                async def publish():
                    await put_cell(publisher, code, cell_id, r)

                relay, direct = await publish_round(publish, [relay_probe, direct_probe], f'"{cell_id}"')
                relay_delays += relay
                direct_delays += direct
                await asyncio.sleep(0.2)
    finally:
        await publisher.close()
        await close_streams(relay_probe.streams)
        await close_streams(direct_probe.streams)
        student_rss = [rss_bytes(s.process.pid) for s in students]
        await lab.stop_students_beyond(1)  # idle processes left running would only add noise

    p50, p99 = percentile(relay_delays, 50), percentile(relay_delays, 99)
    d50, d99 = percentile(direct_delays, 50), percentile(direct_delays, 99)
    detail = {"student_servers": n, "rounds": rounds, "samples": len(relay_delays),
              "p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "max_ms": max(relay_delays) * 1000,
              "direct_p50_ms": d50 * 1000, "direct_p99_ms": d99 * 1000,
              "student_server_rss_mb_median": statistics.median(student_rss) / 2 ** 20}
    return [Row(f"publish → event through {n} student servers' relays (separate processes), p50 / p99",
                f"{ms(p50)} / {ms(p99)}", f"same publishes on {n} direct teacher streams: {ms(d50)} / {ms(d99)}",
                f"{p99 / d99:.2f}× p99", "p99 ≤ 150 ms", p99 <= 0.150, detail)]


# -- 50-cell view through a student server ---------------------------------------------------
async def view_through_student(lab: Lab, size: Size) -> list[Row]:
    student = (await ensure_students(lab, 1))[0]
    session = await lab.create_session("student view")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, size.view_cells)
    await lab.configure_student(student, code, key)
    new_connection = await lab.connection(student)
    old_connections = [await lab.connection(student) for _ in range(BROWSER_CONNECTIONS)]
    try:
        with timed(f"{size.view_cells}-cell view through a student server: student/cells vs 1.x pattern"):
            new_times, old_times = await compare_views(
                lambda: one_request_view(new_connection, "/codestream/api/student/cells"),
                lambda: one_x_view(old_connections, code), size.view_repeats)
    finally:
        for c in [new_connection, *old_connections]:
            await c.close()
    new, old = statistics.median(new_times), statistics.median(old_times)
    detail = {"cells": size.view_cells, "repeats": len(new_times), "new_p50_ms": new * 1000,
              "old_p50_ms": old * 1000, "new_p90_ms": percentile(new_times, 90) * 1000,
              "old_p90_ms": percentile(old_times, 90) * 1000, "browser_connections": BROWSER_CONNECTIONS}
    ratio = old / new
    return [Row(f"student's view of {size.view_cells} cells through its server: one student/cells "
                f"request vs 1.x list + {size.view_cells} get-cell ({BROWSER_CONNECTIONS} connections), p50",
                ms(new), f"1.x pattern, same servers: {ms(old)}", f"{ratio:.1f}× faster", "≥ 20× faster",
                ratio >= 20, detail)]


# -- teacher saves the notebook → the student relay has `updated` -----------------------------
async def save_to_relay(lab: Lab, size: Size) -> list[Row]:
    import nbformat

    student = (await ensure_students(lab, 1))[0]
    path = "lesson/bench-save.ipynb"
    n_cells, n_published = 50, 20
    notebook_file = write_notebook(lab.teacher.root_dir, path,
                                   [("code", f"x_{i} = {i}\nprint(x_{i})") for i in range(n_cells)])
    nb = nbformat.read(str(notebook_file), as_version=4)
    ids = [cell.id for cell in nb.cells]
    session = await lab.create_session("save", notebook_path=path)
    code, key = session["code"], session["student_key"]
    teacher = await lab.connection()
    for i in range(n_published):
        status, _h, raw = await teacher.request("PUT", f"/codestream/api/sessions/{code}/cells/{ids[i]}", {
            "source": nb.cells[i].source, "cell_type": "code", "position": i, "notebook_path": path})
        if status != 200:
            raise RuntimeError(f"publish answered {status}: {raw[:200]!r}")
    await lab.configure_student(student, code, key)

    arrivals: list[tuple[bytes, float]] = []
    arrived = asyncio.Event()

    def on_data(line: bytes, at: float) -> None:
        arrivals.append((line, at))
        arrived.set()

    stream = await open_relay_stream(student, on_data)
    status, _h, raw = await teacher.get(f"/api/contents/{path}?type=notebook&content=1")
    model = json.loads(raw)["content"]

    async def wait_for(cell_id: str, version: int, started: float, timeout: float = 10.0) -> float:
        deadline = time.perf_counter() + timeout
        while True:
            for line, at in arrivals:
                data = json.loads(line)
                if data.get("cell_id") == cell_id and data.get("version") == version:
                    return at - started
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise RuntimeError(f"no event for {cell_id} v{version} within {timeout} s")
            arrived.clear()
            try:
                await asyncio.wait_for(arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    save_delays, publish_delays = [], []
    rounds = 20 if size.streams >= 1000 else 8
    try:
        with timed(f"{rounds} notebook saves and {rounds} direct publishes, received on the relay"):
            for r in range(rounds):
                model["cells"][1]["source"] = f"x_1 = {r}  # saved {r}\nprint(x_1)"
                arrivals.clear()
                started = time.perf_counter()
                status, _h, raw = await teacher.request(
                    "PUT", f"/api/contents/{path}", {"type": "notebook", "format": "json", "content": model})
                if status != 200:
                    raise RuntimeError(f"save answered {status}: {raw[:200]!r}")
                # JupyterLab's Save then creates a checkpoint, which publish on save follows
                status, _h, raw = await teacher.request("POST", f"/api/contents/{path}/checkpoints", b"")
                if status != 201:
                    raise RuntimeError(f"checkpoint answered {status}: {raw[:200]!r}")
                save_delays.append(await wait_for(ids[1], 2 + r, started))

                arrivals.clear()
                started = time.perf_counter()
                status, _h, raw = await teacher.request(
                    "PUT", f"/codestream/api/sessions/{code}/cells/direct",
                    {"source": f"print({r})", "cell_type": "code", "position": 1000})
                publish_delays.append(await wait_for("direct", 1 + r, started))
                await asyncio.sleep(0.1)
    finally:
        stream.close()
        await teacher.close()
    p50, p95 = percentile(save_delays, 50), percentile(save_delays, 95)
    d50, d95 = percentile(publish_delays, 50), percentile(publish_delays, 95)
    detail = {"rounds": rounds, "notebook_cells": n_cells, "published_cells": n_published,
              "save_p50_ms": p50 * 1000, "save_p95_ms": p95 * 1000, "save_max_ms": max(save_delays) * 1000,
              "publish_p50_ms": d50 * 1000, "publish_p95_ms": d95 * 1000}
    return [Row(f"teacher saves a {n_cells}-cell notebook → student relay has `updated`, p50 / p95",
                f"{ms(p50)} / {ms(p95)}", f"direct publish → relay: {ms(d50)} / {ms(d95)}",
                f"{p95 / d95:.1f}× p95", "p95 ≤ 1 s", p95 <= 1.0, detail)]


FIGURES = {
    "relay": relay_fanout,
    "view-student": view_through_student,
    "save-relay": save_to_relay,
}
