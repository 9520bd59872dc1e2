"""Code Stream beside what a teacher would use instead: JupyterLab real-time collaboration.

Two teacher Jupyter servers configured alike, as a teacher's laptop with ``codestream demo``
runs it (Code Stream + jupyter-collaboration + file ids): one hosts the room, the other the
Code Stream session (a teacher uses one or the other for the class). For N = 300 and 1,000
(``Size.rtc_peers``):

- RTC: N y-websocket peers (``bench.ywebsocket.YPeer``, each a real ``pycrdt.Doc`` replica)
  joined to the notebook's room ``json:notebook:<file id>``; one more peer, the teacher, types a
  marker into cell 0's source; figure = from just before that update is sent until each of the N
  replicas has applied an update containing it.
- Code Stream: N student event streams on the other server; one teacher publish; until each
  stream has that event (the fan-out probe of ``teacher_figures``).

Both sides are driven by this one load generator process, rounds interleaved (RTC, Code
Stream, RTC, ...), so the machine's load falls on both. Every replica is checked to hold the
last edit at the end (the check is not timed).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time

from pycrdt import Array

from jupyter_ext.pytest_plugin import write_notebook

from .harness import Lab, Row, cpu_seconds, ms, percentile, start_with_retry, timed
from .loadgen import HTTPConnection, close_streams, gather_connections, open_streams
from .teacher_figures import FanoutProbe, Size, put_cell, server_gc
from .ywebsocket import YPeer

# Code Stream and collaboration (with file ids), nothing else that sits on neither path.
RTC_SERVER_ARGS = [
    "--ServerApp.jpserver_extensions=jupyter_ext=True",
    "--ServerApp.jpserver_extensions=jupyter_server_ydoc=True",
    "--ServerApp.jpserver_extensions=jupyter_server_fileid=True",
    *[f"--ServerApp.jpserver_extensions={name}=False" for name in (
        "jupyterlab", "jupyter_lsp", "jupyter_server_terminals", "notebook_shim",
        "panel.io.jupyter_server_extension", "jupyter_server_proxy")],
]
NOTEBOOK = "lecture.ipynb"
SETTLE_SECONDS = 1.5  # the room saves the document 1 s after an edit: let that pass outside both rounds


class RoomProbe:
    """When did each of N peers apply the update carrying this round's marker."""

    def __init__(self):
        self.marker = b""
        self.arrivals: dict[int, float] = {}
        self.expected = 0
        self.arrived = asyncio.Event()

    def on_update(self, peer: YPeer, message: bytes, at: float) -> None:
        if self.marker and self.marker in message and id(peer) not in self.arrivals:
            self.arrivals[id(peer)] = at
            if len(self.arrivals) >= self.expected:
                self.arrived.set()

    async def round(self, teacher: YPeer, n: int, marker: str, timeout: float = 60.0) -> list[float]:
        self.marker, self.expected = marker.encode(), n
        self.arrivals.clear()
        self.arrived.clear()
        source = teacher.doc.get("cells", type=Array)[0]["source"]
        gc.collect()
        gc.disable()
        try:
            started = time.perf_counter()
            state = teacher.doc.get_state()
            source += marker
            teacher.send_update(teacher.doc.get_update(state))
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout)
            except asyncio.TimeoutError:
                pass
        finally:
            gc.enable()
            self.marker = b""
        if len(self.arrivals) < n:
            raise RuntimeError(f"only {len(self.arrivals)} of {n} RTC replicas got edit {marker} in {timeout} s")
        return [at - started for at in self.arrivals.values()]


async def join_room(host: str, port: int, path: str, headers: dict, n: int, on_update,
                    concurrency: int = 20) -> list[YPeer]:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(_i: int) -> YPeer:
        async with semaphore:
            return await YPeer.connect(host, port, path, headers, on_update, timeout=120.0)

    return await gather_connections(n, one, YPeer, "RTC peers", lambda peer: peer.close())


def cell_source(peer: YPeer) -> str:
    return str(peer.doc.get("cells", type=Array)[0]["source"])


class Side:
    """One teacher server of the comparison and a keep-alive connection to it."""

    def __init__(self, lab: Lab, name: str):
        self.lab = lab
        self.server = lab.make_server(name, teacher=True, full_stack=True, extra_args=RTC_SERVER_ARGS)
        self.api: HTTPConnection | None = None
        self.pauses_before = 0

    async def start(self) -> Side:
        self.lab.students.append(self.server)  # stopped with the others
        await asyncio.to_thread(start_with_retry, self.server)
        self.api = await self.lab.connection(self.server)
        return self

    async def stop(self) -> None:
        if self.api is not None:
            await self.api.close()
        await asyncio.to_thread(self.server.stop)
        self.lab.students.remove(self.server)

    async def request(self, method: str, path: str, body: dict, expect: tuple[int, ...]) -> dict:
        status, _h, raw = await self.api.request(method, path, body)
        if status not in expect:
            raise RuntimeError(f"{method} {path} answered {status}: {raw[:200]!r}")
        return json.loads(raw)

    def cpu(self) -> float:
        return cpu_seconds(self.server.process.pid)

    async def mark_gc(self) -> None:
        self.pauses_before = len((await server_gc(self.api))["pauses"])

    async def gc_pauses(self) -> list[tuple[int, float, float]]:
        return (await server_gc(self.api))["pauses"][self.pauses_before:]


