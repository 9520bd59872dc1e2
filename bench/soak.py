"""Soak: a classroom left running. N simulated students listen and pull while the teacher publishes.

    python -m bench.soak                      # 1,000 listeners, 10 minutes, a publish every 3 s
    python -m bench.soak --minutes 1 --students 100      # a quick look
    python -m bench.soak --json bench/results/soak.json
    python -m bench.soak --lesson             # issue 24: 90 minutes of lesson in 10 (below)

``--lesson`` is a whole lesson compressed: 2,000 publishes in 10 minutes, 300 students' streams,
pull reports, hands and runs (``bench/soak_talkback.py``: a tenth of the students raise a hand and
report a run each minute, the teacher works through the hands), a key rotation every 110 s (off the minute marks) (every student resumes with the new key from its
``Last-Event-ID``, the student servers are given the new key), and a student leaving and
rejoining every second. Every minute it prints the teacher server's RSS and open file
descriptors, Redis's memory and that minute's publish->delivery p99; the targets: RSS and
descriptors flat within 10 % after the first minute, the last minute's p99 <= 1.2x the first's.

What runs (all on 127.0.0.1, real processes from ``bench.harness.Lab``): a redis-server, the
teacher's Jupyter server with Code Stream, and a few student Jupyter servers configured with the
session's code and student key. Listeners: most hold the teacher's read route
``codestream/api/sessions/{code}/events`` open with the student key (``Authorization: Bearer``);
``--relayed`` of them go through the student servers' relays (``codestream/api/student/events``).
A dropped stream is counted as an error and reopened with ``Last-Event-ID``, as a dashboard does.
Pullers call ``POST codestream/api/student/pull`` on the student servers (the newest cell into a
notebook of their own) and readers call ``GET .../cells`` on the teacher with the student key,
each at a fixed pace. The teacher publishes a new cell every ``--interval`` seconds.

Checked at the end: every listener got every ``published`` event exactly once, in publish order,
with strictly increasing event ids (lost, duplicated, out-of-order counts); HTTP errors of
pullers, readers and the publisher; the teacher server's RSS sampled every few seconds (mean of
the first minute vs the last minute). Bounded: the run stops after ``--minutes`` plus a short
drain, and every worker has a request budget. Prints a table, writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .harness import REPO_ROOT, Lab, Row, format_table, mb, percentile, raise_fd_limit, rss_bytes, timed
from .loadgen import HTTPConnection, SSEConnection, split_url
from .soak_talkback import Talkback, add_arguments as add_talkback_arguments

DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "soak.json"
RSS_EVERY = 5.0  # seconds between RSS samples
DRAIN_SECONDS = 60.0  # after the last publish, how long listeners may take to catch up
EMPTY_NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@dataclass
class Listener:
    """One simulated student's event stream: what arrived, in order."""

    index: int
    server: str  # "teacher" or "student-N"
    ids: list[str] = field(default_factory=list)
    cells: list[str] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    reconnects: int = 0
    stream: SSEConnection | None = None
    key: str = ""  # the student key the stream was opened with (a rotation ends it)
    leaving: bool = False  # closed on purpose (a student leaving); it rejoins


class EventStream(SSEConnection):
    """``SSEConnection`` that also keeps each event's ``id:`` and ``event:`` lines.

    Lines are scanned as they come; chunked-encoding size lines match none of the prefixes.
    """

    def __init__(self, on_event):
        super().__init__(on_data=lambda line, at: None)
        self.on_event = on_event
        self._lines = b""
        self._id = self._name = None

    @classmethod
    async def open_for(cls, host, port, path, headers, on_event, timeout=60.0) -> EventStream:
        return await SSEConnection.connect(lambda: cls(on_event), host, port, path, headers, timeout)

    def body_received(self, data: bytes, now: float) -> None:
        *lines, self._lines = (self._lines + data).split(b"\n")
        for line in lines:
            line = line.rstrip(b"\r")
            if line.startswith(b"id:"):
                self._id = line[3:].strip().decode()
            elif line.startswith(b"event:"):
                self._name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                self.on_event(self._id, self._name or "message", line[5:].strip(), now)
                self._id = self._name = None


