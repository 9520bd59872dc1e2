"""One incremental parser for ``text/event-stream`` (the subset the contract uses), bounded.

Bytes go in as they arrive (``SSEParser.feed``); only the new bytes of each chunk are scanned
for line ends, so an endless line costs one pass, not a re-split per chunk. Everything it
holds is bounded: the line being assembled (``max_line_bytes``) and the event being assembled
(``max_event_bytes``, its data lines together). A stream over either bound raises
``SSETooLarge``: a peer must not make the reader hold more than that. The student's upstream
client, the dashboards' client, the tests and the bench all read streams with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass

DEFAULT_MAX_LINE_BYTES = 1024 * 1024
DEFAULT_MAX_EVENT_BYTES = 1024 * 1024
_LINE_END = re.compile(rb"[\r\n]")


class SSETooLarge(ValueError):
    """The stream holds a line or an event over the parser's bound."""

    def __init__(self, what: str, limit: int):
        super().__init__(f"{what} larger than {limit} bytes")
        self.what = what
        self.limit = limit


@dataclass
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self):
        return json.loads(self.data) if self.data else {}


class SSEParser:
    """Feed bytes (or whole lines), get events; comment lines (heartbeats) go to ``on_comment``
    if set, else nowhere. Line ends are ``\\n``, ``\\r\\n`` or ``\\r``, as the SSE spec says."""

    def __init__(self, on_comment: Callable[[str], None] | None = None, *,
                 max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                 max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES):
        self.on_comment = on_comment
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self._line = bytearray()  # the line being assembled (no line end yet)
        self._after_cr = False  # the last chunk ended in "\r": a "\n" first in the next is its pair
        self._event = "message"
        self._data: list[str] = []
        self._event_bytes = 0
        self._id: str | None = None
        self._retry: int | None = None

    # -- bytes -------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events ``chunk`` completes (often none); raises ``SSETooLarge`` over a bound."""
        events: list[ServerSentEvent] = []
        start, end = 0, len(chunk)
        if self._after_cr and end and chunk[0] == 0x0A:
            start = 1
        self._after_cr = False
        while start < end:
            cut = _next_line_end(chunk, start)
            if cut < 0:
                if len(self._line) + end - start > self.max_line_bytes:
                    raise SSETooLarge("a line", self.max_line_bytes)
                self._line += chunk[start:end]
                break
            if len(self._line) + cut - start > self.max_line_bytes:
                raise SSETooLarge("a line", self.max_line_bytes)
            if self._line:
                self._line += chunk[start:cut]
                raw, self._line = bytes(self._line), bytearray()
            else:
                raw = chunk[start:cut]
            if chunk[cut] == 0x0D:
                if cut + 1 < end:
                    cut += chunk[cut + 1] == 0x0A
                else:
                    self._after_cr = True
            start = cut + 1
            event = self.feed_line(raw.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        return events

    # -- lines -------------------------------------------------------------------------------
    def feed_line(self, line: str) -> ServerSentEvent | None:
        """One line without its line end; the event it completes, if any."""
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and self._id is None:
                self._event = "message"
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
            self._event, self._data, self._id, self._retry = "message", [], None, None
            self._event_bytes = 0
            return event
        if line.startswith(":"):
            if self.on_comment is not None:
                self.on_comment(line[1:].strip())
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        self._event_bytes += len(line)
        if self._event_bytes > self.max_event_bytes:
            raise SSETooLarge("an event", self.max_event_bytes)
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


def _next_line_end(chunk: bytes, start: int) -> int:
    """Index of the first ``\\n`` or ``\\r`` at or after ``start``, or -1 (scans no further)."""
    match = _LINE_END.search(chunk, start)
    return match.start() if match else -1


async def iter_sse(chunks: AsyncIterator[bytes], on_comment: Callable[[str], None] | None = None, *,
                   max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                   max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> AsyncIterator[ServerSentEvent]:
    """The events of a byte stream (e.g. ``response.aiter_bytes()``)."""
    parser = SSEParser(on_comment, max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes)
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event


def iter_sse_sync(chunks: Iterable[bytes], on_comment: Callable[[str], None] | None = None, *,
                  max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
                  max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Iterator[ServerSentEvent]:
    """The same for a blocking byte stream (``response.iter_bytes()``, test threads)."""
    parser = SSEParser(on_comment, max_line_bytes=max_line_bytes, max_event_bytes=max_event_bytes)
    for chunk in chunks:
        yield from parser.feed(chunk)