async def rtc_vs_codestream(lab: Lab, size: Size) -> list[Row]:
    """Two teacher servers configured alike (Code Stream + collaboration): one hosts the room and
    its N collaborators, the other the N Code Stream streams, as a teacher picks one or the
    other; one process holding both would make each pay the other's garbage collections."""
    with timed("start two teacher servers with Code Stream and collaboration"):
        rtc, cs = await asyncio.gather(Side(lab, "teacher-rtc").start(), Side(lab, "teacher-codestream").start())
    rows = []
    try:
        write_notebook(rtc.server.root_dir, NOTEBOOK, [("code", "x = 1\n")])
        doc_session = await rtc.request("PUT", f"/api/collaboration/session/{NOTEBOOK}",
                                        {"format": "json", "type": "notebook"}, (200, 201))
        room_path = f"/api/collaboration/room/json:notebook:{doc_session['fileId']}?sessionId={doc_session['sessionId']}"
        session = await cs.request("POST", "/codestream/api/sessions", {"title": "rtc side by side"}, (201,))
        host, rtc_port, _ = lab.address(rtc.server)
        teacher_peer = await YPeer.connect(host, rtc_port, room_path, rtc.server.auth_headers())
        try:
            for n in size.rtc_peers:
                rows.append(await _side_by_side(lab, rtc, cs, room_path, teacher_peer, session, n, size.rtc_rounds))
        finally:
            teacher_peer.close()
    finally:
        await asyncio.gather(rtc.stop(), cs.stop())
    return rows


async def _side_by_side(lab, rtc: Side, cs: Side, room_path, teacher_peer, session: dict, n: int,
                        rounds: int) -> Row:
    room = RoomProbe()
    stream_probe = FanoutProbe(n)
    code, key = session["code"], session["student_key"]
    host, rtc_port, _ = lab.address(rtc.server)
    _, cs_port, _ = lab.address(cs.server)
    with timed(f"{n} RTC peers join the room and {n} Code Stream streams open"):
        peers = await join_room(host, rtc_port, room_path, rtc.server.auth_headers(), n, room.on_update)
        stream_probe.streams = await open_streams(
            n, host, cs_port, f"/codestream/api/sessions/{code}/events",
            lambda i: {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"rtc-bench-{i}"},
            stream_probe.on_data)
    await asyncio.sleep(SETTLE_SECONDS)
    rtc_delays: list[float] = []
    cs_delays: list[float] = []
    rtc_cpu = cs_cpu = 0.0
    windows: list[tuple[str, float, float]] = []  # (side, start, end) of each round, perf_counter
    await rtc.mark_gc()
    await cs.mark_gc()
    try:
        with timed(f"{rounds} interleaved rounds at N={n}"):
            for r in range(rounds):
                marker = f"rtc{n}x{r}y"
                cpu = rtc.cpu()
                started = time.perf_counter()
                rtc_delays += await room.round(teacher_peer, n, f"\n# {marker}")
                windows.append(("rtc", started, time.perf_counter()))
                rtc_cpu += rtc.cpu() - cpu
                await asyncio.sleep(SETTLE_SECONDS)
                cell_id = f"rtc{n}c{r}"

                async def publish():
                    await put_cell(cs.api, code, cell_id, r)

                cpu = cs.cpu()
                started = time.perf_counter()
                cs_delays += await stream_probe.round(publish, f'"{cell_id}"')
                windows.append(("codestream", started, time.perf_counter()))
                cs_cpu += cs.cpu() - cpu
                await asyncio.sleep(0.3)
        pauses = {"rtc": await rtc.gc_pauses(), "codestream": await cs.gc_pauses()}
        missing = [i for i, peer in enumerate(peers) if marker not in cell_source(peer)]
        if missing:
            raise RuntimeError(f"{len(missing)} of {n} RTC replicas do not hold the last edit")
    finally:
        for peer in peers:
            peer.close()
        await close_streams(stream_probe.streams)
        await asyncio.sleep(1.0)
    r50, r99 = percentile(rtc_delays, 50), percentile(rtc_delays, 99)
    c50, c99 = percentile(cs_delays, 50), percentile(cs_delays, 99)
    detail = {"n": n, "rounds": rounds, "rtc_p50_ms": r50 * 1000, "rtc_p99_ms": r99 * 1000,
              "codestream_p50_ms": c50 * 1000, "codestream_p99_ms": c99 * 1000,
              "rtc_server_cpu_ms_per_edit": rtc_cpu / rounds * 1000,
              "codestream_server_cpu_ms_per_publish": cs_cpu / rounds * 1000,
              # the server's full collections (and any over 5 ms) inside each side's rounds:
              # perf_counter is the same monotonic clock in both processes
              **{f"{side}_gc_pauses_ms": [round(seconds * 1000, 1) for _g, at, seconds in pauses[side]
                                          if any(w[0] == side and w[1] <= at <= w[2] for w in windows)]
                 for side in ("rtc", "codestream")}}
    gc_note = (f"; GC pauses > 5 ms in the rounds: Code Stream {len(detail['codestream_gc_pauses_ms'])}"
               f" ({sum(detail['codestream_gc_pauses_ms']):.0f} ms), RTC {len(detail['rtc_gc_pauses_ms'])}"
               f" ({sum(detail['rtc_gc_pauses_ms']):.0f} ms)")
    target = n >= 1000
    return Row(f"one teacher change → all {n} students have it: Code Stream publish → {n} event streams,"
               f" p50 / p99 (server CPU {detail['codestream_server_cpu_ms_per_publish']:.0f} ms vs"
               f" {detail['rtc_server_cpu_ms_per_edit']:.0f} ms{gc_note})",
               f"{ms(c50)} / {ms(c99)}",
               f"JupyterLab RTC (jupyter-collaboration room, {n} y-websocket replicas, a server configured alike):"
               f" {ms(r50)} / {ms(r99)}",
               f"{c99 / r99:.3f}× p99 ({r99 / c99:.0f}× faster)",
               "p99 ≤ 1/10 of RTC's" if target else "(informational)",
               (c99 <= r99 / 10) if target else None, detail)


FIGURES = {"rtc": rtc_vs_codestream}
