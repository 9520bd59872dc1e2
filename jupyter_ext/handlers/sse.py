"""Server-sent events on tornado: headers, writes that notice a gone client, heartbeats."""

from __future__ import annotations

from asyncio import Future
from collections.abc import Awaitable, Callable, Iterable

from tornado import iostream, web

from ..store import Listener, ListenerOverflow
from ..store.sessions import EVENT_SESSION_ENDED, Event

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


async def pump(handler: web.RequestHandler, listener: Listener, replay: Iterable[Event], *,
               heartbeat_seconds: float = HEARTBEAT_SECONDS,
               on_heartbeat: Callable[[], Awaitable[None]] | None = None,
               sink: Callable[[Event], bool] | None = None) -> None:
    """Send the replay, then live events with heartbeats, until the client goes, the listener
    ends (shutdown, overflow: the client resumes with its Last-Event-ID) or the session ends.

    ``sink`` lets the fan-out loop write live events straight to an idle stream.
    """
    if not await send(handler, ": connected\n\n"):
        return
    for event in replay:
        if not await send(handler, event.sse()):
            return
    if sink is not None:
        listener.sink = sink
    while True:
        try:
            event = await listener.next(timeout=heartbeat_seconds)
        except (StopAsyncIteration, ListenerOverflow):
            return
        if event is None:
            if on_heartbeat is not None:
                await on_heartbeat()
            if not await send(handler, ": heartbeat\n\n"):
                return
            continue
        if not await send(handler, event.sse()):
            return
        if event.name == EVENT_SESSION_ENDED:
            return


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
