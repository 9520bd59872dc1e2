"""Under the hub, a forwarded event stream whose service goes silent ends after
``c.CodeStreamApp.upstream_read_timeout`` (issue 20, item 10): it used to take the deprecated
``relay_read_timeout``, whose default is None (no read timeout: a stalled service held the
student's stream, and a file descriptor, forever).

A real single-user Jupyter server in hub mode (the two environment variables the spawner sets)
forwards to a real "service" on 127.0.0.1 that answers the stream with one heartbeat, then
nothing: the stream the browser holds ends within the timeout, without a traceback.
"""

from __future__ import annotations

import threading
import time

import httpx

from jupyter_ext.hub.config import HUB_SERVICE_URL_ENV
from jupyter_ext.testing.http import LoopbackHTTPServer, QuietHandler

READ_TIMEOUT = 2


class SilentService(LoopbackHTTPServer):
    """Answers every event stream with one heartbeat, then stays silent until closed."""

    def __init__(self):
        self.streams = 0
        self._stop = threading.Event()
        service = self

        class Handler(QuietHandler):
            def do_GET(self):
                service.streams += 1
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b": connected\n\n")
                self.wfile.flush()
                service._stop.wait(60)

        super().__init__(Handler)

    def close(self):
        self._stop.set()
        super().close()


def test_a_silent_service_ends_the_forwarded_stream(cs_jupyter_server_factory):
    service = SilentService()
    try:
        server = cs_jupyter_server_factory(
            "hub-singleuser", env={HUB_SERVICE_URL_ENV: service.url, "JUPYTERHUB_API_TOKEN": "hub-token-0123456789abcdef"},
            args=[f"--CodeStreamApp.upstream_read_timeout={READ_TIMEOUT}"])
        started = time.monotonic()
        ended = False
        with httpx.Client(timeout=httpx.Timeout(40.0)) as client:  # longer than the test waits
            with client.stream("GET", f"{server.url}codestream/api/sessions/ABCDEF/events",
                               headers=server.auth_headers()) as response:
                assert response.status_code == 200
                try:
                    for _chunk in response.iter_raw():
                        pass
                    ended = True
                except httpx.ReadTimeout:
                    pass  # this client's own timeout: the server never ended the stream
                except httpx.HTTPError:
                    ended = True  # the server closed the connection mid-stream: ended too
        assert ended, "the forwarded stream stayed open past the read timeout"
        assert time.monotonic() - started < 20
        assert service.streams == 1
        assert "Traceback" not in server.log_text()
    finally:
        service.close()
