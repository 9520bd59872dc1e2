"""``codestream demo``: a whole classroom on this machine.

Starts a teacher JupyterLab and a student JupyterLab on free loopback ports with random
tokens and separate folders, gives the teacher a sample lesson, creates a session (the
teacher's embedded redis-server starts with it), configures the student, and prints four
ready-to-click URLs. Ctrl-C (or SIGTERM) stops every process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import webbrowser
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import nbformat

LESSON_NAME = "lesson.ipynb"
READY_TIMEOUT = 90.0


# Installing Panel enables its JupyterLab-preview server extension, which imports all of Panel
# and Bokeh into the Jupyter server (what it costs: docs/performance.md). Code Stream's
# dashboards run in their own `panel serve` processes and never use it.
WITHOUT_PANEL_PREVIEW = "--ServerApp.jpserver_extensions=panel.io.jupyter_server_extension=False"
# ... and its JupyterLab half, which asks that server extension for a preview layout on every
# notebook save (a 404 in the browser console each time).
PANEL_LAB_EXTENSION = "@pyviz/jupyterlab_pyviz"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
STOP_GRACE_SECONDS = 6.0  # SIGTERM to both classrooms at once, then SIGKILL: Ctrl-C is done in < 10 s
# Told to the teacher's dashboard: its student is on this machine, so a loopback server is fine
SAME_MACHINE_ENV = "CODESTREAM_STUDENTS_ON_THIS_MACHINE"


def sample_lesson() -> nbformat.NotebookNode:
    """A short lesson of markdown and code cells for the teacher to stream."""
    v4 = nbformat.v4
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# Lists in Python\nToday: making lists, looping over them, and list comprehensions."),
        v4.new_code_cell("fruits = ['apple', 'banana', 'cherry']\nprint(len(fruits))"),
        v4.new_markdown_cell("## Looping\nA `for` loop visits every item in order."),
        v4.new_code_cell("for fruit in fruits:\n    print(fruit.upper())"),
        v4.new_markdown_cell("## Comprehensions\nBuild a new list from an old one in one line."),
        v4.new_code_cell("lengths = [len(fruit) for fruit in fruits]\nlengths"),
        v4.new_code_cell("# Exercise: keep only the fruits with more than 5 letters\n"),
    ]
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


def notes_notebook() -> nbformat.NotebookNode:
    """The student's empty notebook, with a kernel named (no "Select Kernel" dialog on opening)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def collaboration_available() -> bool:
    return importlib.util.find_spec("jupyter_server_ydoc") is not None


@dataclass
class LabProcess:
    """One JupyterLab server of the demo, in its own folders and process group."""

    name: str
    workdir: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen | None = None
    extra_env: dict = field(default_factory=dict)

    @property
    def root_dir(self) -> Path:
        return self.workdir / "notebooks"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        for sub in ("notebooks", "data", "runtime", "config"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        labconfig = self.workdir / "config" / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {PANEL_LAB_EXTENSION: True}}))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CODESTREAM_"))}
        env.update({
            "JUPYTER_TOKEN": self.token,
            "JUPYTER_DATA_DIR": str(self.workdir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
            "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),
            **self.extra_env,
        })
        args = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
                f"--port={self.port}", "--port-retries=0", f"--ServerApp.root_dir={self.root_dir}",
                WITHOUT_PANEL_PREVIEW]
        if os.geteuid() == 0:
            args.append("--allow-root")
        log = open(self.workdir / "server.log", "ab")
        # its own process group, so stopping it also stops the dashboards and redis-server it started
        self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"token {self.token}"},
                                 timeout=httpx.Timeout(30.0, connect=5.0))

    async def wait_ready(self) -> None:
        async with self.client() as client:
            deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"the {self.name} JupyterLab exited; see {self.workdir / 'server.log'}")
                try:
                    if (await client.get("api/status")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"the {self.name} JupyterLab did not start; see {self.workdir / 'server.log'}")
                await asyncio.sleep(0.2)

    def signal_group(self, sig: int) -> None:
        """``sig`` to the server's whole process group (its dashboards and redis-server too)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        stop_all([self], grace)


def stop_all(labs: list[LabProcess], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM every server's group at once, wait ``grace`` seconds in all, then SIGKILL what is left.

    One after the other, each with its own long wait, stopping took ~40 s."""
    running = [lab for lab in labs if lab.process is not None]
    for lab in running:
        lab.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for lab in running:
        try:
            lab.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for lab in running:  # anything of its group still alive (a dashboard, redis-server) goes too
        lab.signal_group(signal.SIGKILL)
        try:
            lab.process.wait(2)
        except subprocess.TimeoutExpired:
            pass
        lab.process = None


