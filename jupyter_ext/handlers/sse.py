"""Server-sent events on tornado: headers, writes that notice a gone client, heartbeats."""

from __future__ import annotations

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
