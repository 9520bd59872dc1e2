"""The private upstream behaviour Code Stream relies on, one adapter each, checked against the
installed versions (``pyproject.toml`` declares the ranges these were written for).

Each adapter falls back to the public path when its upstream changes, which keeps the product
working but silently loses what the adapter was for (a fast SSE write, a token kept out of the
page). So these tests fail the day the upstream behaviour changes, instead of the fallback
hiding it:
- ``jupyter_ext/web/sse.py`` (tornado): an HTTP/1.1 connection says whether it frames chunks;
- ``codestream_dash/panel_setup.py`` (Bokeh): every page handler passes through
  ``AuthRequestHandler.prepare``.
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


def test_bokeh_pages_still_pass_through_auth_request_handler_prepare():
    from bokeh.server.views.auth_request_handler import AuthRequestHandler
    from bokeh.server.views.doc_handler import DocHandler

    from codestream_dash.panel_setup import keep_credentials_out_of_session_tokens

    assert issubclass(DocHandler, AuthRequestHandler)
    assert inspect.iscoroutinefunction(AuthRequestHandler.prepare)
    keep_credentials_out_of_session_tokens()
    assert getattr(AuthRequestHandler.prepare, "_codestream", False)
