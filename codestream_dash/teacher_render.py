"""HTML and styles of the teacher dashboard. Every value shown is escaped here.

The styles are one Panel stylesheet (``TEACHER_CSS``) given to each pane that needs it:
Panel renders every component in its own shadow root, so a page-wide style would not reach
inside the panes.
"""

from __future__ import annotations

import panel as pn

from .common import escape

TEACHER_CSS = """
:host { --cs-text: #1f2328; --cs-muted: #57606a; --cs-code: #0b3d91; --cs-mono: 'DejaVu Sans Mono', Menlo,
        Consolas, monospace; }
h1 { margin: 0; font-size: 28px; }
.cs-label { font-size: 18px; color: var(--cs-muted); }
.cs-session-code { font-family: var(--cs-mono); font-size: 44px; font-weight: 700; letter-spacing: 0.1em;
                   line-height: 1.05; color: var(--cs-code); }
.cs-side-title { font-size: 20px; margin: 0; }
.cs-projector-open { display: inline-block; font-size: 15px; padding: 6px 14px; border-radius: 4px;
                     background: #0969da; color: #fff; text-decoration: none; font-weight: 600; }
.cs-projector-open:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.cs-value { font-family: var(--cs-mono); font-size: 30px; font-weight: 600; color: var(--cs-text);
            overflow-wrap: anywhere; }
.cs-key-hidden { font-size: 18px; color: var(--cs-text); }
.cs-students-line { font-size: 22px; text-align: right; color: var(--cs-text); }
.cs-others { color: var(--cs-muted); }
.cs-warning { border: 1px solid #9a6700; border-left-width: 6px; background: #fff8c5; color: #1f2328;
              padding: 8px 12px; border-radius: 4px; font-size: 15px; }
.cs-note { border: 1px solid #0969da; border-left-width: 6px; background: #ddf4ff; color: #1f2328;
           padding: 8px 12px; border-radius: 4px; font-size: 15px; }
.cs-note code, .cs-warning code { font-family: var(--cs-mono); background: #ffffff; padding: 0 3px; }
.cs-confirm-text { font-size: 18px; font-weight: 600; color: var(--cs-text); }
"""


def html_pane(obj, **params) -> pn.pane.HTML:
    """An HTML pane that carries the dashboard's stylesheet."""
    return pn.pane.HTML(obj, stylesheets=[TEACHER_CSS], **params)


def title_html() -> str:
    return "<h1>Code Stream — Teacher</h1>"


def code_html(code: str) -> str:
    return f"<div class='cs-session-code'>{escape(code)}</div>"


def labelled_html(label: str, value: str, css_class: str) -> str:
    return (f"<div class='cs-label'>{escape(label)}</div>"
            f"<div class='cs-value {css_class}'>{escape(value)}</div>")


def key_html(key: str) -> str:
    if key:
        return labelled_html("Student key", key, "cs-key")
    return ("<div class='cs-label'>Student key</div>"
            "<div class='cs-key cs-key-hidden'>not known to this server (a session it did not start)</div>")


def projector_link_html(code: str) -> str:
    """Opens the projector view of this app in a tab of its own (for the beamer)."""
    if not code:
        return ""
    return ("<a class='cs-projector-open' href='?view=projector' target='_blank' rel='noopener'>"
            "Projector</a>")


def hands_title_html(count: int, hands_open: bool) -> str:
    closed = " (closed)" if not hands_open else ""
    return f"<h2 class='cs-side-title'>Hands: {count}{escape(closed)}</h2>"


def students_html(students: int, code: str) -> str:
    if not code:
        return ""
    return (f"<div class='cs-students-line'><b class='cs-student-count'>{students}</b> "
            f"student{'s' if students != 1 else ''} connected</div>")


def others_html(count: int) -> str:
    if not count:
        return ""
    return (f"<p class='cs-others'>{count} more published cell{'s' if count != 1 else ''} of this "
            "session come from other notebooks.</p>")


def progress_text(done: int, total: int) -> str:
    return f"{done} / {total}"


CONFIRM_LABELS = {"end": "Yes, end the session", "unpublish_all": "Yes, unpublish all",
                  "rotate": "Yes, rotate the key"}


def confirm_html(action: str, code: str) -> str:
    """The question an irreversible button asks before it acts."""
    if action == "end":
        text = (f"End session {code} for everyone? Students stop getting cells; what they pulled stays in"
                " their notebooks.")
    elif action == "unpublish_all":
        text = "Unpublish every cell of this notebook? Students keep what they pulled, marked as withdrawn."
    elif action == "rotate":
        text = ("Rotate the student key? Only for a leaked key: every student is disconnected and must join"
                " again with the new link or key. The join link and QR code stay valid for the session"
                " without rotating.")
    else:
        return ""
    return f"<div class='cs-confirm-text'>{escape(text)}</div>"


def confirm_label(action: str) -> str:
    return CONFIRM_LABELS.get(action, "Yes")


def warning_html(text: str) -> str:
    """A warning the teacher must act on; `backticks` become code, everything escaped."""
    return _boxed(text, "cs-warning")


def note_html(text: str) -> str:
    """Something to know, no action needed (same look as a warning, calmer colours)."""
    return _boxed(text, "cs-note")


def _boxed(text: str, css_class: str) -> str:
    if not text:
        return ""
    parts = escape(text).split("`")
    shown = "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))
    return f"<div class='{css_class}' role='note'>{shown}</div>"
