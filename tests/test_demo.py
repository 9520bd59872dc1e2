"""`codestream demo` runs a whole classroom and leaves nothing behind when stopped."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import nbformat

URL_LINE = re.compile(r"^\s+(Teacher JupyterLab|Teacher dashboard|Student JupyterLab|Student dashboard)\s+(http\S+)$")


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line contains ``text`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append((int(entry.name), cmdline))
    return found


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (dashboards, redis-server, kernels...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_demo_prints_four_working_urls_and_stops_cleanly(tmp_path, cs_secret_scanner):
    workdir = tmp_path / "classroom"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "CODESTREAM_", "REDIS_"))}
    demo = subprocess.Popen([sys.executable, "-m", "jupyter_ext.cli", "demo", "--no-browser", "--workdir", str(workdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines: list[str] = []
    ready = threading.Event()

    def read_output():
        for line in demo.stdout:
            lines.append(line)
            if "Press Ctrl-C" in line or "codestream demo:" in line:
                ready.set()
        ready.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert ready.wait(180), "".join(lines)
        urls = dict(m.groups() for m in (URL_LINE.match(line.rstrip("\n")) for line in lines) if m)
        assert len(urls) == 4, "".join(lines)
        for label, url in urls.items():
            r = httpx.get(url, timeout=90, follow_redirects=True)
            assert r.status_code == 200, f"{label}: {r.status_code}"
            if label.endswith("dashboard"):
                # logged in by Jupyter's login page, then on the dashboard with no token in its URL
                assert r.url.path in ("/codestream-teacher/", "/codestream-student/"), f"{label}: {r.url}"
                assert "token" not in str(r.url) and r.history, f"{label}: {r.url}"
        # the student was configured to follow the teacher's session
        student = urls["Student JupyterLab"]
        base, token = student.split("lab/")[0], student.split("token=")[1]
        config = httpx.get(f"{base}codestream/api/student/config",
                           headers={"Authorization": f"token {token}"}, timeout=10).json()
        assert config["has_key"] is True and re.fullmatch(r"[A-Z2-9]{6}", config["session_code"])
        assert processes_mentioning(str(workdir)), "the demo's servers should be running"
        out = "".join(lines)
        assert "students on other machines need" in out and "--ip=0.0.0.0" in out
        # the student's notebook names its kernel (no "Select Kernel" dialog when it opens)
        notes = nbformat.read(str(workdir / "student" / "notebooks" / "my-notes.ipynb"), as_version=4)
        assert notes.metadata["kernelspec"]["name"] == "python3"
        # Panel's JupyterLab half is off with its server half (it asked for panel-preview/layout on
        # every save: a 404 each time)
        lab_page = httpx.get(urls["Teacher JupyterLab"], timeout=60, follow_redirects=True).text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>\s*(\{.*?\})\s*</script>', lab_page,
                                      re.S).group(1))
        assert "@pyviz/jupyterlab_pyviz" in config["disabledExtensions"], config["disabledExtensions"]
        started = descendants(demo.pid)
        assert len(started) >= 4  # two servers, redis-server, two dashboards
    finally:
        asked = time.monotonic()
        demo.send_signal(signal.SIGINT)
        demo.wait(90)
        stopping = time.monotonic() - asked
        reader.join(10)
    assert stopping < 10, f"Ctrl-C took {stopping:.1f} s"
    assert demo.returncode == 0, "".join(lines)
    assert "Stopped." in "".join(lines)
    leftovers = processes_mentioning(str(workdir))
    assert leftovers == [], leftovers
    assert [pid for pid in started if alive(pid)] == []
