"""Messages for the person at the dashboard, shown in the page flow instead of floating toasts.

Floating toasts covered the teacher's switches and used another font; these sit under the
header, in the page's own font, newest first, in a polite live region (screen readers read
them out) with text at WCAG AA contrast.
"""

from __future__ import annotations

from html import escape

SHOWN = 3
NOTICES_CSS = """
.cs-notices { display: flex; flex-direction: column; gap: 4px; }
.cs-notice { border-left: 5px solid; padding: 4px 10px; font-size: 15px; color: #1f2328; border-radius: 3px; }
.cs-notice-info { border-color: #0969da; background: #ddf4ff; }
.cs-notice-success { border-color: #1a7f37; background: #dafbe1; }
.cs-notice-warning { border-color: #9a6700; background: #fff8c5; }
.cs-notice-error { border-color: #cf222e; background: #ffebe9; }
"""
KINDS = ("info", "success", "warning", "error")


def notices_html(notices: list) -> str:
    """The newest few ``(kind, text)`` notices; ``text`` is plain and escaped here."""
    shown = list(notices)[-SHOWN:][::-1]
    items = "".join(
        f"<div class='cs-notice cs-notice-{kind if kind in KINDS else 'info'}'>{escape(str(text))}</div>"
        for kind, text in shown)
    return f"<div class='cs-notices' role='status' aria-live='polite'>{items}</div>"
