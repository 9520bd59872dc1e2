"""Figures that need only the teacher's server: fan-out, list throughput, foreign keys, 1.x view.

Each function takes the running ``Lab`` and a ``Size`` and returns table rows; every figure is
measured next to its baseline in the same run, interleaved where the two can share the machine.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from dataclasses import dataclass

from jupyter_ext.demo import WITHOUT_PANEL_PREVIEW

from .harness import Lab, Row, cpu_seconds, mb, ms, percentile, rss_bytes, start_with_retry, timed
from .loadgen import HTTPConnection, close_streams, open_streams, throughput


@dataclass
class Size:
    """How big and how long; ``quick`` is for development on a shared machine."""

    streams: int = 1000
    fanout_rounds: int = 40
    students: int = 30
    throughput_seconds: float = 4.0
    throughput_requests: int = 40_000
    foreign_keys: int = 10_000
    view_repeats: int = 30
    view_cells: int = 50
    list_cells: int = 50
    rtc_peers: tuple[int, ...] = (300, 1000)
    rtc_rounds: int = 8
    idle_seconds: float = 60.0  # a student's own cost: the idle window
    scale_streams: int = 10_000  # students-10k: streams over the replicas behind one proxy
    scale_replicas: int = 4
    scale_baseline: int = 1_000  # ... against this many on one replica
    scale_rounds: int = 10

    @classmethod
    def quick(cls) -> Size:
        return cls(streams=100, fanout_rounds=8, students=3, throughput_seconds=1.5,
                   throughput_requests=5_000, foreign_keys=2_000, view_repeats=8,
                   rtc_peers=(50, 100), rtc_rounds=3, idle_seconds=15.0,
                   scale_streams=400, scale_replicas=2, scale_baseline=100, scale_rounds=3)


# -- fan-out to N open event streams ---------------------------------------------------------
class FanoutProbe:
    """N open streams; one publish at a time; when did each stream get that publish's event."""

    def __init__(self, n: int):
        self.n = n
        self.lines: list[tuple[bytes, float]] = []
        self.expected = 0
        self.arrived = asyncio.Event()
        self.streams = []

    def on_data(self, _index: int, line: bytes, at: float) -> None:
        self.lines.append((line, at))  # parsed after the round: keep the callback cheap
        if len(self.lines) >= self.expected:
            self.arrived.set()

    def arm(self) -> None:
        self.lines.clear()
        self.expected = self.n
        self.arrived.clear()

    async def delays(self, started: float, marker: str, timeout: float) -> list[float]:
        """Each stream's delay from ``started`` until ``marker`` arrived on it."""
        try:
            await asyncio.wait_for(self.arrived.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        token = marker.encode()
        delays = [at - started for line, at in self.lines if token in line]
        if len(delays) < self.n:
            raise RuntimeError(f"only {len(delays)} of {self.n} streams got event {marker} in {timeout} s")
        return delays

    async def round(self, publish, marker: str, timeout: float = 15.0) -> list[float]:
        """Run ``publish()``; return each stream's delay from just before it until ``marker`` arrived."""
        return (await publish_round(publish, [self], marker, timeout))[0]


async def put_cell(connection: HTTPConnection, code: str, cell_id: str, position: int) -> None:
    """One teacher publish over a load-generator connection; raises unless it answers 200."""
    status, _h, raw = await connection.request(
        "PUT", f"/codestream/api/sessions/{code}/cells/{cell_id}",
        {"source": f"print({position})", "cell_type": "code", "position": position})
    if status != 200:
        raise RuntimeError(f"publish answered {status}: {raw[:200]!r}")


async def publish_round(publish, probes: list[FanoutProbe], marker: str,
                        timeout: float = 15.0) -> list[list[float]]:
    """One publish, seen by several probes: one start time for all of them."""
    for probe in probes:
        probe.arm()
    gc.collect()  # the load generator's own collections happen here, outside the measured window
    gc.disable()
    try:
        started = time.perf_counter()
        await publish()
        return [await probe.delays(started, marker, timeout) for probe in probes]
    finally:
        gc.enable()


async def fanout(lab: Lab, size: Size) -> list[Row]:
    n = size.streams
    session = await lab.create_session("fan-out")
    code, key = session["code"], session["student_key"]
    host, port, _ = lab.address()
    bare_process, bare_port = lab.start_bare_sse()

    teacher_probe, bare_probe = FanoutProbe(n), FanoutProbe(n)
    teacher_rss_idle = rss_bytes(lab.teacher.process.pid)
    bare_rss_idle = rss_bytes(bare_process.pid)
    with timed(f"open {n} student event streams on the teacher and {n} on bare tornado"):
        teacher_probe.streams = await open_streams(
            n, host, port, f"/codestream/api/sessions/{code}/events",
            lambda i: {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"bench-student-{i}"},
            teacher_probe.on_data)
        bare_probe.streams = await open_streams(n, host, bare_port, "/events", lambda i: {}, bare_probe.on_data)
    await asyncio.sleep(1.0)  # let both servers settle (presence writes, GC) before measuring
    teacher_rss = rss_bytes(lab.teacher.process.pid)
    bare_rss = rss_bytes(bare_process.pid)

    publisher = await lab.connection()
    gc_before = await server_gc(publisher)
    bare_publisher = await HTTPConnection(host, bare_port).connect()
    teacher_delays: list[float] = []
    bare_delays: list[float] = []
    teacher_cpu = bare_cpu = 0.0
    teacher_rounds: list[tuple[float, float]] = []  # (first, last) arrival of each publish, ms
    try:
        with timed(f"{size.fanout_rounds} publish rounds each"):
            for r in range(size.fanout_rounds):
                cell_id = f"fan{r:04d}"

                async def publish_teacher():
                    await put_cell(publisher, code, cell_id, r)

                async def publish_bare():
                    await bare_publisher.request("POST", "/publish", {"cell_id": cell_id, "version": 1})

                cpu = cpu_seconds(lab.teacher.process.pid)
                delays = await teacher_probe.round(publish_teacher, f'"{cell_id}"')
                teacher_rounds.append((min(delays) * 1000, max(delays) * 1000))
                teacher_delays += delays
                teacher_cpu += cpu_seconds(lab.teacher.process.pid) - cpu
                await asyncio.sleep(0.15)
                cpu = cpu_seconds(bare_process.pid)
                bare_delays += await bare_probe.round(publish_bare, f'"{cell_id}"')
                bare_cpu += cpu_seconds(bare_process.pid) - cpu
                await asyncio.sleep(0.15)
        gc_after = await server_gc(publisher)
        full_gc = await full_gc_pauses(publisher, bare_publisher)
    finally:
        await publisher.close()
        await bare_publisher.close()
        await close_streams(teacher_probe.streams)
        await close_streams(bare_probe.streams)
        lab.stop_process(bare_process)

    p50, p99 = percentile(teacher_delays, 50), percentile(teacher_delays, 99)
    b50, b99 = percentile(bare_delays, 50), percentile(bare_delays, 99)
    detail = {"streams": n, "rounds": size.fanout_rounds, "samples": len(teacher_delays),
              "p50_ms": p50 * 1000, "p99_ms": p99 * 1000, "max_ms": max(teacher_delays) * 1000,
              "bare_p50_ms": b50 * 1000, "bare_p99_ms": b99 * 1000,
              "teacher_rss_idle_mb": teacher_rss_idle / 2 ** 20, "teacher_rss_mb": teacher_rss / 2 ** 20,
              "bare_rss_idle_mb": bare_rss_idle / 2 ** 20, "bare_rss_mb": bare_rss / 2 ** 20,
              "kb_per_stream": (teacher_rss - teacher_rss_idle) / n / 1024,
              "bare_kb_per_stream": (bare_rss - bare_rss_idle) / n / 1024,
              **full_gc,
              # CPU the server spent per publish (machine load does not inflate it); 10 ms ticks
              "teacher_cpu_ms_per_publish": teacher_cpu / size.fanout_rounds * 1000,
              "bare_cpu_ms_per_publish": bare_cpu / size.fanout_rounds * 1000,
              "teacher_rounds_first_last_ms": teacher_rounds,
              # the teacher server's collections while publishing: (generation, ms) of the full
              # ones and of any over 5 ms, and how many objects the collector tracks
              "teacher_gc_pauses_ms": [(g, round(s * 1000, 1)) for g, _t, s in
                                       gc_after["pauses"][len(gc_before["pauses"]):]],
              "teacher_gc_tracked_objects": gc_after["objects"],
              "teacher_gc_top_types": gc_after["top_types"][:12],
              "teacher_gc_top_named": gc_after["top_named"][:20]}
    cpu_note = (f"; server CPU/publish {detail['teacher_cpu_ms_per_publish']:.0f} ms"
                f" vs {detail['bare_cpu_ms_per_publish']:.0f} ms")
    per_stream, bare_per_stream = detail["kb_per_stream"], detail["bare_kb_per_stream"]
    return [
        Row(f"publish → event on all {n} student streams (teacher read route), p50 / p99",
            f"{ms(p50)} / {ms(p99)}", f"bare tornado SSE: {ms(b50)} / {ms(b99)}{cpu_note}",
            f"{p99 / b99:.2f}× p99", "p99 ≤ 60 ms", p99 <= 0.060, detail),
        Row(f"teacher server RSS with {n} streams",
            f"{mb(teacher_rss)} (idle {mb(teacher_rss_idle)}, +{detail['kb_per_stream']:.0f} KB/stream)",
            f"bare tornado SSE: {mb(bare_rss)} (idle {mb(bare_rss_idle)})",
            f"{teacher_rss / bare_rss:.2f}×", "≤ 150 MB", teacher_rss <= 150 * 2 ** 20, detail),
        Row(f"memory per open event stream ({n} streams: RSS with them − idle, / {n})",
            f"{per_stream:.1f} KB", f"bare tornado SSE: {bare_per_stream:.1f} KB",
            f"{per_stream / bare_per_stream:.2f}×", "≤ 1.5×", per_stream <= 1.5 * bare_per_stream, detail),
        Row(f"full garbage collection with {n} streams open (gc.collect() in the server, median of 3)",
            f"{full_gc['full_gc_ms']:.1f} ms ({full_gc['gc_objects']} tracked objects)",
            f"bare tornado SSE: {full_gc['bare_full_gc_ms']:.1f} ms ({full_gc['bare_gc_objects']} objects)",
            f"{full_gc['full_gc_ms'] / max(full_gc['bare_full_gc_ms'], 0.01):.2f}×", "reported", None, detail),
    ]


async def full_gc_pauses(teacher: HTTPConnection, bare: HTTPConnection, repeats: int = 3) -> dict:
    """One full collection inside each server, timed there, ``repeats`` times interleaved."""
    samples: dict[str, list[dict]] = {"teacher": [], "bare": []}
    for _ in range(repeats):
        for name, connection, path in (("teacher", teacher, "/bench/gc?collect=1"), ("bare", bare, "/gc")):
            status, _h, raw = await connection.request("GET", path)
            if status != 200:
                raise RuntimeError(f"{path} answered {status}")
            samples[name].append(json.loads(raw))
            await asyncio.sleep(0.05)
    return {"full_gc_ms": statistics.median(x["full_gc_ms"] for x in samples["teacher"]),
            "bare_full_gc_ms": statistics.median(x["full_gc_ms"] for x in samples["bare"]),
            "gc_objects": samples["teacher"][-1]["objects"], "bare_gc_objects": samples["bare"][-1]["objects"]}


async def server_gc(connection) -> dict:
    """The teacher server's garbage-collector figures (``bench/bare_ext.py``'s ``GET bench/gc``)."""
    status, _h, raw = await connection.request("GET", "/bench/gc")
    if status != 200:
        raise RuntimeError(f"bench/gc answered {status}")
    return json.loads(raw)


async def full_stack_rss(lab: Lab, size: Size) -> list[Row]:
    """RSS of a teacher server with every installed extension (JupyterLab, collaboration,
    server-proxy...) idle and with N open student streams: what a teacher's laptop really runs.
    Measured as ``codestream demo`` runs it (Panel's preview extension off), and with that
    extension on, as installing Panel leaves it."""
    n = size.streams
    demo_like = await _loaded_server_rss(lab, n, "teacher-full-stack", [WITHOUT_PANEL_PREVIEW])
    as_installed = await _loaded_server_rss(lab, n, "teacher-full-stack-panel-preview", [])
    rows = []
    for (idle, loaded), label, target in (
            (demo_like, "as `codestream demo` runs it: JupyterLab, collaboration, server-proxy, "
                        "Code Stream; Panel's preview extension off", True),
            (as_installed, "the same with Panel's JupyterLab-preview server extension on "
                           "(as installing Panel leaves it; informational)", False)):
        detail = {"streams": n, "rss_idle_mb": idle / 2 ** 20, "rss_mb": loaded / 2 ** 20,
                  "kb_per_stream": (loaded - idle) / n / 1024}
        rows.append(Row(f"teacher server RSS with {n} streams, {label}",
                        f"{mb(loaded)} (+{detail['kb_per_stream']:.0f} KB/stream)", f"same server idle: {mb(idle)}",
                        f"{loaded / idle:.2f}×", "≤ 150 MB" if target else "-",
                        loaded <= 150 * 2 ** 20 if target else None, detail))
    return rows


async def _loaded_server_rss(lab: Lab, n: int, name: str, extra_args: list[str]) -> tuple[int, int]:
    """(idle, with N open student streams) RSS of a full-stack teacher server."""
    server = lab.make_server(name, teacher=True, full_stack=True, extra_args=extra_args)
    lab.students.append(server)  # stopped with the others
    with timed(f"start {name}"):
        await asyncio.to_thread(start_with_retry, server)
    connection = await lab.connection(server)
    try:
        status, _h, raw = await connection.request("POST", "/codestream/api/sessions", {"title": "full stack"})
        if status != 201:
            raise RuntimeError(f"create session: {status} {raw[:200]!r}")
        session = json.loads(raw)
    finally:
        await connection.close()
    host, port, _ = lab.address(server)
    await asyncio.sleep(1.0)
    idle = rss_bytes(server.process.pid)
    streams = await open_streams(
        n, host, port, f"/codestream/api/sessions/{session['code']}/events",
        lambda i: {"Authorization": f"Bearer {session['student_key']}", "X-CodeStream-Client": f"full-{i}"},
        lambda i, line, at: None)
    await asyncio.sleep(1.0)
    loaded = rss_bytes(server.process.pid)
    await close_streams(streams)
    await asyncio.to_thread(server.stop)
    lab.students.remove(server)
    return idle, loaded


# -- cell-list throughput vs a bare authenticated handler ------------------------------------
async def list_throughput(lab: Lab, size: Size) -> list[Row]:
    session = await lab.create_session("throughput")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, size.list_cells)
    r = lab.redis_client()
    r.set("bench:bare", "x" * 64)
    r.close()
    host, port, _ = lab.address()
    student = {"Authorization": f"Bearer {key}"}
    list_path = f"/codestream/api/sessions/{code}/cells"
    bare_path = "/bench/bare/redis-get"
    kwargs = dict(concurrency=8, duration=size.throughput_seconds / 2, max_requests=size.throughput_requests)

    results = {"bare": [], "student": [], "teacher": []}
    with timed("cell-list throughput vs bare handler (interleaved)"):
        await throughput(host, port, bare_path, lab.teacher.auth_headers(), concurrency=8, duration=0.5,
                         max_requests=500)  # warm-up
        await throughput(host, port, list_path, student, concurrency=8, duration=0.5, max_requests=500)
        for _ in range(4):
            results["bare"].append(await throughput(host, port, bare_path, lab.teacher.auth_headers(), **kwargs))
            results["student"].append(await throughput(host, port, list_path, student, **kwargs))
            results["teacher"].append(await throughput(host, port, list_path, lab.teacher.auth_headers(), **kwargs))

    def rps(name):
        runs = results[name]
        return sum(x["requests"] for x in runs) / sum(x["seconds"] for x in runs)

    bare, student_rps, teacher_rps = rps("bare"), rps("student"), rps("teacher")
    ratio = student_rps / bare
    detail = {"cells": size.list_cells, "concurrency": 8, "bare_rps": bare, "student_key_rps": student_rps,
              "teacher_token_rps": teacher_rps, "runs": 4,
              "list_p50_ms": percentile(sum((x["latencies"] for x in results["student"]), []), 50) * 1000}
    return [Row(f"cell-list GET throughput ({size.list_cells} cells, student key; teacher token "
                f"{teacher_rps:.0f} req/s = {teacher_rps / bare:.0%})",
                f"{student_rps:.0f} req/s", f"bare authenticated Redis GET: {bare:.0f} req/s",
                f"{ratio:.0%}", "≥ 80 %", ratio >= 0.80, detail)]


