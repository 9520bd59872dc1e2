"""The teacher's notice of what publish on save could not send, with a retry.

A save that fails for a cell (the service refused it, its output is too large, the hub did not
answer) is never silent: the teacher's own server keeps the failure
(``GET codestream/api/publish/failures``) until the cell goes out, and this panel lists each
one ("Cell 3 of lesson.ipynb did not go out: …") with **Retry publishing**, which asks the
server to republish those notebooks (``POST codestream/api/publish/retry``). There is no event
for a failed save, so the dashboard asks with its periodic student-count refresh.
Every text is the server's, shown escaped.
"""

from __future__ import annotations

from html import escape

import panel as pn
import param

from jupyter_ext.domain import CodeStreamError

FAILURES_PATH = "codestream/api/publish/failures"
RETRY_PATH = "codestream/api/publish/retry"
SHOWN = 5
FAILURES_CSS = """
.cs-publish-failures { border-left: 5px solid #cf222e; background: #ffebe9; padding: 6px 10px; color: #1f2328;
                       font-size: 15px; border-radius: 3px; }
.cs-publish-failures ul { margin: 4px 0 0 0; padding-left: 1.2em; }
"""


def failure_text(failure: dict) -> str:
    number = failure.get("number")
    where = f" of {failure.get('notebook_path')}" if failure.get("notebook_path") else ""
    what = (f"Cell {number}" if number else f"Cell {failure.get('cell_id')}") if failure.get("cell_id") \
        else "The save"
    if failure.get("went_out"):
        return f"{what}{where} went out, but not all of it: {failure.get('message', '')}"
    return f"{what}{where} did not go out to students: {failure.get('message', '')}"


def failures_html(failures: list[dict], retrying: bool = False) -> str:
    if not failures:
        return ""
    items = "".join(f"<li>{escape(failure_text(f))}</li>" for f in failures[-SHOWN:])
    more = f"<li>and {len(failures) - SHOWN} more</li>" if len(failures) > SHOWN else ""
    head = "Retrying…" if retrying else "Publish on save did not send everything:"
    return (f"<div class='cs-publish-failures' role='alert'><b>{escape(head)}</b>"
            f"<ul>{items}{more}</ul></div>")


class PublishFailuresNotice(pn.viewable.Viewer):
    """What did not go out for ``session_code``, and a retry (state and view in one small piece)."""

    session_code = param.String(default="")
    failures = param.List(default=[])
    retrying = param.Boolean(default=False)
    retry = param.Event(label="Retry publishing")

    def __init__(self, client, **params):
        super().__init__(**params)
        self.client = client
        self.error = ""  # the last failure to ask the server, for the dashboard's own notices

    async def refresh(self) -> None:
        code = self.session_code
        if not code:
            self.failures = []
            return
        try:
            answer = await self.client.request("GET", FAILURES_PATH, params={"session": code})
        except CodeStreamError as exc:
            self.error = exc.message
            return
        if self.session_code == code:
            self.failures = list((answer or {}).get("failures") or [])

    @param.depends("retry", watch=True)
    async def _retry(self) -> None:
        code = self.session_code
        if not code or self.retrying:
            return
        self.retrying = True
        try:
            answer = await self.client.request("POST", RETRY_PATH, json_body={"session": code})
            if self.session_code == code:
                self.failures = list((answer or {}).get("failures") or [])
        except CodeStreamError as exc:
            self.error = exc.message
        finally:
            self.retrying = False

    @param.depends("session_code", watch=True)
    def _forget(self) -> None:
        self.failures = []

    def __panel__(self):
        return pn.Column(
            pn.pane.HTML(pn.bind(failures_html, self.param.failures, self.param.retrying),
                         stylesheets=[FAILURES_CSS], sizing_mode="stretch_width"),
            pn.widgets.Button.from_param(self.param.retry, color="danger", width=180,
                                         disabled=self.param.retrying, css_classes=["cs-publish-retry"]),
            visible=pn.bind(bool, self.param.failures), sizing_mode="stretch_width",
            css_classes=["cs-publish-failures-pane"])
