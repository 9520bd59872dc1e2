"""A teacher's cell outputs as safe HTML for a student's page: nothing in them can run.

Every output is turned into markup we write ourselves: text escaped in ``<pre>``, HTML
cleaned by nh3 (ammonia: no ``<script>``, no ``on…=`` handlers, no ``javascript:`` links),
SVG cleaned by nh3 with an SVG allow-list and then shown as an ``<img>`` of a data URI
(an image document never runs script, even if something slipped through), PNG/JPEG/GIF as
data URIs of checked base64. JavaScript outputs and unknown types are not shown.
"""

from __future__ import annotations

import base64
import binascii
import re
from html import escape

import nh3

from .student_render import markdown_html

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
BITMAPS = ("image/png", "image/jpeg", "image/gif")
# richest first, as JupyterLab picks
PREFERRED = ("text/html", "image/svg+xml", *BITMAPS, "text/markdown", "text/plain")
SVG_TAGS = {"svg", "g", "rect", "circle", "ellipse", "line", "polyline", "polygon", "path", "text", "tspan",
            "defs", "clipPath", "use", "title", "desc", "linearGradient", "radialGradient", "stop", "symbol",
            "marker", "mask", "pattern"}
SVG_ATTRIBUTES = {"*": {"width", "height", "viewBox", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx",
                        "ry", "d", "points", "fill", "stroke", "stroke-width", "stroke-linecap",
                        "stroke-linejoin", "stroke-dasharray", "transform", "xmlns", "xmlns:xlink",
                        "font-size", "font-family", "font-weight", "text-anchor", "dominant-baseline",
                        "opacity", "fill-opacity", "stroke-opacity", "id", "class", "offset", "stop-color",
                        "stop-opacity", "clip-path", "clipPathUnits", "gradientUnits", "href", "xlink:href",
                        "preserveAspectRatio", "version", "style", "markerWidth", "markerHeight", "refX", "refY",
                        "orient", "patternUnits", "mask"}}
OUTPUTS_CSS = """
.cs-outputs { display: flex; flex-direction: column; gap: 6px; border-left: 3px solid #57606a;
              padding-left: 8px; }
.cs-out { margin: 0; font-size: 13px; max-height: 400px; overflow: auto; }
pre.cs-out { white-space: pre-wrap; background: #f6f8fa; padding: 4px 6px; border-radius: 4px; }
.cs-out-stderr, .cs-out-error { background: #fff1f0; color: #86181d; }
.cs-out-image { max-width: 100%; height: auto; align-self: flex-start; background: #fff; }
.cs-out-html table { border-collapse: collapse; }
.cs-out-html td, .cs-out-html th { border: 1px solid #d0d7de; padding: 2px 6px; }
"""
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]+$")
# a student's HTML output in the teacher's page: no element that fetches or navigates (a relative
# src or href would reach the teacher's own Jupyter origin with the teacher's cookies)
STUDENT_HTML_TAGS = set(nh3.ALLOWED_TAGS) - {"img", "a", "area", "map"}


def outputs_html(outputs: list | None, *, from_student: bool = False) -> str:
    """All outputs of a cell, in order ("" when there are none). ``from_student``: the stricter
    cleaning for the teacher's page (no fetching or linking element, Markdown as text)."""
    parts = [one_output_html(output, from_student=from_student)
             for output in outputs or [] if isinstance(output, dict)]
    parts = [part for part in parts if part]
    if not parts:
        return ""
    return '<div class="cs-outputs">' + "".join(parts) + "</div>"


def one_output_html(output: dict, *, from_student: bool = False) -> str:
    kind = output.get("output_type")
    if kind == "stream":
        css = "cs-out-stderr" if output.get("name") == "stderr" else "cs-out-stream"
        return f'<pre class="cs-out {css}">{escape(_text(output.get("text")))}</pre>'
    if kind == "error":
        traceback = "\n".join(ANSI.sub("", str(line)) for line in output.get("traceback") or [])
        text = traceback or f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return f'<pre class="cs-out cs-out-error">{escape(text)}</pre>'
    if kind in ("execute_result", "display_data"):
        data = output.get("data") if isinstance(output.get("data"), dict) else {}
        return rich_html(data, from_student=from_student)
    return ""


def rich_html(data: dict, *, from_student: bool = False) -> str:
    for mime in PREFERRED:
        if mime not in data:
            continue
        value = data[mime]
        if mime == "text/html" and from_student:
            clean = nh3.clean(_text(value), tags=STUDENT_HTML_TAGS, url_schemes=set())
            return f'<div class="cs-out cs-out-html">{clean}</div>'
        if mime == "text/html":
            clean = nh3.clean(_text(value), set_tag_attribute_values={"img": {"alt": "an image in the teacher's output"}})
            return f'<div class="cs-out cs-out-html">{clean}</div>'
        if mime == "image/svg+xml":
            return svg_img(_text(value))
        if mime in BITMAPS:
            shown = bitmap_img(mime, _text(value))
            if shown:
                return shown
            continue
        if mime == "text/markdown" and not from_student:
            return f'<div class="cs-out cs-out-markdown">{markdown_html(_text(value))}</div>'
        return f'<pre class="cs-out cs-out-text">{escape(_text(value))}</pre>'
    return ""


def svg_img(svg: str) -> str:
    clean = nh3.clean(svg, tags=SVG_TAGS, attributes=SVG_ATTRIBUTES, strip_comments=True)
    if "<svg" not in clean:
        return ""
    encoded = base64.b64encode(clean.encode("utf-8")).decode("ascii")
    return (f'<img class="cs-out cs-out-image" alt="an image the teacher\'s cell made"'
            f' src="data:image/svg+xml;base64,{encoded}">')


def bitmap_img(mime: str, data: str) -> str:
    compact = "".join(data.split())
    if not compact or not BASE64.match(compact):
        return ""
    try:
        base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return (f'<img class="cs-out cs-out-image" alt="an image the teacher\'s cell made"'
            f' src="data:{mime};base64,{compact}">')


def _text(value) -> str:
    """nbformat allows a string or a list of lines."""
    if isinstance(value, list):
        return "".join(str(part) for part in value)
    return "" if value is None else str(value)