# -- list time with 10,000 keys of other sessions --------------------------------------------
async def seed_foreign_sessions(redis_url: str, n_keys: int) -> int:
    """Real sessions made by the real store: each has its session, cells, events and students key."""
    from jupyter_ext.domain import validate_cell_input
    from jupyter_ext.store import SessionStore, make_clients

    commands, blocking = make_clients(redis_url)
    store = SessionStore(commands)
    made = 0
    try:
        async def one(i):
            nonlocal made
            record, _key = await store.create_session(f"other {i}")
            await store.publish_cell(record.code, "c1", validate_cell_input(
                {"source": f"x = {i}", "cell_type": "code", "position": 0}))
            await store.touch_student(record.code, f"student-{i}")
            made += 1

        for start in range(0, n_keys // 4, 40):
            await asyncio.gather(*(one(i) for i in range(start, min(start + 40, n_keys // 4))))
    finally:
        await commands.aclose()
        await blocking.aclose()
    return made


async def list_with_foreign_keys(lab: Lab, size: Size) -> list[Row]:
    """Redis database 1 holds a copy of this session plus the foreign sessions; ``SWAPDB 0 1``
    switches the server between the two keyspaces at once, so empty and loaded are measured in
    alternating blocks (ABBA) and a machine whose load drifts cannot fake a ratio."""
    from jupyter_ext.store import keys

    session = await lab.create_session("foreign keys")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, size.list_cells)
    r = lab.redis_client()
    r1 = lab.redis_client(db=1)
    r1.flushdb()
    for name in [*keys.all_session_keys(code), keys.SESSION_INDEX]:
        if r.exists(name):
            r.copy(name, name, destination_db=1)
    path = f"/codestream/api/sessions/{code}/cells"
    connection = await lab.connection(headers={"Authorization": f"Bearer {key}"}, auth=False)

    async def list_times(n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.perf_counter()
            status, _h, _b = await connection.get(path)
            times.append(time.perf_counter() - started)
            if status != 200:
                raise RuntimeError(f"list answered {status}")
        return times

    blocks, per_block = (8, 50) if size.foreign_keys >= 10_000 else (4, 25)
    empty, loaded = [], []
    try:
        with timed(f"list time, empty vs {size.foreign_keys} foreign keys"):
            made = await seed_foreign_sessions(lab.redis.url.rsplit("/", 1)[0] + "/1", size.foreign_keys)
            loaded_keys = r1.dbsize()
            await list_times(50)  # warm-up
            for block in range(blocks):
                order = (False, True) if block % 2 == 0 else (True, False)
                for foreign in order:
                    if foreign:
                        r.swapdb(0, 1)
                    try:
                        (loaded if foreign else empty).extend(await list_times(per_block))
                    finally:
                        if foreign:
                            r.swapdb(0, 1)
    finally:
        await connection.close()
        r1.flushdb()
        r.close()
        r1.close()
    empty_p50, loaded_p50 = statistics.median(empty), statistics.median(loaded)
    ratio = loaded_p50 / empty_p50
    detail = {"foreign_sessions": made, "keys_in_redis": loaded_keys, "requests_each": len(loaded),
              "blocks": blocks, "empty_p50_ms": empty_p50 * 1000, "loaded_p50_ms": loaded_p50 * 1000,
              "empty_mean_ms": statistics.fmean(empty) * 1000, "loaded_mean_ms": statistics.fmean(loaded) * 1000,
              "loaded_p99_ms": percentile(loaded, 99) * 1000, "empty_p99_ms": percentile(empty, 99) * 1000}
    return [Row(f"cell-list time with {loaded_keys} keys in Redis ({made} other sessions), p50",
                ms(loaded_p50), f"same session, Redis otherwise empty: {ms(empty_p50)}",
                f"{ratio:.2f}×", "≤ 1.2×", ratio <= 1.2, detail)]


# -- a student's view of 50 cells: one request vs the 1.x pattern ----------------------------
BROWSER_CONNECTIONS = 6  # what a browser opens to one host; the 1.x frontend's requests ran this wide


async def one_x_view(connections: list[HTTPConnection], code: str) -> tuple[float, int]:
    """The 1.x frontend: list the ids, then one get-cell per id, ``len(connections)`` at a time."""
    started = time.perf_counter()
    status, _h, raw = await connections[0].get(f"/code_stream/{code}/get-all-cell-ids/")
    if status != 200:
        raise RuntimeError(f"get-all-cell-ids answered {status}: {raw[:200]!r}")
    ids = json.loads(raw)["data"]
    queue = list(ids)
    sources = []

    async def worker(connection):
        while queue:
            cell_id = queue.pop(0)
            status, _h, body = await connection.get(f"/code_stream/{code}/get-cell/?cell_id={cell_id}&cell_timestamp=0")
            if status != 200:
                raise RuntimeError(f"get-cell answered {status}: {body[:200]!r}")
            sources.append(json.loads(body)["data"])

    await asyncio.gather(*(worker(c) for c in connections))
    return time.perf_counter() - started, len(sources)


async def one_request_view(connection: HTTPConnection, path: str) -> tuple[float, int]:
    started = time.perf_counter()
    status, _h, raw = await connection.get(path)
    if status != 200:
        raise RuntimeError(f"{path} answered {status}: {raw[:200]!r}")
    return time.perf_counter() - started, len(json.loads(raw)["cells"])


async def compare_views(new_view, old_view, repeats: int, budget: float = 25.0
                        ) -> tuple[list[float], list[float]]:
    """Alternate the two views ``repeats`` times (at least 5, fewer once ``budget`` seconds are spent)."""
    new_times, old_times = [], []
    for _ in range(2):  # warm-up
        await new_view()
        await old_view()
    deadline = time.perf_counter() + budget
    for i in range(repeats):
        if i >= 5 and time.perf_counter() > deadline:
            break
        seconds, _n = await new_view()
        new_times.append(seconds)
        seconds, _n = await old_view()
        old_times.append(seconds)
    return new_times, old_times


async def view_on_teacher(lab: Lab, size: Size) -> list[Row]:
    """The same comparison straight on the teacher's server (no student proxy in between)."""
    session = await lab.create_session("view")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, size.view_cells)
    key_header = {"Authorization": f"token {key}"}
    new_connection = await lab.connection(headers=key_header, auth=False)
    old_connections = [await lab.connection(headers=key_header, auth=False) for _ in range(BROWSER_CONNECTIONS)]
    try:
        with timed("50-cell view on the teacher: one request vs 1.x pattern"):
            new_times, old_times = await compare_views(
                lambda: one_request_view(new_connection, f"/codestream/api/sessions/{code}/cells"),
                lambda: one_x_view(old_connections, code), size.view_repeats)
    finally:
        for c in [new_connection, *old_connections]:
            await c.close()
    new, old = statistics.median(new_times), statistics.median(old_times)
    detail = {"cells": size.view_cells, "repeats": len(new_times), "new_p50_ms": new * 1000,
              "old_p50_ms": old * 1000, "browser_connections": BROWSER_CONNECTIONS}
    return [Row(f"{size.view_cells}-cell view straight on the teacher: one cells request vs 1.x list + "
                f"{size.view_cells} get-cell, p50", ms(new), f"1.x pattern: {ms(old)}",
                f"{old / new:.1f}× faster", "(informational)", None, detail)]
