"""Students talk back (issue 22): hands in the teacher's queue, run counts, the teacher's CPU.

- ``hands``: 300 students raise a hand within 2 s; each hand's ``hand`` event on the teacher's
  stream, from the moment its POST was sent: p99 ≤ 1 s, none lost. Baseline, same run: one
  hand at a time on the idle server (the route's own latency, no contention).
- ``runs``: 1,000 students (each holding an event stream, so each counts) report a run of one
  cell within 5 s; the time from the last report's answer until the teacher's stream carries the
  exact counts (≤ 1 s), and the teacher server's CPU per report. Baseline, same run: the same
  1,000 clients reporting pulls (the v2 route with the same presence check and event).
"""

from __future__ import annotations

import asyncio
import json
import time

from .harness import Lab, Row, cpu_seconds_fine, ms, percentile, timed
from .loadgen import HTTPConnection, SSEConnection, close_streams, open_streams
from .teacher_figures import Size

ENAMES = ("NameError", "TypeError", "ValueError")
LOCAL_HOSTS = [f"127.0.0.{i}" for i in range(2, 42)]  # many source addresses: per-address caps hold


async def _teacher_stream(lab: Lab, code: str, on_data) -> SSEConnection:
    host, port, _ = lab.address()
    return await SSEConnection.open(host, port, f"/codestream/api/sessions/{code}/events",
                                    lab.teacher.auth_headers(), lambda line, at: on_data(line, at))


async def _paced(n: int, seconds: float, connections: list[HTTPConnection], send) -> list[float]:
    """``send(connection, i)`` for i < n, the i-th at ``i * seconds / n`` after the start, over the
    connections in turn (one request in flight per connection); returns each one's send time."""
    sent = [0.0] * n
    start = time.perf_counter() + 0.05
    per = len(connections)

    async def lane(k: int):
        for i in range(k, n, per):
            delay = start + i * seconds / n - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[i] = time.perf_counter()
            await send(connections[k], i)

    await asyncio.gather(*(lane(k) for k in range(per)))
    return sent


async def _connections(lab: Lab, n: int, key: str) -> list[HTTPConnection]:
    host, port, _ = lab.address()
    return [await HTTPConnection(host, port, {"Authorization": f"Bearer {key}"}).connect() for _ in range(n)]


async def hands_queue(lab: Lab, size: Size) -> list[Row]:
    n, seconds = (100 if size.streams < 1000 else 300), 2.0
    session = await lab.create_session("hands")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, 1, prefix="stuck")
    arrived: dict[str, float] = {}
    got_one = asyncio.Event()

    def on_data(line: bytes, at: float):
        if b'"source"' in line and b'"hand_id"' in line:  # a ``hand`` event (hand_state has no source)
            arrived.setdefault(json.loads(line)["hand_id"], at)
            got_one.set()

    stream = await _teacher_stream(lab, code, on_data)
    connections = await _connections(lab, min(n, 64), key)
    raised: dict[int, str] = {}

    async def raise_hand(connection: HTTPConnection, i: int, client: str):
        body = {"client": client, "source": f"answer_{i} = compute({i})\nprint(answer_{i})",
                "cell_id": "stuck0000", "note": f"stuck on step {i}", "name": f"Student {i}"}
        status, _h, raw = await connection.request("POST", f"/codestream/api/sessions/{code}/hands", body)
        if status != 201:
            raise RuntimeError(f"raise hand: {status} {raw[:200]!r}")
        raised[i] = json.loads(raw)["hand_id"]

    try:
        baseline = []
        with timed("20 hands one at a time"):
            for i in range(20):
                got_one.clear()
                t0 = time.perf_counter()
                await raise_hand(connections[0], i, f"alone-{i}")
                await asyncio.wait_for(got_one.wait(), 10)
                baseline.append(arrived[raised[i]] - t0)
        raised.clear()
        cpu = cpu_seconds_fine(lab.teacher.process.pid)
        with timed(f"{n} hands within {seconds:.0f} s"):
            sent = await _paced(n, seconds, connections,
                                lambda c, i: raise_hand(c, i, f"student-{i}"))
            deadline = time.perf_counter() + 10
            while len([1 for h in raised.values() if h in arrived]) < n and time.perf_counter() < deadline:
                await asyncio.sleep(0.02)
        cpu = cpu_seconds_fine(lab.teacher.process.pid) - cpu
    finally:
        for connection in connections:
            await connection.close()
        await close_streams([stream])
    delays = [arrived[raised[i]] - sent[i] for i in raised if raised[i] in arrived]
    lost = n - len(delays)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    detail = {"hands": n, "seconds": seconds, "lost": lost, "p50_ms": p50 * 1000, "p99_ms": p99 * 1000,
              "max_ms": max(delays) * 1000, "baseline_p50_ms": percentile(baseline, 50) * 1000,
              "baseline_p99_ms": percentile(baseline, 99) * 1000, "teacher_cpu_ms_per_hand": cpu / n * 1000}
    return [Row(f"hands: {n} raised in {seconds:.0f} s, each in the teacher's queue (event)",
                f"p50 {ms(p50)}, p99 {ms(p99)}, lost {lost}; CPU/hand {detail['teacher_cpu_ms_per_hand']:.2f} ms",
                f"one hand alone: p50 {ms(percentile(baseline, 50))}, p99 {ms(percentile(baseline, 99))}",
                f"{p99 / max(percentile(baseline, 99), 1e-6):.1f}x", "p99 ≤ 1 s, none lost",
                met=p99 <= 1.0 and lost == 0, detail=detail)]


