"""Incremental parser for ``text/event-stream`` (the subset the contract uses)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field


@dataclass
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self):
        return json.loads(self.data) if self.data else {}


@dataclass
class SSEParser:
    """Feed lines, get events; comment lines (heartbeats) go to ``on_comment`` if set, else nowhere."""

    on_comment: Callable[[str], None] | None = None
    _event: str = "message"
    _data: list[str] = field(default_factory=list)
    _id: str | None = None
    _retry: int | None = None

    def feed_line(self, line: str) -> ServerSentEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            if not self._data and self._id is None:
                self._event = "message"
                return None
            event = ServerSentEvent(self._event, "\n".join(self._data), self._id, self._retry)
            self._event, self._data, self._id, self._retry = "message", [], None, None
            return event
        if line.startswith(":"):
            if self.on_comment is not None:
                self.on_comment(line[1:].strip())
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\x00" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None


async def iter_sse(lines: AsyncIterator[str], on_comment: Callable[[str], None] | None = None
                   ) -> AsyncIterator[ServerSentEvent]:
    parser = SSEParser(on_comment)
    async for line in lines:
        event = parser.feed_line(line)
        if event is not None:
            yield event
