"""HTML for the student dashboard, built so that a cell can never inject markup.

Every string that came from the teacher (sources, ids, titles) reaches the page either
escaped by Pygments/``html.escape`` or rendered by markdown-it with raw HTML disabled and
then cleaned by nh3: a cell containing ``<script>`` or ``<img onerror=…>`` shows as text.
"""

from __future__ import annotations

from html import escape

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer, TextLexer

from .student_model import NEW, PULLED, UPDATED, WITHDRAWN, cell_label

_FORMATTER = HtmlFormatter(noclasses=True, nobackground=True, style="default")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")

BOX = ("margin:0; padding:6px 8px; border:1px solid #ddd; border-radius:4px; background:#fafafa;"
       " overflow-x:auto; font-size:12.5px; max-height:360px; overflow-y:auto")

# white text on each of these is at least 4.5:1 (WCAG AA for small text)
BADGES = {
    NEW: ("new", "#1565c0"),
    UPDATED: ("updated since you pulled it", "#a83c00"),
    PULLED: ("pulled", "#2e7d32"),
    WITHDRAWN: ("withdrawn by the teacher", "#57606a"),
}

LIGHTS = {
    "not_configured": ("#9e9e9e", "not set up"),
    "connecting": ("#fbc02d", "connecting…"),
    "connected": ("#43a047", "connected"),
    "reconnecting": ("#fb8c00", "reconnecting…"),
    "unreachable": ("#c62828", "cannot reach the teacher"),  # never reached since this configuration
    "ended": ("#57606a", "session ended"),  # a normal end of a lesson: grey, not red
    "error": ("#e53935", "error"),
}


def _wrap(inner: str, kind: str) -> str:
    return f'<div class="cs-preview cs-preview-{kind}" style="{BOX}">{inner}</div>'


def code_html(source: str, cell_type: str = "code") -> str:
    """Syntax-highlighted, read-only source (Pygments escapes every character it emits)."""
    lexer = PythonLexer() if cell_type == "code" else TextLexer()
    return _wrap(highlight(source or "", lexer, _FORMATTER), "code")


def markdown_html(source: str) -> str:
    """Rendered markdown with raw HTML shown as text, then sanitized (no scripts, no handlers)."""
    rendered = _MARKDOWN.render(source or "")
    return _wrap(nh3.clean(rendered), "markdown")


def cell_preview_html(cell: dict) -> str:
    if cell.get("cell_type") == "markdown":
        return markdown_html(cell.get("source", ""))
    return code_html(cell.get("source", ""), cell.get("cell_type", "code"))


def diff_html(diff_text: str, empty: str = "Your copy already matches the teacher's new version.") -> str:
    if not diff_text:
        return _wrap(f"<em>{escape(empty)}</em>", "diff")
    return _wrap(highlight(diff_text, DiffLexer(), _FORMATTER), "diff")


def badge_html(status: str) -> str:
    label, colour = BADGES[status]
    return (f'<span class="cs-badge cs-badge-{status}" style="background:{colour}; color:white;'
            f' border-radius:8px; padding:1px 7px; font-size:11px; white-space:nowrap">{label}</span>')


FOCUS_BADGE = ('<span class="cs-badge cs-badge-focus" style="background:#6639ba; color:white;'
               ' border-radius:8px; padding:1px 7px; font-size:11px; white-space:nowrap">'
               'the teacher is showing this</span> ')


def feed_item_html(cell: dict, status: str, snippet_text: str, focused: bool = False) -> str:
    """One line of the feed: badge, "Cell 3 · code · v2" and the first line of the source, all escaped;
    the cell the teacher is showing is marked (and found by ``data-cs-cell`` to scroll to it)."""
    return (
        f'<div class="cs-feed-label{" cs-focused" if focused else ""}" data-cs-cell="{escape(str(cell.get("cell_id", "")))}"'
        f' style="line-height:1.5">{FOCUS_BADGE if focused else ""}{badge_html(status)} '
        f'<span class="cs-cell-name" style="color:#1f2328; font-size:13px"><b>{escape(cell_label(cell))}</b>'
        f' · {escape(cell.get("cell_type", ""))} · v{int(cell.get("version", 1))}</span><br>'
        f'<code style="font-size:12px">{escape(snippet_text)}</code></div>'
    )


def light_html(state: str, message: str = "") -> str:
    colour, label = LIGHTS.get(state, LIGHTS["error"])
    detail = f'<div style="color:#555; font-size:12px">{escape(message)}</div>' if message else ""
    return (
        f'<div class="cs-light" data-state="{escape(state)}" style="display:flex; gap:8px;'
        f' align-items:flex-start"><span style="flex:none; width:12px; height:12px; margin-top:4px;'
        f' border-radius:50%; background:{colour}"></span><div><strong>{label}</strong>{detail}</div></div>'
    )


def message_html(text: str, ok: bool | None) -> str:
    """A result line under a form: green when it worked, red when not, plain otherwise."""
    if not text:
        return ""
    colour = "#2e7d32" if ok else ("#c62828" if ok is False else "#333")
    return f'<div class="cs-message" style="color:{colour}; font-size:13px">{escape(text)}</div>'
