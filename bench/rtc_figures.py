"""Code Stream beside what a teacher would use instead: JupyterLab real-time collaboration.

One teacher Jupyter server runs both, as a teacher's laptop with ``codestream demo`` does
(Code Stream + jupyter-collaboration + file ids). For N = 300 and 1,000 (``Size.rtc_peers``):

- RTC: N y-websocket peers (``bench.ywebsocket.YPeer``, each a real ``pycrdt.Doc`` replica)
  joined to the notebook's room ``json:notebook:<file id>``; one more peer, the teacher, types a
  marker into cell 0's source; figure = from just before that update is sent until each of the N
  replicas has applied an update containing it.
- Code Stream: N student event streams on the same server; one teacher publish; until each
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
from .teacher_figures import FanoutProbe, Size, put_cell
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


async def rtc_vs_codestream(lab: Lab, size: Size) -> list[Row]:
    server = lab.make_server("teacher-rtc", teacher=True, full_stack=True, extra_args=RTC_SERVER_ARGS)
    lab.students.append(server)  # stopped with the others
    with timed("start a teacher server with Code Stream and collaboration"):
        await asyncio.to_thread(start_with_retry, server)
    write_notebook(server.root_dir, NOTEBOOK, [("code", "x = 1\n")])
    host, port, _ = lab.address(server)
    api = await lab.connection(server)
    rows = []
    try:
        status, _h, raw = await api.request("PUT", f"/api/collaboration/session/{NOTEBOOK}",
                                            {"format": "json", "type": "notebook"})
        if status not in (200, 201):
            raise RuntimeError(f"collaboration session answered {status}: {raw[:200]!r}")
        doc_session = json.loads(raw)
        room_path = f"/api/collaboration/room/json:notebook:{doc_session['fileId']}?sessionId={doc_session['sessionId']}"
        status, _h, raw = await api.request("POST", "/codestream/api/sessions", {"title": "rtc side by side"})
        if status != 201:
            raise RuntimeError(f"create session: {status} {raw[:200]!r}")
        session = json.loads(raw)
        teacher_headers = server.auth_headers()
        teacher_peer = await YPeer.connect(host, port, room_path, teacher_headers)
        try:
            for n in size.rtc_peers:
                rows.append(await _side_by_side(lab, server, api, host, port, room_path, teacher_headers,
                                                teacher_peer, session, n, size.rtc_rounds))
        finally:
            teacher_peer.close()
    finally:
        await api.close()
        await asyncio.to_thread(server.stop)
        lab.students.remove(server)
    return rows


async def _side_by_side(lab, server, api: HTTPConnection, host, port, room_path, headers, teacher_peer,
                        session: dict, n: int, rounds: int) -> Row:
    room = RoomProbe()
    stream_probe = FanoutProbe(n)
    code, key = session["code"], session["student_key"]
    with timed(f"{n} RTC peers join the room and {n} Code Stream streams open"):
        peers = await join_room(host, port, room_path, headers, n, room.on_update)
        stream_probe.streams = await open_streams(
            n, host, port, f"/codestream/api/sessions/{code}/events",
            lambda i: {"Authorization": f"Bearer {key}", "X-CodeStream-Client": f"rtc-bench-{i}"},
            stream_probe.on_data)
    await asyncio.sleep(SETTLE_SECONDS)
    rtc_delays: list[float] = []
    cs_delays: list[float] = []
    rtc_cpu = cs_cpu = 0.0
    pid = server.process.pid
    try:
        with timed(f"{rounds} interleaved rounds at N={n}"):
            for r in range(rounds):
                marker = f"rtc{n}x{r}y"
                cpu = cpu_seconds(pid)
                rtc_delays += await room.round(teacher_peer, n, f"\n# {marker}")
                rtc_cpu += cpu_seconds(pid) - cpu
                await asyncio.sleep(SETTLE_SECONDS)
                cell_id = f"rtc{n}c{r}"

                async def publish():
                    await put_cell(api, code, cell_id, r)

                cpu = cpu_seconds(pid)
                cs_delays += await stream_probe.round(publish, f'"{cell_id}"')
                cs_cpu += cpu_seconds(pid) - cpu
                await asyncio.sleep(0.3)
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
              "codestream_server_cpu_ms_per_publish": cs_cpu / rounds * 1000}
    target = n >= 1000
    return Row(f"one teacher change → all {n} students have it: Code Stream publish → {n} event streams,"
               f" p50 / p99 (server CPU {detail['codestream_server_cpu_ms_per_publish']:.0f} ms vs"
               f" {detail['rtc_server_cpu_ms_per_edit']:.0f} ms)",
               f"{ms(c50)} / {ms(c99)}",
               f"JupyterLab RTC (jupyter-collaboration room, {n} y-websocket replicas, same server):"
               f" {ms(r50)} / {ms(r99)}",
               f"{c99 / r99:.3f}× p99 ({r99 / c99:.0f}× faster)",
               "p99 ≤ 1/10 of RTC's" if target else "(informational)",
               (c99 <= r99 / 10) if target else None, detail)


FIGURES = {"rtc": rtc_vs_codestream}
