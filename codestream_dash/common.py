"""Small helpers both dashboards share: their server client, toasts, background tasks, previews.

Nothing here holds state at module level: every object belongs to one dashboard session.
"""

from __future__ import annotations

import asyncio
import functools
import html
import logging
import os
from collections.abc import Coroutine, Mapping

import panel as pn
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import MarkdownLexer, PythonLexer, TextLexer

from jupyter_ext.clients import APIError, ServerClient

log = logging.getLogger(__name__)

SERVER_URL_ENV = "CODESTREAM_SERVER_URL"
TOKEN_ENV = "CODESTREAM_TOKEN"


def client_from_environment(environ: Mapping[str, str] | None = None) -> ServerClient:
    """The client of the Jupyter server that launched this dashboard (URL and token from the launcher)."""
    environ = os.environ if environ is None else environ
    url = environ.get(SERVER_URL_ENV)
    if not url:
        raise RuntimeError(f"{SERVER_URL_ENV} is not set: start the dashboard from the JupyterLab launcher,"
                           f" or set {SERVER_URL_ENV} (and {TOKEN_ENV}) for `panel serve`.")
    return ServerClient(url, environ.get(TOKEN_ENV) or None)


def serve_dashboard(dashboard_class, title: str, app_file: str) -> None:
    """What an ``apps/*.py`` file does under ``panel serve``: this browser session's dashboard,
    or, when the app cannot find its Jupyter server, an alert saying how to open it.

    Call it under ``if pn.state.served:`` in the app file itself (Panel answers that by looking
    at the calling module)."""
    try:
        dashboard = dashboard_class.from_environment()
    except RuntimeError:
        pn.pane.Alert(
            f"**Code Stream cannot find its Jupyter server.** Open this dashboard from the JupyterLab "
            f"launcher, or set `{SERVER_URL_ENV}` (and `{TOKEN_ENV}`) before `panel serve {app_file}`.",
            alert_type="danger",
        ).servable(title=title)
    else:
        dashboard.attach_to_served_session()
        dashboard.servable(title=title)


def describe_error(exc: BaseException, doing: str) -> str:
    """One sentence for a toast: what failed and what the person can do about it."""
    if isinstance(exc, APIError):
        if exc.status in (401, 403) and exc.code in ("forbidden", "unauthorized", "http_error"):
            return (f"Could not {doing}: the Jupyter server no longer accepts this dashboard's token."
                    " Close this tab and open the dashboard again from the JupyterLab launcher.")
        return f"Could not {doing}: {exc.message}"
    return f"Could not {doing}: {type(exc).__name__}. The dashboard log has the details."


def notify(kind: str, message: str, duration: int = 8000) -> None:
    """A toast in the served page (``kind``: info, success, warning, error); a log line otherwise.

    ``message`` is HTML in the page: escape whatever part of it you did not write.
    """
    notifications = pn.state.notifications
    if notifications is None:
        log.info("codestream dashboard %s: %s", kind, message)
        return
    getattr(notifications, kind)(message, duration=duration)


class BackgroundTasks:
    """Tasks of one dashboard session, each referenced until done and cancelled when it closes."""

    def __init__(self):
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine, name: str | None = None) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("codestream dashboard task %s failed", task.get_name(), exc_info=task.exception())

    async def settle(self, exclude: set[asyncio.Task] | None = None) -> None:
        """Wait until the one-shot tasks (not those in ``exclude``) are done, including ones they start."""
        exclude = exclude or set()
        while True:
            pending = [t for t in self._tasks if t not in exclude and not t.done()]
            if not pending:
                return
            await asyncio.wait(pending)

    def cancel_all(self) -> list[asyncio.Task]:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    def __len__(self) -> int:
        return len(self._tasks)


def cell_source(cell: Mapping) -> str:
    """A notebook cell's source as one string (nbformat allows a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def preview_html(source: str, cell_type: str, max_lines: int = 6) -> str:
    """Syntax-highlighted first lines of a cell, escaped (sources may contain HTML), inline styles."""
    lines = source.splitlines()
    shown = "\n".join(line[:200] for line in lines[:max_lines])
    return _preview(shown, cell_type, len(lines) - max_lines)


@functools.lru_cache(maxsize=2048)
def _preview(shown: str, cell_type: str, more: int) -> str:
    """Memo of the highlighting (keys are at most a few hundred characters): a notebook's rows
    are rendered again on every refresh, and most of them did not change."""
    lexer = {"code": PythonLexer, "markdown": MarkdownLexer}.get(cell_type, TextLexer)()
    body = highlight(shown, lexer, _formatter()).rstrip("\n") if shown else '<span style="color:#888">(empty)</span>'
    tail = f'\n<span style="color:#888">… {more} more line{"s" if more != 1 else ""}</span>' if more > 0 else ""
    return ('<pre class="cs-preview" style="margin:0;white-space:pre-wrap;font-size:13px;'
            f'line-height:1.35;background:#f6f8fa;padding:6px 8px;border-radius:4px">{body}{tail}</pre>')


@functools.lru_cache(maxsize=1)
def _formatter() -> HtmlFormatter:
    return HtmlFormatter(noclasses=True, nowrap=True, style="default")


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


# A focus ring everyone can see (Bokeh's own is a 1 px dotted line): keyboard users must see
# where they are; and button colours with text at 4.5:1 or more (Panel's yellow "warning" outline
# was 1.6:1, its green 2.5:1). Given to every widget of the dashboards (styles live in shadow roots).
FOCUS_CSS = """
:host { --success-bg-color: #1a7f37; --warning-bg-color: #7d4e00; --danger-bg-color: #b42318;
        --design-primary-color: #0969da; --panel-primary-color: #0969da; }
:host(.solid) .bk-btn.bk-btn-primary { background-color: #0969da; border-color: #0969da; color: #fff; }
:host(.solid) .bk-btn.bk-btn-success { background-color: #1a7f37; border-color: #1a7f37; color: #fff; }
:host(.solid) .bk-btn.bk-btn-warning { background-color: #7d4e00; border-color: #7d4e00; color: #fff; }
:host(.solid) .bk-btn.bk-btn-danger { background-color: #b42318; border-color: #b42318; color: #fff; }
.bk-btn:focus-visible, input:focus-visible, select:focus-visible, textarea:focus-visible {
  outline: 3px solid #0969da !important; outline-offset: 2px; }
"""


def with_focus_ring(layout):
    """Add ``FOCUS_CSS`` to every widget in ``layout`` (and return it)."""
    for widget in layout.select(pn.widgets.Widget):
        if FOCUS_CSS not in widget.stylesheets:
            widget.stylesheets = [*widget.stylesheets, FOCUS_CSS]
    return layout
