"""A "Copy …" button: the value goes to the clipboard in the browser, never through the server.

``navigator.clipboard`` exists only in secure contexts (https, localhost); a classroom server
on a LAN address is plain http, so the old ``execCommand('copy')`` path is the fallback.
"""

from __future__ import annotations

import panel as pn

from .common import FOCUS_CSS

COPY_JS = """
const text = String(value);
function fallback() {
  const area = document.createElement('textarea');
  area.value = text; area.setAttribute('readonly', '');
  area.style.position = 'fixed'; area.style.opacity = '0';
  document.body.appendChild(area); area.select();
  try { document.execCommand('copy'); } finally { document.body.removeChild(area); }
}
if (navigator.clipboard && window.isSecureContext) {
  navigator.clipboard.writeText(text).catch(fallback);
} else { fallback(); }
"""


def copy_button(value: str, what: str, **params) -> pn.widgets.Button:
    """A button that copies ``value``; disabled while there is nothing to copy."""
    button = pn.widgets.Button(label=f"Copy {what}", color="primary", variant="outline",
                               width=200, disabled=not value,
                               css_classes=[f"cs-copy-{what.replace(' ', '-')}"], stylesheets=[FOCUS_CSS],
                               **params)
    button.js_on_click(args={"value": value}, code=COPY_JS)
    return button
