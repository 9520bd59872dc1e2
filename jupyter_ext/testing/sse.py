"""A real event stream read in a thread, parsed by the client's parser (``clients/sse.py``)."""

from __future__ import annotations

import json
import threading

import httpx

from ..clients.sse import ServerSentEvent, iter_sse_sync


def event_dict(event: ServerSentEvent) -> dict:
    """An event as the tests compare it: ``event``, ``data`` and (when sent) ``id``, ``retry``."""
    fields = {"event": event.event, "data": event.data}
    if event.id is not None:
        fields["id"] = event.id
    if event.retry is not None:
        fields["retry"] = event.retry
    return fields


class _Closed(Exception):
    """``SSEReader.close`` was called: the reading thread hangs up."""


class SSEReader:
    """Test helper: reads a real event stream in a thread; collects parsed events (comments counted)."""

    def __init__(self, url: str, headers: dict):
        self.events: list[dict] = []
        self.status: int | None = None
        self.comments = 0  # heartbeats and the ": connected" line
        self.comment_lines: list[str] = []  # their text, in order
        self.body: str = ""
        self.opened = threading.Event()
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._got = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        assert self.opened.wait(20), "event stream did not open"

    def _comment(self, text: str) -> None:
        if self._stop.is_set():  # heartbeats come when nothing else does: stop on one
            raise _Closed
        self.comment_lines.append(text)
        self.comments += 1

    def _run(self, url, headers):
        try:
            with httpx.Client(timeout=httpx.Timeout(30, read=60)) as client:
                with client.stream("GET", url, headers=headers) as response:
                    self.status = response.status_code
                    if response.status_code != 200:
                        self.body = response.read().decode()
                        self.opened.set()
                        return
                    self.opened.set()
                    for event in iter_sse_sync(response.iter_bytes(), self._comment):
                        if self._stop.is_set():
                            return
                        with self._got:
                            self.events.append(event_dict(event))
                            self._got.notify_all()
        except (httpx.HTTPError, _Closed):
            pass
        finally:
            self.opened.set()
            self.ended.set()

    def wait_for(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self._got:
            assert self._got.wait_for(lambda: len(self.events) >= n, timeout), self.events
            return list(self.events)

    def cell_ids(self) -> list[tuple[str, str]]:
        return [(e.get("event", ""), json.loads(e["data"]).get("cell_id", "")) for e in self.events]

    def close(self):
        self._stop.set()
