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

QR_PIXELS = 420  # a phone reads it from the back of a classroom at this size on a projector
QR_BORDER = 4  # modules of quiet zone, as the QR standard asks

JOIN_CSS = """
.cs-join-label { font-size: 18px; color: #57606a; margin-bottom: 6px; }
.cs-join-link { font-family: 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 18px; color: #1f2328;
                overflow-wrap: anywhere; }
.cs-qr-box { background: #fff; display: inline-block; margin: 10px 0; max-width: 100%%; }
.cs-qr-box svg { display: block; width: %dpx; max-width: 100%%; height: auto; }
.cs-join-hint { font-size: 16px; color: #1f2328; }
""" % QR_PIXELS


@functools.lru_cache(maxsize=16)
def qr_svg(link: str) -> str:
    """The link as an inline SVG QR code, the one renderer of every view (teacher, hub teacher,
    projector): segno, error correction M (survives a smudged screen), a standard quiet zone.

    One unit per module and a viewBox of the same size, with ``QR_PIXELS`` as its drawn size:
    CSS may scale it down to a narrow column and all of it stays in view (with segno's
    ``transform`` scaling, a viewBox would show only a corner of the code)."""
    qr = segno.make(link, error="m")
    svg = qr.svg_inline(scale=1, border=QR_BORDER, dark="#000", light="#fff", svgclass="cs-qr")
    width, height = qr.symbol_size(scale=1, border=QR_BORDER)
    svg = svg.replace(f'width="{width}" height="{height}"', f'width="{QR_PIXELS}" height="{QR_PIXELS}"', 1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="QR code of the join link" viewBox="0 0 {width} {height}"'
                                ' shape-rendering="crispEdges" ', 1)


def is_hub_link(link: str) -> bool:
    """A JupyterHub join link (``/hub/user-redirect/…?session=``): students join by identity."""
    return "/hub/" in link


def join_html(link: str, code: str = "") -> str:
    """The join link (laptop: with the key in its fragment; hub: a hub link) and its QR code."""
    if not link:
        return ""
    if "#" not in link and not is_hub_link(link):
        return ("<div class='cs-join-label'>Join link</div><div class='cs-join-hint'>This server does not know"
                " the session's key (it did not start the session): rotate the key to show a join link and its"
                " QR code.</div>")
    if is_hub_link(link):
        label = (f"Students: scan the QR code, or pick session {escape(code)} in Code Stream — Student."
                 " Nothing to type.")
    else:
        label = "Join link — scan it, or paste it into Code Stream — Student"
    return (f"<div class='cs-join-label'>{label}</div>"
            f"<div class='cs-qr-box'>{qr_svg(link)}</div>"
            f"<div class='cs-join-link'>{escape(link)}</div>")


class JoinPanel(pn.viewable.Viewer):
    """The join link of the session shown (empty: nothing to show)."""

    join_link = param.String(default="", doc="The session's join_link from the API.")
    session_code = param.String(default="", doc="The session's code (named in a hub link's label).")

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML(pn.bind(join_html, self.param.join_link, self.param.session_code), stylesheets=[JOIN_CSS],
                         css_classes=["cs-join"], sizing_mode="stretch_width"),
            pn.bind(copy_button, self.param.join_link.rx.pipe(lambda link: link if "#" in link or is_hub_link(link)
                                                                else ""), "join link"),
            visible=self.param.join_link.rx.bool(), sizing_mode="stretch_width",
        )