async def set_up_classroom(teacher: LabProcess, student: LabProcess) -> dict:
    """Lesson for the teacher, a session, and the student configured to follow it."""
    nbformat.write(sample_lesson(), str(teacher.root_dir / LESSON_NAME))
    async with teacher.client() as client:
        r = await client.post("codestream/api/sessions",
                              json={"title": "Lists in Python", "notebook_path": LESSON_NAME})
        r.raise_for_status()
        session = r.json()
    nbformat.write(notes_notebook(), str(student.root_dir / "my-notes.ipynb"))
    async with student.client() as client:
        r = await client.put("codestream/api/student/config", json={
            "teacher_url": teacher.url, "session_code": session["code"],
            "student_key": session["student_key"]})
        r.raise_for_status()
    return session


def classroom_urls(teacher: LabProcess, student: LabProcess) -> dict[str, str]:
    """Dashboards open through Jupyter's login page, which takes the token, sets the login cookie
    and redirects: the token never reaches the proxied dashboard (its request arguments, Panel's
    session, jupyter-server-proxy's request log)."""
    return {
        "Teacher JupyterLab": f"{teacher.url}lab/tree/{LESSON_NAME}?token={teacher.token}",
        "Teacher dashboard": login_url(teacher, "codestream-teacher/"),
        "Student JupyterLab": f"{student.url}lab/tree/my-notes.ipynb?token={student.token}",
        "Student dashboard": login_url(student, "codestream-student/"),
    }


def login_url(server: LabProcess, path: str) -> str:
    return f"{server.url}login?{urlencode({'next': '/' + path, 'token': server.token})}"


async def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="codestream-demo-"))
    teacher = LabProcess("teacher", workdir / "teacher", extra_env={SAME_MACHINE_ENV: "1"})
    student = LabProcess("student", workdir / "student")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        print(f"Starting a classroom in {workdir} ...", flush=True)
        teacher.start()
        student.start()
        await asyncio.gather(teacher.wait_ready(), student.wait_ready())
        session = await set_up_classroom(teacher, student)
        urls = classroom_urls(teacher, student)
        print(f"\nCode Stream classroom is running. Session code: {session['code']}\n", flush=True)
        for label, url in urls.items():
            print(f"  {label:<20} {url}", flush=True)
        live = "live into open notebooks" if collaboration_available() else "into notebook files"
        print(f"\nStudent pulls go {live}. Both servers listen on this machine only (127.0.0.1);"
              " students on other machines need a teacher server started with --ip=0.0.0.0 (see the"
              " README). Press Ctrl-C to stop everything.", flush=True)
        if not args.no_browser:
            for url in urls.values():
                webbrowser.open_new_tab(url)
        await stop.wait()
        return 0
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"codestream demo: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        print("\nStopping the classroom ...", flush=True)
        stop_all([student, teacher])
        if not args.workdir and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codestream demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="only print the URLs")
    parser.add_argument("--workdir", help="keep the classroom's folders here (default: a temp dir, removed on exit)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir on exit")
    return asyncio.run(run(parser.parse_args(argv)))
