"""The private upstream behaviour Code Stream relies on, one adapter each, checked against the
installed versions (``pyproject.toml`` declares the ranges these were written for).

Each adapter falls back to the public path when its upstream changes, which keeps the product
working but silently loses what the adapter was for (a fast SSE write, publish on an explicit
save only, a token kept out of the page). So these tests fail the day the upstream behaviour
changes, instead of the fallback hiding it:
- ``jupyter_ext/web/sse.py`` (tornado): an HTTP/1.1 connection says whether it frames chunks;
- ``jupyter_ext/services/collab_save.py`` (jupyter-server-ydoc): the frontend's save request
  and the room's autosave run through two distinct room methods;
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


def test_jupyter_server_ydoc_still_tells_a_requested_save_from_an_autosave():
    from jupyter_server_ydoc.handlers import YDocWebSocketHandler
    from jupyter_server_ydoc.rooms import DocumentRoom

    from jupyter_ext.services.collab_save import track_collaborative_saves

    # the frontend's save message is answered by ``_save_to_disc`` (sync, it starts the save task)
    assert "._save_to_disc()" in inspect.getsource(YDocWebSocketHandler.on_message)
    assert not inspect.iscoroutinefunction(getattr(DocumentRoom, "_save_to_disc", None))
    # ... and both it and the room's own autosave write through ``_maybe_save_document``
    assert inspect.iscoroutinefunction(getattr(DocumentRoom, "_maybe_save_document", None))
    room_source = inspect.getsource(DocumentRoom)
    assert room_source.count("self._maybe_save_document(") >= 2, "the autosave no longer runs the save method"
    assert track_collaborative_saves() is True


def test_bokeh_pages_still_pass_through_auth_request_handler_prepare():
    from bokeh.server.views.auth_request_handler import AuthRequestHandler
    from bokeh.server.views.doc_handler import DocHandler

    from codestream_dash.panel_setup import keep_credentials_out_of_session_tokens

    assert issubclass(DocHandler, AuthRequestHandler)
    assert inspect.iscoroutinefunction(AuthRequestHandler.prepare)
    keep_credentials_out_of_session_tokens()
    assert getattr(AuthRequestHandler.prepare, "_codestream", False)
