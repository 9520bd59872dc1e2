"""The student dashboard as students get it: launched by jupyter-server-proxy from the
student's own Jupyter server, behind that server's auth, driven in headless Chromium.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import httpx
import pytest

from codestream_dash.student_model import END_LABEL
from jupyter_ext.testing import artifacts_dir, create_session, publish, write_notebook

XSS = "<img src=x onerror=alert(1)>"
APP = "codestream-student/"
FIRST_LOAD_MS = 120_000  # the first request starts `panel serve` behind the proxy
UPDATE_MS = 30_000


# -- processes and sockets (Linux /proc) ------------------------------------------------------
def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _decode_address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def tcp_listeners(pid: int) -> list[tuple[str, int]]:
    """Addresses the process listens on over TCP (its socket inodes matched against /proc/net)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                address, port = fields[1].split(":")
                listening.append((_decode_address(address), int(port, 16)))
    return listening


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_loopback or (getattr(ip, "ipv4_mapped", None) is not None and ip.ipv4_mapped.is_loopback)


# -- tests -----------------------------------------------------------------------------------
def test_launcher_tile_and_the_app_only_behind_jupyter_auth(student):
    client = student.client(timeout=FIRST_LOAD_MS / 1000)
    servers = client.get("server-proxy/servers-info").json()["server_processes"]
    tile = next(s for s in servers if s["name"] == "codestream-student")
    assert tile["launcher_entry"]["enabled"] and tile["launcher_entry"]["title"] == "Code Stream — Student"
    assert tile["launcher_entry"]["path_info"] == APP and tile["new_browser_tab"] is False
    assert client.get(tile["launcher_entry"]["icon_url"].lstrip("/")).status_code == 200

    page = client.get(APP, follow_redirects=True)
    assert page.status_code == 200 and "Code Stream — Student" in page.text

    for headers in ({}, {"Authorization": "token not-the-token-at-all"}):
        r = httpx.get(f"{student.url}{APP}", headers=headers, follow_redirects=False, timeout=30)
        assert r.status_code in (302, 401, 403) and "Code Stream" not in r.text
        if r.status_code == 302:
            assert "login" in r.headers["location"]
        ws = httpx.get(f"{student.url}{APP}ws", follow_redirects=False, timeout=30, headers={
            **headers, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert ws.status_code in (302, 401, 403)

    # `panel serve` listens on a unix socket only; everything of this server stays on loopback
    children = descendants(student.process.pid)
    dashboards = [pid for pid in children if "panel" in cmdline(pid) and any(
        arg.endswith("student.py") for arg in cmdline(pid))]
    assert dashboards, [cmdline(pid) for pid in children]
    for pid in dashboards:
        assert "--unix-socket" in cmdline(pid)
        assert tcp_listeners(pid) == []
    for pid in [student.process.pid, *children]:
        for address, port in tcp_listeners(pid):
            assert is_loopback(address), (cmdline(pid), address, port)


@pytest.mark.browser
def test_published_cell_appears_live_and_is_pulled_into_the_chosen_notebook(cs_teacher, student, cs_page):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Loops")
    code = session["code"]
    r = student.client().put("codestream/api/student/config", json={
        "teacher_url": cs_teacher.url, "session_code": code, "student_key": session["student_key"]})
    assert r.status_code == 200, r.text
    write_notebook(student.root_dir, "lesson.ipynb", [("markdown", "# My notes"), ("code", "a = 1")])
    write_notebook(student.root_dir, "scratch.ipynb", [("code", "b = 2")])

    page = cs_page
    page.set_viewport_size({"width": 420, "height": 1000})  # a JupyterLab side tab
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    # log in as a student does (the token never goes into a URL)
    page.goto(f"{student.url}login")
    page.fill("input[name=password]", student.token)
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()
    page.goto(f"{student.url}{APP}", timeout=FIRST_LOAD_MS)
    page.locator(".cs-light[data-state=connected]").wait_for(timeout=FIRST_LOAD_MS)
    page.evaluate("window.__csSamePage = true")

    publish(teacher, code, "hello", "print('hello from the teacher')", 1)
    feed_code = page.locator(".cs-feed code", has_text="print('hello from the teacher')")
    feed_code.wait_for(timeout=UPDATE_MS)
    page.locator(".cs-notice", has_text="New cell from the teacher").first.wait_for(timeout=UPDATE_MS)
    assert page.evaluate("window.__csSamePage === true"), "the page was reloaded"

    # preview it, choose the notebook and "after cell 1", pull
    page.locator(".cs-feed-item", has_text="hello").get_by_role("button", name="Preview").click()
    page.locator(".cs-preview-code", has_text="hello from the teacher").wait_for(timeout=UPDATE_MS)
    notebook_select, position_select = page.locator("select").nth(0), page.locator("select").nth(1)
    notebook_select.select_option(value="lesson.ipynb")
    page.locator("select option", has_text="After cell 1: # My notes").wait_for(state="attached",
                                                                             timeout=UPDATE_MS)
    position_select.select_option(label="After cell 1: # My notes")
    page.get_by_role("button", name="Pull this cell").click()
    page.locator(".cs-message", has_text="Pulled Cell 1 (v1) into lesson.ipynb as cell 2").wait_for(
        timeout=UPDATE_MS)

    nb = student.client().get("api/contents/lesson.ipynb", params={"content": 1}).json()["content"]
    sources = ["".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"]]
    assert sources == ["# My notes", "print('hello from the teacher')", "a = 1"]
    assert nb["cells"][1]["metadata"]["codestream"] == {"session": code, "cell_id": "hello", "version": 1, "number": 1}

    # the teacher updates it: the badge and the diff show before anything is pulled
    publish(teacher, code, "hello", "print('hello, class')", 1)
    page.locator(".cs-notice", has_text="The teacher updated Cell 1").first.wait_for(timeout=UPDATE_MS)
    page.locator(".cs-badge-updated").first.wait_for(timeout=UPDATE_MS)
    page.locator(".cs-diff-pane, .cs-preview-diff").first.wait_for(timeout=UPDATE_MS)
    assert position_select.input_value() == END_LABEL  # an update goes right after the student's copy
    # drawn from the version pulled: the teacher's change, and mine (none) apart
    page.locator(".cs-diff-teacher", has_text="print('hello, class')").wait_for(timeout=UPDATE_MS)
    page.locator(".cs-diff-mine", has_text="You have not changed your copy.").wait_for(timeout=UPDATE_MS)
    # everything fits the narrow tab: nothing needs sideways scrolling
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    page.screenshot(path=str(artifacts_dir() / "student-dashboard.png"), full_page=True)

    # cells that carry markup are shown as text, and nothing runs
    publish(teacher, code, "xss", XSS, 2)
    publish(teacher, code, "xssmd", f"# Careful\n\n{XSS} <script>alert(2)</script>", 3, "markdown")
    page.locator(".cs-feed code", has_text=XSS).first.wait_for(timeout=UPDATE_MS)
    page.locator(".cs-notice", has_text=XSS).first.wait_for(timeout=UPDATE_MS)
    page.locator(".cs-feed-item", has_text="Cell 3").wait_for(timeout=UPDATE_MS)  # both have arrived
    page.locator(".cs-feed-item", has_text="Cell 3").get_by_role("button", name="Preview").click()
    preview = page.locator(".cs-preview-markdown")
    preview.wait_for(timeout=UPDATE_MS)
    assert XSS in preview.inner_text() and "<script>alert(2)</script>" in preview.inner_text()
    assert preview.locator("h1", has_text="Careful").count() == 1
    page.locator(".cs-feed-item", has_text="Cell 2").first.get_by_role("button", name="Preview").click()
    page.locator(".cs-preview-code", has_text=XSS).wait_for(timeout=UPDATE_MS)
    assert page.locator("img[src=x]").count() == 0 and page.locator("script:has-text('alert(')").count() == 0
    assert dialogs == []
    assert page.evaluate("window.__csSamePage === true")
