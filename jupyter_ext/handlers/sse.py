"""Server-sent events on tornado: headers, writes that notice a gone client, heartbeats."""

from __future__ import annotations

from asyncio import Future

from tornado import iostream, web

HEARTBEAT_SECONDS = 15.0


def start_event_stream(handler: web.RequestHandler) -> None:
    handler.set_header("Content-Type", "text/event-stream; charset=utf-8")
    handler.set_header("Cache-Control", "no-cache, no-transform")
    handler.set_header("X-Accel-Buffering", "no")


async def send(handler: web.RequestHandler, text: str) -> bool:
    """Write and flush; ``False`` once the client has gone."""
    if handler.request.connection is None or handler._finished:
        return False
    try:
        handler.write(text)
        await handler.flush()
        return True
    except (iostream.StreamClosedError, RuntimeError):
        return False


def write_now(handler: web.RequestHandler, text: str, previous: Future | None) -> Future | None:
    """Write and flush without waiting; ``None`` when the client is gone or still has bytes
    waiting from ``previous`` (a slow reader: the caller queues instead, and awaits ``send``)."""
    if handler.request.connection is None or handler._finished:
        return None
    if previous is not None and not previous.done():
        return None
    try:
        handler.write(text)
        flushed = handler.flush()
    except (iostream.StreamClosedError, RuntimeError):
        return None
    flushed.add_done_callback(_retrieve)
    return flushed


def _retrieve(future: Future) -> None:
    if not future.cancelled():
        future.exception()  # a closed stream ends the handler's own loop; nothing to log here
