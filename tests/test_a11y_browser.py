"""What a person sees, in Chromium: accessible dashboards (axe-core), keyboard use, the QR code,
numbers and counts, and a teacher's hostile output that must not run in a student's page."""

from __future__ import annotations

import base64
import re
import struct
import zlib
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

from jupyter_ext.pytest_plugin import artifacts_dir, create_session, wait_until, write_notebook
from jupyter_ext.testing import SSEReader

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
APP_MS = 120_000
UI_MS = 30_000
HOSTILE_HTML = ('<p class="cs-test-html">a <b>bold</b> table</p><script>window.__pwned = "script"</script>'
                '<img src="x" onerror="window.__pwned = \'onerror\'">'
                '<a href="javascript:window.__pwned=\'href\'">link</a>')
SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" viewBox="0 0 40 40" '
       'onload="window.__pwned = \'svg\'"><script>window.__pwned = "svg-script"</script>'
       '<rect width="40" height="40" fill="#0969da"/></svg>')

# the deepest focused element (Panel renders widgets in shadow roots) and its focus ring
FOCUSED = """() => {
  let a = document.activeElement;
  while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
  if (!a) return null;
  const style = getComputedStyle(a);
  return {label: a.getAttribute('aria-label') || a.textContent.trim().slice(0, 40), role: a.getAttribute('role'),
          outline: style.outlineStyle, width: parseFloat(style.outlineWidth) || 0,
          shadow: style.boxShadow};
}"""


def axe_problems(page, state: str) -> list[str]:
    """Serious and critical axe-core violations of the page as it is now."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [f"{state}: {v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in result if v["impact"] in ("serious", "critical")]


def tiny_png(size: int = 24) -> bytes:
    """A real PNG (a blue square), as a plot would be."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x09\x69\xda" * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def log_in(page, server) -> None:
    page.goto(f"{server.url}login")
    page.fill("input[name=password]", server.token)
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()