async def runs_counts(lab: Lab, size: Size) -> list[Row]:
    n, seconds = (200 if size.streams < 1000 else 1000), 5.0
    session = await lab.create_session("runs")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, 1, prefix="radar")
    host, port, _ = lab.address()
    expected = {"ok": 0, "error": 0, "errors": {}}
    for i in range(n):
        if i % 3 == 0:
            ename = ENAMES[i % len(ENAMES)]
            expected["error"] += 1
            expected["errors"][ename] = expected["errors"].get(ename, 0) + 1
        else:
            expected["ok"] += 1
    exact_at: list[float] = []

    def on_data(line: bytes, at: float):
        if b'"runs"' in line and not exact_at and json.loads(line)["runs"] == expected:
            exact_at.append(at)

    with timed(f"open {n} student event streams (presence)"):
        streams = await open_streams(
            n, host, port, f"/codestream/api/sessions/{code}/events",
            lambda i: {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"bench-runner-{i}"},
            lambda i, line, at: None, local_hosts=LOCAL_HOSTS)
    teacher = await _teacher_stream(lab, code, on_data)
    connections = await _connections(lab, 50, key)
    answered = [0.0] * n

    async def report(path: str, body_of, connection: HTTPConnection, i: int):
        status, _h, raw = await connection.request("POST", path, body_of(i))
        if status != 204:
            raise RuntimeError(f"report: {status} {raw[:200]!r}")
        answered[i] = time.perf_counter()

    def run_body(i):
        body = {"client": f"bench-runner-{i}", "version": 1, "state": "error" if i % 3 == 0 else "ok"}
        return {**body, "ename": ENAMES[i % len(ENAMES)]} if i % 3 == 0 else body

    pulled_path = f"/codestream/api/sessions/{code}/cells/radar0000/pulled"
    runs_path = f"/codestream/api/sessions/{code}/cells/radar0000/runs"
    try:
        pid = lab.teacher.process.pid
        cpu = cpu_seconds_fine(pid)
        with timed(f"baseline: {n} pull reports within {seconds:.0f} s"):
            await _paced(n, seconds, connections, lambda c, i: report(
                pulled_path, lambda j: {"client": f"bench-runner-{j}", "version": 1}, c, i))
        pull_cpu = cpu_seconds_fine(pid) - cpu
        await asyncio.sleep(0.5)
        cpu = cpu_seconds_fine(pid)
        with timed(f"{n} run reports within {seconds:.0f} s"):
            await _paced(n, seconds, connections, lambda c, i: report(runs_path, run_body, c, i))
        run_cpu = cpu_seconds_fine(pid) - cpu
        last = max(answered)
        deadline = time.perf_counter() + 5
        while not exact_at and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        status, _h, raw = await connections[0].request("GET", f"/codestream/api/sessions/{code}/cells",
                                                       headers=lab.teacher.auth_headers())
        listed = json.loads(raw)["cells"][0] if status == 200 else {}
    finally:
        for connection in connections:
            await connection.close()
        await close_streams([teacher, *streams])
    lag = (exact_at[0] - last) if exact_at else float("inf")
    exact = listed.get("runs") == expected and listed.get("pulls") == {"1": n}
    detail = {"reports": n, "seconds": seconds, "exact_after_last_ms": lag * 1000, "list_exact": exact,
              "expected": expected, "listed_runs": listed.get("runs"), "listed_pulls": listed.get("pulls"),
              "teacher_cpu_ms_per_run_report": run_cpu / n * 1000,
              "teacher_cpu_ms_per_pull_report": pull_cpu / n * 1000}
    return [Row(f"runs: {n} students report a run within {seconds:.0f} s; counts exact on the teacher's stream",
                f"{ms(max(lag, 0))} after the last report ({'exact' if exact else 'NOT exact'});"
                f" CPU/report {detail['teacher_cpu_ms_per_run_report']:.2f} ms",
                f"pull reports, same clients: CPU/report {detail['teacher_cpu_ms_per_pull_report']:.2f} ms",
                f"{run_cpu / max(pull_cpu, 1e-6):.1f}x CPU", "exact ≤ 1 s after the last report",
                met=exact and lag <= 1.0, detail=detail)]


FIGURES = {"hands": hands_queue, "runs": runs_counts}