class Soak:
    def __init__(self, args):
        self.args = args
        self.lab = Lab(keep=args.keep)
        self.code = self.key = ""
        self.students = []
        self.listeners: list[Listener] = []
        self.published: list[tuple[str, float]] = []  # (cell_id, perf_counter when the PUT was sent)
        self.errors: dict[str, int] = {}
        self.error_samples: list[str] = []
        self.requests: dict[str, int] = {"publish": 0, "pull": 0, "read": 0, "pull_report": 0,
                                         "rotation": 0, "rejoin": 0}
        self.minutes: list[dict] = []  # the per-minute figures
        self.pulled = 0  # pulls answered 200
        self.cells_in_notebooks = 0  # counted in the student servers' notebook files at the end
        self.rss: list[tuple[float, int]] = []  # (seconds since start, teacher RSS bytes)
        self.redis_rss: list[tuple[float, int]] = []
        self.stopping = asyncio.Event()
        self.started = 0.0
        self._tasks: set[asyncio.Task] = set()

    # -- bookkeeping -------------------------------------------------------------------------
    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{kind}: {detail}"[:300])

    def spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- setup -------------------------------------------------------------------------------
    async def setup(self) -> None:
        await asyncio.to_thread(self.lab.start)
        for attempt in range(3):  # a failed create is counted (it is a finding), then tried again
            try:
                session = await self.lab.create_session("soak")
                break
            except RuntimeError as exc:
                self.error("create_session", str(exc))
                if attempt == 2:
                    raise
                await asyncio.sleep(1.0)
        self.code, self.key = session["code"], session["student_key"]
        self.students = await self.lab.start_students(self.args.student_servers)
        for server in self.students:
            await self.lab.configure_student(server, self.code, self.key)
            for j in range(self.args.notebooks):
                (server.root_dir / f"soak-{j}.ipynb").write_text(json.dumps(EMPTY_NOTEBOOK))

    def stream_target(self, listener: Listener) -> tuple[str, int, str, dict]:
        if listener.server == "teacher":
            host, port, base = split_url(self.lab.teacher.url)
            return host, port, f"{base}codestream/api/sessions/{self.code}/events", {
                "Authorization": f"Bearer {self.key}", "X-CodeStream-Client": f"soak-{listener.index}"}
        server = self.students[int(listener.server.split("-")[1])]
        host, port, base = split_url(server.url)
        return host, port, f"{base}codestream/api/student/events", server.auth_headers()

    async def open_listener(self, listener: Listener) -> None:
        listener.key = self.key
        host, port, path, headers = self.stream_target(listener)
        # A stream the server ends (a key rotation) then also closes the connection, which is
        # what this reader notices (it does not parse the chunked framing's last chunk).
        headers = {**headers, "Connection": "close"}
        if listener.ids:
            headers = {**headers, "Last-Event-ID": listener.ids[-1]}

        def on_event(event_id, name, data, at, listener=listener):
            if name in ("published", "updated", "unpublished", "session_ended"):
                try:
                    cell_id = json.loads(data).get("cell_id", "")
                except ValueError:
                    cell_id = "<bad json>"
                listener.ids.append(event_id or "")
                listener.names.append(name)
                listener.cells.append(cell_id)
                listener.arrived.append(at)

        listener.stream = await EventStream.open_for(host, port, path, headers, on_event)
        self.spawn(self.watch(listener, listener.stream), f"soak-watch-{listener.index}")

    async def watch(self, listener: Listener, stream: EventStream) -> None:
        """A stream that ends before the soak does is an error; reopen it from its last id."""
        await stream.closed
        if self.stopping.is_set() or listener.leaving:
            return
        if listener.server != "teacher" or listener.key == self.key:  # not ended by a key rotation
            self.error("stream_dropped", f"listener {listener.index} via {listener.server}")
        for attempt in range(5):
            if self.stopping.is_set():
                return
            await asyncio.sleep(0.5 * (attempt + 1))
            if listener.leaving or listener.stream is not stream:  # a rejoin reopened it meanwhile
                return
            try:
                listener.reconnects += 1
                await self.open_listener(listener)
                return
            except Exception as exc:
                self.error("stream_reopen", f"{listener.server}: {exc!r}")

    async def open_all(self) -> None:
        n, relayed = self.args.students, min(self.args.relayed, self.args.students)
        for i in range(n):
            server = f"student-{i % len(self.students)}" if i < relayed and self.students else "teacher"
            self.listeners.append(Listener(i, server))
        semaphore = asyncio.Semaphore(50)

        async def one(listener):
            async with semaphore:
                try:
                    await self.open_listener(listener)
                except Exception as exc:
                    self.error("stream_open", f"{listener.server}: {exc!r}")

        await asyncio.gather(*(one(listener) for listener in self.listeners))

    # -- the load ----------------------------------------------------------------------------
    async def publisher(self, deadline: float, budget: int) -> None:
        connection = await self.lab.connection()
        host, port, base = split_url(self.lab.teacher.url)
        try:
            n = 0
            while time.perf_counter() < deadline and n < budget:
                cell_id = f"soak{n:05d}"
                body = {"source": f"# soak cell {n}\nvalue = {n} * 2\nprint(value)\n",
                        "cell_type": "code", "position": n}
                self.requests["publish"] += 1
                sent_at = time.perf_counter()
                try:
                    status, _h, raw = await connection.request(
                        "PUT", f"{base}codestream/api/sessions/{self.code}/cells/{cell_id}", body)
                    if status == 200:
                        self.published.append((cell_id, sent_at))
                    else:
                        self.error("publish", f"{status} {raw[:200]!r}")
                except Exception as exc:
                    self.error("publish", repr(exc))
                    await connection.close()
                n += 1
                # on a schedule (the n-th publish at n x interval), not interval after each answer
                await self.pause(deadline, self.started + n * self.args.interval - time.perf_counter())
        finally:
            await connection.close()

    async def pause(self, deadline: float, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), max(0.0, min(seconds, deadline - time.perf_counter())))
        except asyncio.TimeoutError:
            pass

    async def puller(self, worker: int, deadline: float, budget: int) -> None:
        """Pulls the newest published cell into one of this worker's notebooks on a student server."""
        server = self.students[worker % len(self.students)]
        host, port, base = split_url(server.url)
        connection = HTTPConnection(host, port, server.auth_headers())
        rng = random.Random(worker)
        try:
            for _ in range(budget):
                if time.perf_counter() >= deadline:
                    break
                if self.published:
                    cell_id = self.published[-1][0]
                    notebook = f"soak-{rng.randrange(self.args.notebooks)}.ipynb"
                    self.requests["pull"] += 1
                    try:
                        status, _h, raw = await connection.request(
                            "POST", f"{base}codestream/api/student/pull",
                            {"cell_id": cell_id, "notebook_path": notebook, "position": "end"})
                        if status != 200:
                            self.error("pull", f"{status} {raw[:200]!r}")
                        else:
                            self.pulled += 1
                    except Exception as exc:
                        self.error("pull", repr(exc))
                        await connection.close()
                await self.pause(deadline, self.args.pull_every)
        finally:
            await connection.close()

    async def reader(self, worker: int, deadline: float, budget: int) -> None:
        """Reads the whole cell list from the teacher with the student key, as a reloading dashboard does."""
        host, port, base = split_url(self.lab.teacher.url)
        key = self.key
        connection = HTTPConnection(host, port, {"Authorization": f"Bearer {key}"})
        try:
            for _ in range(budget):
                if time.perf_counter() >= deadline:
                    break
                if key != self.key:  # the teacher rotated the key: students have the new one
                    await connection.close()
                    key = self.key
                    connection = HTTPConnection(host, port, {"Authorization": f"Bearer {key}"})
                self.requests["read"] += 1
                try:
                    status, _h, raw = await connection.get(f"{base}codestream/api/sessions/{self.code}/cells")
                    if status != 200:
                        self.error("read", f"{status} {raw[:200]!r}")
                    elif len(json.loads(raw)["cells"]) < len(self.published) - 1:
                        self.error("read", "cell list behind the published cells")
                except Exception as exc:
                    self.error("read", repr(exc))
                    await connection.close()
                await self.pause(deadline, self.args.read_every)
        finally:
            await connection.close()


    # -- a whole lesson (--lesson): pull reports, key rotations, students leaving and rejoining --
    async def reporter(self, worker: int, deadline: float) -> None:
        """``POST …/cells/{id}/pulled`` with the student key, as each student's server does after a pull."""
        host, port, base = split_url(self.lab.teacher.url)
        key, connection, n = None, None, 0
        try:
            while time.perf_counter() < deadline:
                if key != self.key:
                    if connection is not None:
                        await connection.close()
                    key = self.key
                    connection = HTTPConnection(host, port, {"Authorization": f"Bearer {key}"})
                if self.published:
                    cell_id = self.published[-1][0]
                    n += 1
                    self.requests["pull_report"] += 1
                    try:
                        status, _h, raw = await connection.request(
                            "POST", f"{base}codestream/api/sessions/{self.code}/cells/{cell_id}/pulled",
                            {"version": 1, "client": f"soak-{worker}-{n % 500}"})
                        if status != 204 and not (status == 401 and key != self.key):
                            self.error("pull_report", f"{status} {raw[:200]!r}")
                    except Exception as exc:
                        self.error("pull_report", repr(exc))
                        await connection.close()
                await self.pause(deadline, self.args.report_every)
        finally:
            if connection is not None:
                await connection.close()

    async def rotator(self, deadline: float) -> None:
        """Rotates the key every ``--rotate-every`` s; the student servers get the new one at once."""
        connection = await self.lab.connection()
        _host, _port, base = split_url(self.lab.teacher.url)
        try:
            while True:
                await self.pause(deadline, self.args.rotate_every)
                if time.perf_counter() >= deadline or self.stopping.is_set():
                    return
                self.requests["rotation"] += 1
                try:
                    status, _h, raw = await connection.request("POST", f"{base}codestream/api/sessions/{self.code}/key", {})
                    if status != 200:
                        self.error("rotation", f"{status} {raw[:200]!r}")
                        continue
                    self.key = json.loads(raw)["student_key"]
                    for server in self.students:
                        await self.lab.configure_student(server, self.code, self.key)
                except Exception as exc:
                    self.error("rotation", repr(exc))
                    await connection.close()
        finally:
            await connection.close()

    async def churn(self, deadline: float) -> None:
        """Every ``--churn-every`` s a student leaves (closes its stream) and rejoins a second
        later from its ``Last-Event-ID``."""
        rng = random.Random(24)
        direct = [x for x in self.listeners if x.server == "teacher"]
        while direct and time.perf_counter() < deadline and not self.stopping.is_set():
            await self.pause(deadline, self.args.churn_every)
            listener = rng.choice(direct)
            if listener.leaving or listener.stream is None or listener.stream.closed.done():
                continue  # already away (or being reconnected after a rotation)
            listener.leaving = True
            listener.stream.close()
            self.spawn(self.rejoin(listener), f"soak-rejoin-{listener.index}")

    async def rejoin(self, listener: Listener) -> None:
        await asyncio.sleep(1.0)
        self.requests["rejoin"] += 1
        try:
            for attempt in range(5):  # a rotation may land between reading the key and opening
                try:
                    await self.open_listener(listener)
                    return
                except Exception as exc:
                    if attempt == 4:
                        self.error("rejoin", repr(exc))
                    await asyncio.sleep(0.5)
        finally:
            listener.leaving = False

    async def monitor(self) -> None:
        """One line a minute: teacher RSS and open descriptors, Redis memory, that minute's p99."""
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(self.lab.redis.url) if getattr(self.lab, "redis", None) else None
        pid = self.lab.teacher.process.pid
        minute, counted = 0, dict(self.requests)
        try:
            while not self.stopping.is_set():
                try:
                    await asyncio.wait_for(self.stopping.wait(), 60.0)
                    return
                except asyncio.TimeoutError:
                    pass
                start, end = self.started + 60 * minute, self.started + 60 * (minute + 1)
                minute += 1
                sent = {cell: at for cell, at in self.published if start <= at < end}
                delays = [arrived - sent[cell] for x in self.listeners
                          for cell, arrived in zip(x.cells, x.arrived) if cell in sent]
                used = (await client.info("memory"))["used_memory"] if client is not None else 0
                now = dict(self.requests)
                talk = {kind: now.get(kind, 0) - counted.get(kind, 0) for kind in ("hand", "run", "hand_handled")}
                counted = now
                row = {"minute": minute, "rss_bytes": rss_bytes(pid), "fds": len(os.listdir(f"/proc/{pid}/fd")),
                       "redis_used_memory_bytes": used, "publishes": len(sent),
                       "p99_ms": percentile(delays, 99) * 1000 if delays else None,
                       "hands": talk["hand"], "runs": talk["run"], "hands_handled": talk["hand_handled"]}
                self.minutes.append(row)
                print(f"minute {minute:2d}: teacher RSS {mb(row['rss_bytes'])}, {row['fds']} fds, Redis"
                      f" {mb(used)}, {len(sent)} publishes, {talk['hand']} hands / {talk['run']} runs"
                      f" ({talk['hand_handled']} hand changes by the teacher), publish->delivery p99"
                      f" {row['p99_ms'] or 0:.0f} ms", flush=True)
        finally:
            if client is not None:
                await client.aclose()

    async def sample_rss(self) -> None:
        teacher_pid = self.lab.teacher.process.pid
        redis_pid = self.lab.redis.process.pid if getattr(self.lab.redis, "process", None) else None
        while not self.stopping.is_set():
            at = time.perf_counter() - self.started
            try:
                self.rss.append((at, rss_bytes(teacher_pid)))
                if redis_pid:
                    self.redis_rss.append((at, rss_bytes(redis_pid)))
            except (OSError, RuntimeError) as exc:
                self.error("rss", repr(exc))
            try:
                await asyncio.wait_for(self.stopping.wait(), RSS_EVERY)
            except asyncio.TimeoutError:
                pass

    def delivered_all(self) -> bool:
        want = len(self.published)
        return all(len(listener.cells) >= want for listener in self.listeners)

    async def run(self) -> dict:
        args = self.args
        with timed(f"soak setup ({args.student_servers} student servers)"):
            await self.setup()
        with timed(f"open {args.students} event streams ({args.relayed} through relays)"):
            await self.open_all()
        load_start = load_average()
        self.started = time.perf_counter()
        deadline = self.started + args.minutes * 60
        rss_task = self.spawn(self.sample_rss(), "soak-rss")
        seconds = args.minutes * 60
        workers = [self.spawn(self.publisher(deadline, int(seconds / args.interval) + 2), "soak-publish")]
        workers += [self.spawn(self.puller(i, deadline, int(seconds / args.pull_every) + 2), f"soak-pull-{i}")
                    for i in range(args.pullers)]
        workers += [self.spawn(self.reader(i, deadline, int(seconds / args.read_every) + 2), f"soak-read-{i}")
                    for i in range(args.readers)]
        workers += [self.spawn(self.reporter(i, deadline), f"soak-report-{i}") for i in range(args.reporters)]
        if args.rotate_every > 0:
            workers.append(self.spawn(self.rotator(deadline), "soak-rotate"))
        if args.churn_every > 0:
            workers.append(self.spawn(self.churn(deadline), "soak-churn"))
        if args.talkback_fraction > 0:  # hands and runs (bench/soak_talkback.py)
            talkback = Talkback(self)
            workers.append(self.spawn(talkback.students(deadline), "soak-talkback"))
            workers.append(self.spawn(talkback.teacher(deadline), "soak-hands"))
        monitor = self.spawn(self.monitor(), "soak-monitor")
        with timed(f"soak for {args.minutes:g} min"):
            await asyncio.gather(*workers)
        drain_until = time.perf_counter() + DRAIN_SECONDS
        with timed("drain"):
            while not self.delivered_all() and time.perf_counter() < drain_until:
                await asyncio.sleep(0.5)
        self.stopping.set()
        await rss_task
        await monitor
        load_end = load_average()
        self.cells_in_notebooks = await asyncio.to_thread(self.count_pulled_cells)
        for listener in self.listeners:
            if listener.stream is not None:
                listener.stream.close()
        await asyncio.sleep(0.1)
        return self.report(load_start, load_end, time.perf_counter() - self.started)

    def count_pulled_cells(self) -> int:
        """Cells in the pulled-into notebooks: every 200 pull must have left exactly one."""
        total = 0
        for server in self.students:
            for j in range(self.args.notebooks):
                try:
                    total += len(json.loads((server.root_dir / f"soak-{j}.ipynb").read_text())["cells"])
                except (OSError, ValueError, KeyError) as exc:
                    self.error("notebook", f"soak-{j}.ipynb: {exc!r}")
        return total

    # -- results -----------------------------------------------------------------------------
    def report(self, load_start: str, load_end: str, elapsed: float) -> dict:
        published = [cell for cell, _at in self.published]
        published_at = dict(self.published)
        position = {cell: i for i, cell in enumerate(published)}
        lost = duplicated = out_of_order = bad_ids = complete = 0
        incomplete: list[dict] = []
        delays = []
        for listener in self.listeners:
            got = listener.cells
            lost += len(set(published) - set(got))
            duplicated += len(got) - len(set(got))
            order = [position.get(c, -1) for c in got]
            if any(b < a for a, b in zip(order, order[1:])):
                out_of_order += 1
            ids = [tuple(int(p) for p in i.split("-")) if i.count("-") == 1 else None for i in listener.ids]
            if None in ids or any(b <= a for a, b in zip(ids, ids[1:])):
                bad_ids += 1
            if got == published and set(listener.names) <= {"published"}:
                complete += 1
            elif len(incomplete) < 10:
                missing = sorted(position[c] for c in set(published) - set(got))
                incomplete.append({"listener": listener.index, "got": len(got), "reconnects": listener.reconnects,
                                   "missing_first_last": missing[:1] + missing[-1:], "missing": len(missing)})
            delays += [at - published_at[c] for c, at in zip(got, listener.arrived) if c in published_at]
        soak_end = self.args.minutes * 60  # RSS windows: the first and the last minute of publishing
        first, last = window(self.rss, 0, min(60, soak_end)), window(self.rss, max(0, soak_end - 60), soak_end)
        rss_first = statistics.mean(first) if first else 0
        rss_last = statistics.mean(last) if last else 0
        errors = sum(self.errors.values())
        n = len(self.listeners)
        summary = {
            "when": time.strftime("%Y-%m-%d %H:%M:%S"), "cpus": os.cpu_count(),
            "args": vars(self.args), "elapsed_s": elapsed,
            "listeners": n, "relayed": sum(1 for x in self.listeners if x.server != "teacher"),
            "events_published": len(published), "deliveries_expected": n * len(published),
            "deliveries": sum(len(x.cells) for x in self.listeners),
            "listeners_complete": complete, "events_lost": lost, "events_duplicated": duplicated,
            "listeners_out_of_order": out_of_order, "listeners_bad_ids": bad_ids,
            "reconnects": sum(x.reconnects for x in self.listeners),
            "pulls_ok": self.pulled, "cells_in_notebooks": self.cells_in_notebooks,
            "requests": self.requests, "errors": self.errors, "error_total": errors,
            "error_samples": self.error_samples, "incomplete_samples": incomplete,
            "delivery_p50_ms": percentile(delays, 50) * 1000 if delays else None,
            "delivery_p99_ms": percentile(delays, 99) * 1000 if delays else None,
            "teacher_rss_first_min_bytes": rss_first, "teacher_rss_last_min_bytes": rss_last,
            "teacher_rss_max_bytes": max((r for _t, r in self.rss), default=0),
            "teacher_rss_samples": self.rss,
            "redis_rss_first_last_bytes": [self.redis_rss[0][1], self.redis_rss[-1][1]] if self.redis_rss else [],
            "load_start": load_start, "load_end": load_end, "uptime_end": uptime(),
        }
        growth = (rss_last / rss_first - 1) if rss_first else 0.0
        rows = [
            Row("listeners (direct / via relays)", f"{n - summary['relayed']} / {summary['relayed']}",
                target=f"{self.args.students}", met=n == self.args.students),
            Row("events published", f"{len(published)} in {self.args.minutes:g} min",
                target=f"every {self.args.interval:g} s"),
            Row("listeners with every event, in order, once", f"{complete} / {n}", target=f"{n}",
                met=complete == n),
            Row("events lost / duplicated / out-of-order streams",
                f"{lost} / {duplicated} / {out_of_order}", target="0 / 0 / 0",
                met=lost == duplicated == out_of_order == 0),
            Row("errors (all kinds)", f"{errors} {self.errors or ''}".strip(), target="0", met=errors == 0),
            Row("requests (publish / pull / read)",
                f"{self.requests['publish']} / {self.requests['pull']} / {self.requests['read']}"),
            Row("pulls answered 200 / cells found in the notebooks", f"{self.pulled} / {self.cells_in_notebooks}",
                target="equal", met=self.pulled == self.cells_in_notebooks),
            Row("delivery delay p50 / p99",
                f"{summary['delivery_p50_ms'] or 0:.0f} / {summary['delivery_p99_ms'] or 0:.0f} ms"),
            Row("teacher RSS first min -> last min", f"{mb(rss_first)} -> {mb(rss_last)}",
                ratio=f"{growth:+.1%}", target="flat (< +10%)", met=abs(growth) < 0.10 if rss_first else None),
            Row("machine load (1/5/15 min) start -> end", f"{load_start} -> {load_end}"),
        ]
        summary["minutes"] = self.minutes
        if len(self.minutes) >= 3:  # issue 24's targets, from the per-minute lines
            second, final = self.minutes[1], self.minutes[-1]
            first_p99, last_p99 = self.minutes[0]["p99_ms"] or 0, final["p99_ms"] or 0
            rss_growth = final["rss_bytes"] / second["rss_bytes"] - 1
            fd_growth = final["fds"] / second["fds"] - 1
            rows += [
                Row("teacher RSS minute 2 -> last", f"{mb(second['rss_bytes'])} -> {mb(final['rss_bytes'])}",
                    ratio=f"{rss_growth:+.1%}", target="within 10 %", met=abs(rss_growth) <= 0.10),
                Row("teacher open fds minute 2 -> last", f"{second['fds']} -> {final['fds']}",
                    ratio=f"{fd_growth:+.1%}", target="within 10 %", met=abs(fd_growth) <= 0.10),
                Row("Redis memory minute 1 -> last",
                    f"{mb(self.minutes[0]['redis_used_memory_bytes'])} -> {mb(final['redis_used_memory_bytes'])}"),
                Row("publish->delivery p99 first minute -> last", f"{first_p99:.0f} -> {last_p99:.0f} ms",
                    ratio=f"{last_p99 / first_p99:.2f}x" if first_p99 else "", target="<= 1.2x",
                    met=last_p99 <= 1.2 * first_p99 if first_p99 else None),
                Row("pull reports / key rotations / rejoins",
                    f"{self.requests['pull_report']} / {self.requests['rotation']} / {self.requests['rejoin']}"),
            ]
        if self.args.talkback_fraction > 0:
            rows.append(Row("hands raised / runs reported / hand changes by the teacher",
                            f"{self.requests['hand']} / {self.requests['run']} / {self.requests['hand_handled']}"))
        summary["rows"] = [r.as_dict() for r in rows]
        summary["table"] = format_table(rows)
        summary["ok"] = all(r.met is not False for r in rows)
        return summary

    async def close(self) -> None:
        self.stopping.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.lab.close)