def tab_to(page, wanted, limit: int = 80) -> dict:
    """Press Tab until the focused element satisfies ``wanted``; keyboard only, as a person would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused and wanted(focused):
            return focused
    raise AssertionError("never reached by Tab")


def test_teacher_dashboard_accessible_by_keyboard_with_qr_and_counts(cs_teacher, cs_page):
    path = write_notebook(cs_teacher.root_dir, "a11y.ipynb", [("markdown", "# Loops"), ("code", "print(1)")])
    ids = [c.id for c in nbformat.read(str(path), as_version=4).cells]
    page = cs_page
    log_in(page, cs_teacher)
    page.goto(f"{cs_teacher.url}codestream-teacher/", timeout=APP_MS)
    start = page.get_by_role("button", name="Start session")
    start.wait_for(timeout=APP_MS)
    problems = axe_problems(page, "before a session")

    focused = tab_to(page, lambda f: f["label"] == "Start session")
    assert focused["outline"] != "none" and (focused["width"] >= 2 or focused["shadow"] != "none"), focused
    page.keyboard.press("Enter")
    expect(page.locator(".cs-session-code")).to_have_text(re.compile(r"^[A-Z0-9]{6}$"), timeout=UI_MS)
    code = page.locator(".cs-session-code").inner_text().strip()
    qr = page.locator(".cs-qr-box svg")
    qr.wait_for(timeout=UI_MS)
    box = qr.bounding_box()
    assert box["width"] >= 300 and box["height"] >= 300, box  # readable from the back of a room
    # the whole code is drawn, not a corner of it: its dark modules span the picture
    drawn = qr.evaluate("svg => { const b = svg.querySelector('path[stroke]').getBBox();"
                        " const v = svg.viewBox.baseVal; return [b.width / v.width, b.height / v.height]; }")
    assert all(0.7 < share < 1 for share in drawn), drawn
    assert code in page.locator(".cs-join-link").inner_text()

    page.locator("select").select_option("a11y.ipynb")
    row = page.locator(f".cs-cell-{ids[1]}")
    expect(row).to_contain_text("Cell 2", timeout=UI_MS)
    problems += axe_problems(page, "session with a notebook")
    focused = tab_to(page, lambda f: f["role"] == "switch" and f["label"] == "Publish cell 2")
    assert focused["outline"] != "none" and focused["width"] >= 2, focused
    page.keyboard.press(" ")
    expect(row).to_contain_text("published v1", timeout=UI_MS)
    expect(row).to_contain_text("0 students have v1", timeout=UI_MS)

    # a student's server reports a pull: the count moves on the page with no reload
    # (a student counts while holding an event stream of the session: contract v3, honest counts)
    key = page.locator(".cs-key").inner_text().strip()
    stream = SSEReader(f"{cs_teacher.url}codestream/api/sessions/{code}/events",
                       {"Authorization": f"Bearer {key}", "X-CodeStream-Client": "s1"})
    try:
        wait_until(lambda: stream.status == 200, 10, what="the student's stream")
        student = cs_teacher.client(auth=False, headers={"Authorization": f"Bearer {key}"})
        r = student.post(f"codestream/api/sessions/{code}/cells/{ids[1]}/pulled",
                         json={"version": 1, "client": "s1"})
        assert r.status_code == 204
        expect(row).to_contain_text("1 student has v1", timeout=UI_MS)
    finally:
        stream.close()

    # End session asks first; the question and its buttons are reachable and clean too
    page.get_by_role("button", name="End session").click()
    page.locator(".cs-confirm-text").wait_for(timeout=UI_MS)
    problems += axe_problems(page, "asking to end the session")
    page.screenshot(path=str(artifacts_dir() / "teacher-dashboard-a11y.png"), full_page=True)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator(".cs-confirm-text")).to_be_hidden(timeout=UI_MS)
    page.get_by_role("button", name="Rotate key").click()  # only for a leaked key: it asks first
    expect(page.locator(".cs-confirm-text")).to_contain_text("Rotate the student key?", timeout=UI_MS)
    problems += axe_problems(page, "asking to rotate the key")
    page.get_by_role("button", name="Yes, rotate the key").click()
    expect(page.locator(".cs-notice").first).to_contain_text("New student key", timeout=UI_MS)
    new_key = page.locator(".cs-key").inner_text().strip()
    expect(page.locator(".cs-join-link")).to_have_text(re.compile(rf"#{re.escape(new_key)}$"), timeout=UI_MS)
    page.screenshot(path=str(artifacts_dir() / "teacher-dashboard.png"), full_page=True)
    assert not problems, "\n".join(problems)


def test_student_sees_numbers_outputs_and_nothing_of_the_teacher_runs(cs_teacher, student, cs_page):
    teacher = cs_teacher.client()
    session = create_session(teacher, title="Plots")
    code = session["code"]
    png = base64.b64encode(tiny_png()).decode()
    outputs = [{"output_type": "stream", "name": "stdout", "text": "squares: [0, 1, 4]\n"},
               {"output_type": "display_data", "metadata": {}, "data": {"text/html": HOSTILE_HTML,
                                                                        "text/plain": "table"}},
               {"output_type": "display_data", "metadata": {}, "data": {"image/svg+xml": SVG}}]
    outputs.append({"output_type": "display_data", "metadata": {}, "data": {"image/png": png}})
    r = teacher.put(f"codestream/api/sessions/{code}/cells/plot", json={
        "source": "squares = [n * n for n in range(3)]\nprint('squares:', squares)", "cell_type": "code",
        "position": 2, "number": 3, "outputs": outputs})
    assert r.status_code == 200, r.text
    write_notebook(student.root_dir, "mine.ipynb", [("code", "mine = 1")])
    page = cs_page
    page.set_viewport_size({"width": 440, "height": 1100})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, student)
    page.goto(f"{student.url}codestream-student/", timeout=APP_MS)
    page.locator(".cs-light").first.wait_for(timeout=APP_MS)
    problems = axe_problems(page, "not set up")

    # joining takes the one link the teacher shows
    page.get_by_label("Join link").fill(session["join_link"])
    page.get_by_role("button", name="Join", exact=True).click()
    page.locator(".cs-light[data-state=connected]").wait_for(timeout=UI_MS)
    item = page.locator(".cs-feed-item", has_text="Cell 3")
    expect(item).to_contain_text("Cell 3 · code · v1", timeout=UI_MS)
    item.get_by_role("button", name="Preview").click()
    html_output = page.locator(".cs-out-html")
    expect(html_output).to_contain_text("a bold table", timeout=UI_MS)
    expect(page.locator(".cs-out-stream")).to_contain_text("squares: [0, 1, 4]")
    images = page.locator("img.cs-out-image")
    expect(images.first).to_be_visible(timeout=UI_MS)
    assert images.first.evaluate("img => img.naturalWidth") > 0  # the SVG, as a data-URI image
    page.wait_for_timeout(500)  # give any handler that slipped through the time to fire
    assert page.evaluate("window.__pwned") is None and dialogs == []
    assert page.locator("script:has-text('__pwned')").count() == 0
    assert page.locator("[onerror], [onload]").count() == 0
    problems += axe_problems(page, "a cell with outputs on show")

    page.screenshot(path=str(artifacts_dir() / "student-dashboard-outputs.png"), full_page=True)
    # opened on its own, the page offers a new notebook first: this student picks their own
    page.locator("select").nth(0).select_option(label="mine.ipynb")
    outputs_choice = page.get_by_role("checkbox", name="Also insert the teacher's output")
    outputs_choice.check()  # a real checkbox: its state is readable, and it is for this pull only
    page.get_by_role("button", name="Pull this cell").click()
    page.locator(".cs-message", has_text="with the teacher's output").wait_for(timeout=UI_MS)
    wait_until(lambda: len(nbformat.read(str(student.root_dir / "mine.ipynb"), as_version=4).cells) == 2, 10,
               what="the pulled cell in the file")
    pulled = nbformat.read(str(student.root_dir / "mine.ipynb"), as_version=4).cells[1]
    assert [o["output_type"] for o in pulled.outputs][:2] == ["stream", "display_data"]
    expect(outputs_choice).not_to_be_checked(timeout=UI_MS)  # the next pull starts without it

    # the teacher withdraws it: the student's copy stays listed, marked
    assert teacher.delete(f"codestream/api/sessions/{code}/cells/plot").status_code == 204
    withdrawn = page.locator(".cs-feed-item-withdrawn")
    expect(withdrawn).to_contain_text("withdrawn by the teacher", timeout=UI_MS)
    expect(withdrawn).to_contain_text("Cell 3")
    expect(page.locator(".cs-notice").first).to_contain_text("The teacher withdrew Cell 3")
    problems += axe_problems(page, "a withdrawn copy")
    assert not problems, "\n".join(problems)



def test_launcher_tiles_show_their_icons(cs_teacher, cs_page):
    page = cs_page
    log_in(page, cs_teacher)
    page.goto(f"{cs_teacher.url}lab", timeout=APP_MS)
    for title in ("Code Stream — Teacher", "Code Stream — Student"):
        icon = page.locator(f".jp-LauncherCard[title='{title}'] img")
        icon.wait_for(timeout=APP_MS)
        box = icon.bounding_box()
        assert box and box["width"] >= 20 and box["height"] >= 20, (title, box)
        # not blank: the image drawn on a canvas has pixels that are neither white nor transparent
        coloured = icon.evaluate("""img => {
            const c = document.createElement('canvas'); c.width = 48; c.height = 48;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0, 48, 48);
            const d = g.getImageData(0, 0, 48, 48).data; let n = 0;
            for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240)) n++;
            return n; }""")
        assert coloured > 100, (title, coloured)
    page.screenshot(path=str(artifacts_dir() / "launcher.png"))
