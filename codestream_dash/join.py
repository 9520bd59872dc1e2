"""The join panel: a session's join link, big enough for a projector, as text and QR code.

It only shows the ``join_link`` the server gives (``POST``/``GET codestream/api/sessions``):
in laptop mode the teacher's URL with the key in the fragment, under JupyterHub a hub link.
So the same component serves both; it builds no link itself.
"""

from __future__ import annotations

import functools

import panel as pn
import param
import segno

from .clipboard import copy_button
from .common import escape

QR_PIXELS = 360  # a phone reads it from the back of a classroom at this size on a projector

JOIN_CSS = """
.cs-join-label { font-size: 18px; color: #57606a; }
.cs-join-link { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 18px; color: #1f2328;
                overflow-wrap: anywhere; }
.cs-qr svg { display: block; width: %dpx; height: %dpx; }
.cs-join-hint { font-size: 16px; color: #1f2328; }
""" % (QR_PIXELS, QR_PIXELS)


@functools.lru_cache(maxsize=16)
def qr_svg(link: str) -> str:
    """The link as an inline SVG QR code (segno; error correction M survives a smudged screen)."""
    qr = segno.make(link, error="m")
    # one unit per module and a viewBox of the same size: the stylesheet scales it to QR_PIXELS
    # (with a transform, a viewBox would show only a corner of the code)
    svg = qr.svg_inline(scale=1, border=3, dark="#000", light="#fff")
    width, height = qr.symbol_size(scale=1, border=3)
    return svg.replace("<svg ", f'<svg role="img" aria-label="QR code of the join link" viewBox="0 0 {width} {height}"'
                                ' shape-rendering="crispEdges" ', 1)


def join_html(link: str) -> str:
    if not link:
        return ""
    if "#" not in link and "/hub/" not in link:
        return ("<div class='cs-join-label'>Join link</div><div class='cs-join-hint'>This server does not know"
                " the session's key (it did not start the session): rotate the key to show a join link and its"
                " QR code.</div>")
    return (f"<div class='cs-join-label'>Join link — scan it, or paste it into Code Stream — Student</div>"
            f"<div class='cs-qr'>{qr_svg(link)}</div>"
            f"<div class='cs-join-link'>{escape(link)}</div>")


class JoinPanel(pn.viewable.Viewer):
    """The join link of the session shown (empty: nothing to show)."""

    join_link = param.String(default="", doc="The session's join_link from the API.")

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML(self.param.join_link.rx.pipe(join_html), stylesheets=[JOIN_CSS],
                         css_classes=["cs-join"], sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.join_link.rx.pipe(lambda link: link if "#" in link or "/hub/" in link
                                                                else ""), "join link"),
            visible=self.param.join_link.rx.bool(), sizing_mode="stretch_width",
        )
