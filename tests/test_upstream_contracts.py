"""The private upstream behaviour Code Stream relies on, one adapter each, checked against the
installed versions (``pyproject.toml`` declares the ranges these were written for).

Each adapter falls back to the public path when its upstream changes, which keeps the product
working but silently loses what the adapter was for (a fast SSE write, a token kept out of the
page). So these tests fail the day the upstream behaviour changes, instead of the fallback
hiding it:
- ``jupyter_ext/web/sse.py`` (tornado): an HTTP/1.1 connection says whether it frames chunks;
- ``jupyter_ext/stopping.py`` (simpervisor, jupyter_server): the proxy supervisor's signal state
  and its child handlers, and the server's own signal stop.

Two more rely on public upstream hooks, checked here all the same: the explicit save is heard
on Jupyter's own checkpoint route, and the dashboards' session tokens lose the credential
arguments in Bokeh's auth module hook (``codestream_dash/page_auth.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import socket

from tornado import httpserver, web

from jupyter_ext.domain.events import Event
from jupyter_ext.web import sse


class _Recorder(web.RequestHandler):
    def initialize(self, seen: asyncio.Queue):
        self.seen = seen

    async def get(self):
        self.set_header("Content-Type", "text/event-stream")
        await self.flush()
        connection = self.request.connection
        wrote_directly = sse.write_now(self, Event("1-0", "published", '{"cell_id": "a"}'))
        self.seen.put_nowait((getattr(connection, "_chunking_output", "missing"), wrote_directly))
        self.finish()


async def test_tornado_still_says_whether_it_frames_chunks():
    seen: asyncio.Queue = asyncio.Queue()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    server = httpserver.HTTPServer(web.Application([(r"/", _Recorder, {"seen": seen})]))
    server.add_sockets([listener])
    try:
        port = listener.getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        chunking, wrote_directly = await asyncio.wait_for(seen.get(), 10)
        body = await asyncio.wait_for(reader.read(65536), 10)
        writer.close()
    finally:
        server.stop()
    assert chunking is True, "tornado's HTTP1Connection no longer has _chunking_output: see web/sse.py"
    assert wrote_directly is True  # the direct path, not the handler fallback
    assert b"event: published" in body and b"Transfer-Encoding: chunked" in body


def test_the_explicit_save_route_is_jupyters_checkpoint_route():
    """Public, not private: ``handlers/explicit_save.py`` is Jupyter's own checkpoint handler on
    Jupyter's own pattern (a real server answering through it: tests/test_explicit_save.py)."""
    from jupyter_server.base.handlers import path_regex
    from jupyter_server.services.contents.handlers import CheckpointsHandler, default_handlers

    from jupyter_ext.handlers.explicit_save import CHECKPOINTS_ROUTE, ExplicitSaveHandler

    assert ("/" + CHECKPOINTS_ROUTE, CheckpointsHandler) in default_handlers
    assert CHECKPOINTS_ROUTE == r"api/contents%s/checkpoints" % path_regex
    assert issubclass(ExplicitSaveHandler, CheckpointsHandler)


def test_bokeh_asks_the_auth_module_before_every_page_and_websocket():
    """Bokeh's documented auth hook runs in ``prepare`` of its page and websocket handlers and of
    Panel's, before the session token is made (end to end: tests/test_launcher.py)."""
    from bokeh.server.auth_provider import AuthModule
    from bokeh.server.views.auth_request_handler import AuthRequestHandler
    from bokeh.server.views.doc_handler import DocHandler
    from bokeh.server.views.ws import WSHandler
    from panel.io.server import DocHandler as PanelDocHandler

    import codestream_dash.page_auth as page_auth

    assert issubclass(DocHandler, AuthRequestHandler) and issubclass(WSHandler, AuthRequestHandler)
    assert issubclass(PanelDocHandler, DocHandler)
    assert "auth_provider.get_user_async(self)" in inspect.getsource(AuthRequestHandler.prepare)
    provider = AuthModule(page_auth.__file__)  # Bokeh's own validation of the module
    assert provider.get_user_async is not None and provider.login_url == "/"


def test_the_proxy_supervisor_and_the_server_still_stop_as_stopping_py_expects():
    """``install_stop_handler`` keeps simpervisor from installing its SystemExit handler (its
    ``signal_handler_set`` flag), signals the proxied dashboards through its ``_handlers``, and
    runs Jupyter's own ``_signal_stop`` (end to end: tests/test_clean_stop.py)."""
    from jupyter_server.serverapp import ServerApp
    from simpervisor import atexitasync

    assert isinstance(atexitasync.signal_handler_set, bool)
    assert isinstance(atexitasync._handlers, list)
    assert "if not signal_handler_set" in inspect.getsource(atexitasync.add_handler)
    assert list(inspect.signature(ServerApp._signal_stop).parameters) == ["self", "sig", "frame"]
