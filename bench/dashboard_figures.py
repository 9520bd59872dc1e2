"""Dashboard figures, in headless Chromium (Playwright, the system Chromium the browser tests use).

- The teacher dashboard (``panel serve apps/teacher.py``, told its Jupyter server by
  ``CODESTREAM_SERVER_URL``/``CODESTREAM_TOKEN`` as the launcher does) opening a 300-cell
  notebook: from choosing it in the notebook selector until its last cell's row is on the page.
  Baseline, same run and same page: opening a 1-cell notebook (the dashboard's fixed cost).
- Memory per open student dashboard session: RSS of the student ``panel serve`` process with
  1 and with K browser sessions open (each connected to its server's event relay).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

from jupyter_ext.testing import CHROMIUM_ARGS, find_chromium, free_port, wait_until, write_notebook

from .harness import REPO_ROOT, Lab, Row, mb, ms, rss_bytes, timed
from .student_figures import ensure_students
from .teacher_figures import Size

LESSON_LINES = [
    "import numpy as np", "values = np.arange({i}) ** 2", "total = values.sum()",
    "print(f'step {i}: {{total}}')", "# {i}: what happens when the loop runs once more?",
]


def start_panel(lab: Lab, app: str, server_url: str, token: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CODESTREAM_"))}
    env.update(CODESTREAM_SERVER_URL=server_url, CODESTREAM_TOKEN=token, PYTHONPATH=str(REPO_ROOT))
    log = open(lab.workdir / f"panel-{app}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "panel", "serve", str(REPO_ROOT / "apps" / f"{app}.py"), "--address",
         "127.0.0.1", "--port", str(port), "--allow-websocket-origin", f"127.0.0.1:{port}"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    lab.others.append(process)

    def up():
        if process.poll() is not None:
            raise RuntimeError(f"panel serve {app} exited; see {lab.workdir}/panel-{app}.log")
        try:
            return httpx.get(f"http://127.0.0.1:{port}/{app}", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 120, interval=0.3, what=f"panel serve {app}")
    return process, port


def launch_chromium(playwright):
    executable = find_chromium()
    if executable is None:
        raise RuntimeError("no Chromium on this machine (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


# -- the teacher dashboard opens a 300-cell notebook -----------------------------------------
async def teacher_dashboard_open(lab: Lab, size: Size) -> list[Row]:
    import nbformat

    n_cells = 300
    big = write_notebook(lab.teacher.root_dir, "bench-dash/lecture-300.ipynb", [
        ("markdown" if i % 5 == 0 else "code", "\n".join(line.format(i=i) for line in LESSON_LINES[: 2 + i % 4]))
        for i in range(n_cells)])
    small = write_notebook(lab.teacher.root_dir, "bench-dash/one-cell.ipynb", [("code", "print('one')")])
    big_ids = [c.id for c in nbformat.read(str(big), as_version=4).cells]
    small_id = nbformat.read(str(small), as_version=4).cells[0].id
    # A live session with half the notebook published, so rows show published/changed states.
    session = await lab.create_session("dashboard")
    teacher = await lab.connection()
    try:
        for i in range(0, n_cells, 2):
            status, _h, raw = await teacher.request(
                "PUT", f"/codestream/api/sessions/{session['code']}/cells/{big_ids[i]}",
                {"source": f"published {i}", "cell_type": "code", "position": i,
                 "notebook_path": "bench-dash/lecture-300.ipynb"})
            if status != 200:
                raise RuntimeError(f"publish answered {status}: {raw[:200]!r}")
    finally:
        await teacher.close()
    with timed("start panel serve apps/teacher.py"):
        process, port = await asyncio.to_thread(start_panel, lab, "teacher", lab.teacher.url, lab.teacher.token)
    repeats = 5 if size.streams >= 1000 else 3

    def drive() -> dict:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                started = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/teacher", timeout=120_000)
                page.locator("select").first.wait_for(timeout=120_000)
                page.locator("select option", has_text="lecture-300").wait_for(state="attached", timeout=60_000)
                page_load = time.perf_counter() - started
                opens, small_opens = [], []
                budget = time.perf_counter() + 90  # the whole suite must stay under 10 minutes
                for _ in range(repeats):
                    if opens and time.perf_counter() > budget:
                        break
                    started = time.perf_counter()
                    page.locator("select").first.select_option("bench-dash/one-cell.ipynb")
                    page.locator(f".cs-cell-{small_id}").wait_for(timeout=60_000)
                    small_opens.append(time.perf_counter() - started)
                    started = time.perf_counter()
                    page.locator("select").first.select_option("bench-dash/lecture-300.ipynb")
                    page.locator(f".cs-cell-{big_ids[-1]}").wait_for(timeout=60_000)
                    opens.append(time.perf_counter() - started)
                rows = page.locator(".cs-cell").count()
                return {"page_load": page_load, "opens": opens, "small_opens": small_opens, "rows": rows}
            finally:
                browser.close()

    try:
        with timed(f"teacher dashboard: open a {n_cells}-cell notebook {repeats}× (Chromium)"):
            result = await asyncio.to_thread(drive)
        panel_rss = rss_bytes(process.pid)
    finally:
        lab.stop_process(process)
    if result["rows"] < n_cells:
        raise RuntimeError(f"only {result['rows']} of {n_cells} rows were on the page")
    opens, small_opens = result["opens"], result["small_opens"]
    p50, worst = statistics.median(opens), max(opens)
    s50 = statistics.median(small_opens)
    detail = {"cells": n_cells, "published": n_cells // 2, "repeats": len(opens), "opens_s": opens,
              "one_cell_opens_s": small_opens, "first_page_load_s": result["page_load"],
              "panel_rss_mb": panel_rss / 2 ** 20}
    return [Row(f"teacher dashboard opens a {n_cells}-cell notebook (choose it → last row on the page, "
                f"Chromium), median / worst",
                f"{p50:.2f} s / {worst:.2f} s ({len(opens)} opens)", f"same dashboard, 1-cell notebook: {ms(s50)}",
                f"{p50 / s50:.1f}×", "≤ 2 s", worst <= 2.0, detail)]


# -- memory per open student dashboard session -----------------------------------------------
async def student_dashboard_memory(lab: Lab, size: Size) -> list[Row]:
    student = (await ensure_students(lab, 1))[0]
    session = await lab.create_session("student dashboards")
    await lab.publish_cells(session["code"], 20)
    await lab.configure_student(student, session["code"], session["student_key"])
    with timed("start panel serve apps/student.py"):
        process, port = await asyncio.to_thread(start_panel, lab, "student", student.url, student.token)
    sessions = 6 if size.streams >= 1000 else 4

    def drive() -> dict:
        from playwright.sync_api import sync_playwright

        rss = {"idle": rss_bytes(process.pid)}
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            try:
                pages = []
                for i in range(sessions):
                    page = browser.new_page(viewport={"width": 900, "height": 800})
                    page.goto(f"http://127.0.0.1:{port}/student", timeout=120_000)
                    page.locator(".cs-light[data-state=connected]").wait_for(timeout=120_000)
                    pages.append(page)
                    if i == 0:
                        time.sleep(1.0)
                        rss["one"] = rss_bytes(process.pid)
                time.sleep(2.0)
                rss["all"] = rss_bytes(process.pid)
                for page in pages:
                    page.close()
            finally:
                browser.close()
        return rss

    try:
        with timed(f"student dashboard: RSS with 1 and {sessions} browser sessions"):
            rss = await asyncio.to_thread(drive)
    finally:
        lab.stop_process(process)
    per_session = (rss["all"] - rss["one"]) / (sessions - 1)
    detail = {"sessions": sessions, "panel_rss_idle_mb": rss["idle"] / 2 ** 20,
              "panel_rss_one_mb": rss["one"] / 2 ** 20, "panel_rss_all_mb": rss["all"] / 2 ** 20,
              "per_session_mb": per_session / 2 ** 20}
    return [Row(f"memory per open student dashboard session (panel serve RSS, 1 → {sessions} sessions)",
                f"{per_session / 2 ** 20:.1f} MB/session",
                f"process: {mb(rss['idle'])} before any, {mb(rss['one'])} with 1, {mb(rss['all'])} with {sessions}",
                "", "measured and reported", None, detail)]


FIGURES = {
    "teacher-dashboard": teacher_dashboard_open,
    "student-dashboard-memory": student_dashboard_memory,
}
