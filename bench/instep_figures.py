"""Keep every student in step (issue 23), each figure against a baseline in the same run:

- ``merge-1000``: ``POST student/merge`` of a 1,000-line cell at a student's server (which
  fetches the base version and the teacher's newest from the teacher, reads the notebook and
  merges with merge3), p50/p99, against ``git merge-file`` on the same three texts;
- ``pull-all-200``: ``POST student/pull-all`` of a 200-cell lesson into a notebook open in a
  collaboration room, against 200 single ``POST student/pull`` into another open notebook
  (each until a y-websocket peer of the room holds every cell);
- ``lesson-200``: ``GET …/notebook`` of a 200-cell lesson (student key), against ``GET …/cells``.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

from pycrdt import Array

from jupyter_ext.domain.merge import merge_texts
from jupyter_ext.testing import write_notebook

from .harness import Lab, Row, ms, percentile, start_with_retry, timed
from .rtc_figures import RTC_SERVER_ARGS
from .teacher_figures import Size
from .ywebsocket import YPeer

MERGE_LINES = 1000
MERGE_ROUNDS = 60
LESSON_CELLS = 200
LESSON_ROUNDS = 60


async def _student(lab: Lab, name: str, *, collaboration: bool = False):
    server = lab.make_server(name, full_stack=collaboration, extra_args=RTC_SERVER_ARGS if collaboration else None)
    lab.students.append(server)  # stopped with the others
    await asyncio.to_thread(start_with_retry, server)
    return server


async def _call(connection, method: str, path: str, body: dict | None = None, expect=(200,)) -> tuple[dict, bytes]:
    status, headers, raw = await connection.request(method, path, body)
    if status not in expect:
        raise RuntimeError(f"{method} {path} answered {status}: {raw[:200]!r}")
    return headers, raw


def three_texts(seed: int = 7) -> tuple[str, str, str]:
    """A 1,000-line cell, the student's copy with 20 lines changed and 10 added, and the teacher's
    with 20 other lines changed: a clean merge (edits at least two lines apart)."""
    rng = random.Random(seed)
    base = [f"value_{i} = compute({i}, scale={rng.randint(1, 9)})\n" for i in range(MERGE_LINES)]
    spots = rng.sample(range(0, MERGE_LINES, 4), 40)
    mine, theirs = list(base), list(base)
    for k, i in enumerate(spots):
        if k % 2:
            theirs[i] = f"value_{i} = compute({i}, scale=10)  # teacher's fix\n"
        else:
            mine[i] = f"value_{i} = compute({i}, scale=1)  # my try\n"
    for i in sorted(spots[:10], reverse=True):
        mine.insert(i + 2, f"print(value_{i})  # my check\n")
    return "".join(base), "".join(mine), "".join(theirs)


def git_merge_file(base: str, mine: str, theirs: str, folder: Path) -> str:
    paths = []
    for name, text in (("mine", mine), ("base", base), ("theirs", theirs)):
        path = folder / name
        path.write_text(text)
        paths.append(str(path))
    done = subprocess.run(["git", "merge-file", "-p", *paths], capture_output=True, text=True, timeout=30)
    if done.returncode < 0 or done.returncode > 127:
        raise RuntimeError(f"git merge-file failed: {done.stderr[:200]}")
    return done.stdout


async def merge_1000(lab: Lab, size: Size) -> list[Row]:
    base, mine, theirs = three_texts()
    session = await lab.create_session("merge bench")
    code, key = session["code"], session["student_key"]
    teacher = await lab.connection()
    student = await _student(lab, "student-merge")
    connection = await lab.connection(student)
    try:
        await _call(teacher, "PUT", f"/codestream/api/sessions/{code}/cells/big",
                    {"source": base, "cell_type": "code", "position": 1})
        await lab.configure_student(student, code, key)
        write_notebook(student.root_dir, "merge.ipynb", [("code", "x = 0")])
        await _call(connection, "POST", "/codestream/api/student/pull", {"cell_id": "big", "notebook_path": "merge.ipynb"})
        nb_path = Path(student.root_dir) / "merge.ipynb"
        nb = json.loads(nb_path.read_text())
        nb["cells"][1]["source"] = mine
        nb_path.write_text(json.dumps(nb))
        await _call(teacher, "PUT", f"/codestream/api/sessions/{code}/cells/big",
                    {"source": theirs, "cell_type": "code", "position": 1})
        route, answer = [], None
        with timed(f"{MERGE_ROUNDS} merges of a {MERGE_LINES}-line cell at the student's server"):
            for _ in range(MERGE_ROUNDS):
                started = time.perf_counter()
                _h, raw = await _call(connection, "POST", "/codestream/api/student/merge",
                                      {"notebook_path": "merge.ipynb", "cell_id": "big"})
                route.append(time.perf_counter() - started)
                answer = json.loads(raw)
        git, pure = [], []
        with tempfile.TemporaryDirectory() as folder, timed(f"{MERGE_ROUNDS} git merge-file runs"):
            for _ in range(MERGE_ROUNDS):
                started = time.perf_counter()
                git_result = git_merge_file(base, mine, theirs, Path(folder))
                git.append(time.perf_counter() - started)
                started = time.perf_counter()
                merge_texts(base, mine, theirs)
                pure.append(time.perf_counter() - started)
    finally:
        await connection.close()
        await teacher.close()
    same = answer["clean"] and answer["merged"] == git_result
    detail = {"rounds": MERGE_ROUNDS, "lines": MERGE_LINES, "route_ms": [t * 1000 for t in route],
              "git_ms": [t * 1000 for t in git], "merge3_in_process_p50_ms": percentile(pure, 50) * 1000,
              "same_result_as_git": same}
    p50, p99 = percentile(route, 50), percentile(route, 99)
    return [Row(f"merge of a {MERGE_LINES}-line cell at the student's server (POST student/merge: base and"
                " newest fetched from the teacher, notebook read, merge3), p50 / p99",
                f"{ms(p50)} / {ms(p99)} (merge3 alone {ms(percentile(pure, 50))}; same result as git: {'yes' if same else 'NO'})",
                f"git merge-file (a process) on the same texts: {ms(percentile(git, 50))} / {ms(percentile(git, 99))}",
                f"{p50 / percentile(git, 50):.1f}x", "p50 ≤ 100 ms (one click), same merge as git", p50 <= 0.1 and same,
                detail)]


class CellCount:
    """How many cells a room's peer holds (the document is read after each applied update)."""

    def __init__(self):
        self.peer: YPeer | None = None
        self.changed = asyncio.Event()

    def on_update(self, peer: YPeer, _message: bytes, _at: float) -> None:
        self.changed.set()

    def count(self) -> int:
        return len(self.peer.doc.get("cells", type=Array)) if self.peer else 0

    async def wait_for(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n:
            self.changed.clear()
            if self.count() >= n:
                return
            await asyncio.wait_for(self.changed.wait(), max(0.1, deadline - time.monotonic()))


async def _open_room(lab: Lab, student, connection, path: str) -> tuple[YPeer, CellCount]:
    _h, raw = await _call(connection, "PUT", f"/api/collaboration/session/{path}",
                          {"format": "json", "type": "notebook"}, expect=(200, 201))
    room = json.loads(raw)
    host, port, _ = lab.address(student)
    counter = CellCount()
    peer = await YPeer.connect(host, port, f"/api/collaboration/room/json:notebook:{room['fileId']}"
                               f"?sessionId={room['sessionId']}", student.auth_headers(), counter.on_update)
    counter.peer = peer
    await counter.wait_for(1)
    return peer, counter


async def pull_all_200(lab: Lab, size: Size) -> list[Row]:
    session = await lab.create_session("pull-all bench")
    code, key = session["code"], session["student_key"]
    ids = await lab.publish_cells(code, LESSON_CELLS, prefix="lesson")
    student = await _student(lab, "student-pull-all", collaboration=True)
    connection = await lab.connection(student)
    peers = []
    try:
        await lab.configure_student(student, code, key)
        for name in ("all.ipynb", "singles.ipynb"):
            write_notebook(student.root_dir, name, [("code", "mine = 1")])
        all_peer, all_count = await _open_room(lab, student, connection, "all.ipynb")
        one_peer, one_count = await _open_room(lab, student, connection, "singles.ipynb")
        peers += [all_peer, one_peer]
        with timed(f"pull-all of {LESSON_CELLS} cells into an open notebook"):
            started = time.perf_counter()
            _h, raw = await _call(connection, "POST", "/codestream/api/student/pull-all", {"notebook_path": "all.ipynb"})
            answered = time.perf_counter() - started
            await all_count.wait_for(LESSON_CELLS + 1)
            pull_all = time.perf_counter() - started
        result = json.loads(raw)
        with timed(f"{LESSON_CELLS} single pulls into an open notebook"):
            started = time.perf_counter()
            for cell_id in ids:
                await _call(connection, "POST", "/codestream/api/student/pull",
                            {"cell_id": cell_id, "notebook_path": "singles.ipynb"})
            await one_count.wait_for(LESSON_CELLS + 1)
            singles = time.perf_counter() - started
        _h, raw = await _call(connection, "POST", "/codestream/api/student/pull-all", {"notebook_path": "all.ipynb"})
        again = json.loads(raw)
    finally:
        for peer in peers:
            peer.close()
        await connection.close()
    ok = result["added"] == LESSON_CELLS and result["live"] and again["added"] == 0
    detail = {"cells": LESSON_CELLS, "pull_all_answer_s": answered, "pull_all_s": pull_all, "singles_s": singles,
              "second_call_added": again["added"], "live": result["live"]}
    return [Row(f"pull-all of a {LESSON_CELLS}-cell lesson into a notebook open with collaboration (until a"
                " peer of the room holds every cell)",
                f"{ms(pull_all)} (answered in {ms(answered)}; a second call added {again['added']})",
                f"{LESSON_CELLS} single pulls into another open notebook: {ms(singles)}",
                f"{singles / pull_all:.0f}x faster", "faster than the single pulls, second call adds 0",
                ok and pull_all < singles, detail)]


async def lesson_200(lab: Lab, size: Size) -> list[Row]:
    session = await lab.create_session("Lesson bench")
    code, key = session["code"], session["student_key"]
    await lab.publish_cells(code, LESSON_CELLS, prefix="take")
    reader = await lab.connection(headers={"Authorization": f"Bearer {key}"}, auth=False)
    timings: dict[str, list[float]] = {"notebook": [], "cells": []}
    sizes = {}
    try:
        with timed(f"{LESSON_ROUNDS} lesson notebooks and cell lists of {LESSON_CELLS} cells"):
            for _ in range(LESSON_ROUNDS):
                for name in ("notebook", "cells"):
                    started = time.perf_counter()
                    _h, raw = await _call(reader, "GET", f"/codestream/api/sessions/{code}/{name}")
                    timings[name].append(time.perf_counter() - started)
                    sizes[name] = len(raw)
    finally:
        await reader.close()
    nb_p50, nb_p99 = percentile(timings["notebook"], 50), percentile(timings["notebook"], 99)
    list_p50, list_p99 = percentile(timings["cells"], 50), percentile(timings["cells"], 99)
    detail = {"cells": LESSON_CELLS, "rounds": LESSON_ROUNDS, "notebook_bytes": sizes["notebook"],
              "cells_bytes": sizes["cells"]}
    return [Row(f"the lesson notebook of {LESSON_CELLS} cells served (GET …/notebook, student key), p50 / p99",
                f"{ms(nb_p50)} / {ms(nb_p99)} ({sizes['notebook'] // 1024} KiB)",
                f"GET …/cells of the same session: {ms(list_p50)} / {ms(list_p99)} ({sizes['cells'] // 1024} KiB)",
                f"{nb_p50 / list_p50:.1f}x", "p50 ≤ 3x the cell list's", nb_p50 <= 3 * list_p50, detail)]


FIGURES = {"merge-1000": merge_1000, "pull-all-200": pull_all_200, "lesson-200": lesson_200}