def window(samples: list[tuple[float, int]], start: float, end: float) -> list[int]:
    return [value for at, value in samples if start <= at < end]


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return load_average()


async def amain(args) -> dict:
    raise_fd_limit(4 * args.students + 1024)
    soak = Soak(args)
    try:
        return await soak.run()
    finally:
        await soak.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=None,
                        help="how long the teacher publishes (default 10; with --lesson too, e.g. 2 for a check)")
    parser.add_argument("--students", type=int, default=None,
                        help="simulated students listening (default 1000; 300 with --lesson)")
    parser.add_argument("--relayed", type=int, default=30,
                        help="of those, how many listen through student servers' relays (default 30)")
    parser.add_argument("--student-servers", type=int, default=3, help="real student Jupyter servers (default 3)")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between publishes (default 3)")
    parser.add_argument("--pullers", type=int, default=6, help="concurrent pullers on the student servers (default 6)")
    parser.add_argument("--pull-every", type=float, default=2.0, help="seconds between one puller's pulls (default 2)")
    parser.add_argument("--readers", type=int, default=6, help="concurrent cell-list readers on the teacher (default 6)")
    parser.add_argument("--read-every", type=float, default=2.0, help="seconds between one reader's reads (default 2)")
    parser.add_argument("--notebooks", type=int, default=20, help="notebooks per student server pulled into (default 20)")
    parser.add_argument("--reporters", type=int, default=0, help="workers sending pull reports (default 0)")
    parser.add_argument("--report-every", type=float, default=1.0, help="seconds between one reporter's reports")
    parser.add_argument("--rotate-every", type=float, default=0.0, help="rotate the key every N s (default 0: never)")
    parser.add_argument("--churn-every", type=float, default=0.0,
                        help="a student leaves and rejoins every N s (default 0: never)")
    add_talkback_arguments(parser)
    parser.add_argument("--lesson", action="store_true",
                        help="issue 24's lesson: --minutes 10 --students 300 --relayed 0 --interval 0.3"
                             " --reporters 4 --rotate-every 110 --churn-every 1 --student-servers 2"
                             " --talkback-fraction 0.1 (--minutes and --students may be given to shorten it)")
    parser.add_argument("--json", default=str(DEFAULT_JSON), help=f"results file (default {DEFAULT_JSON})")
    parser.add_argument("--keep", action="store_true", help="keep the servers' folders and logs")
    args = parser.parse_args(argv)
    if args.lesson:
        args.minutes = 10.0 if args.minutes is None else args.minutes
        args.students = 300 if args.students is None else args.students
        args.relayed, args.interval = 0, 0.3
        args.reporters, args.rotate_every, args.churn_every, args.student_servers = 4, 110.0, 1.0, 2
        args.talkback_fraction = args.talkback_fraction or 0.1
        if args.json == str(DEFAULT_JSON):
            args.json = str(DEFAULT_JSON.with_name("soak_lesson.json"))
    args.minutes = 10.0 if args.minutes is None else args.minutes
    args.students = 1000 if args.students is None else args.students
    summary = asyncio.run(amain(args))
    print(summary["table"])
    print(f"\n{summary['listeners']} listeners, {summary['events_published']} events, "
          f"{summary['elapsed_s']:.0f} s on {summary['cpus']} cores; {summary['uptime_end']}")
    if summary["error_samples"]:
        print("first errors:\n  " + "\n  ".join(summary["error_samples"]))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    print(f"results written to {out}", file=sys.stderr)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
