"""Server-sent events on tornado: the ``text/event-stream`` framing of the domain's events,
headers, writes that notice a gone client, heartbeats."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable

from tornado import iostream, web

from ..domain.events import EVENT_SESSION_ENDED, Event, Notice
from ..store.listener import Listener, ListenerOverflow

HEARTBEAT_SECONDS = 15.0


def _event_text(event: Event) -> str:
    return f"id: {event.id}\nevent: {event.name}\ndata: {json.dumps(event.data)}\n\n"


def _event_chunk(event: Event) -> bytes:
    body = frame(event).encode()
    return b"%x\r\n%b\r\n" % (len(body), body)


def frame(item: Event | Notice) -> str:
    """An event as ``text/event-stream`` text, rendered once however many streams send it; a
    notice as a comment line (no id, no event name, never replayed)."""
    if isinstance(item, Notice):
        return f": {item.text}\n\n"
    return item.rendered("_sse", _event_text)


def frame_chunk(item: Event | Notice) -> bytes:
    """The event as one HTTP/1.1 chunk (chunked transfer coding), also rendered once: what a
    fan-out writes straight to a thousand sockets (a notice, such as the tick's heartbeat, too)."""
    if isinstance(item, Notice):
        body = frame(item).encode()
        return b"%x\r\n%b\r\n" % (len(body), body)
    return item.rendered("_sse_chunk", _event_chunk)


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


async def send_opening(handler: web.RequestHandler, replay: Iterable[Event]) -> bool:
    """``: connected`` and the replay; ``False`` once the client has gone."""
    if not await send(handler, ": connected\n\n"):
        return False
    for event in replay:
        if not await send(handler, frame(event)):
            return False
    return True


async def pump(handler: web.RequestHandler, listener: Listener, replay: Iterable[Event], *,
               heartbeat_seconds: float = HEARTBEAT_SECONDS,
               on_heartbeat: Callable[[], Awaitable[None]] | None = None,
               sink: Callable[[Event], bool] | None = None) -> None:
    """Send the replay, then live events with heartbeats, until the client goes, the listener
    ends (shutdown, overflow: the client resumes with its Last-Event-ID) or the session ends.

    ``sink`` lets the fan-out loop write live events straight to an idle stream.
    (The teacher's read route runs a leaner loop of its own: ``web.core.ReadRoutes.stream_events``.)
    """
    if not await send_opening(handler, replay):
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
        if not await send(handler, frame(event)):
            return
        if event.name == EVENT_SESSION_ENDED:
            return


def write_now(handler: web.RequestHandler, event: Event) -> bool:
    """Write one live event to an idle stream at once, from the hub's fan-out loop.

    ``False`` when the client is gone or still has bytes in flight (a slow reader): the caller
    then queues the event and the handler's own loop sends it with ``send``.

    With a thousand streams this loop is the whole cost of a publish, so on a plain socket
    whose write buffer is empty it frames the chunk once per event (``frame_chunk``) and
    hands it to the socket itself: one ``send`` call, no future or callback per stream (those
    also fed the garbage collector). Whatever the socket does not take goes through the
    stream's buffer, in order. TLS streams, and a tornado whose HTTP/1.1 connection no longer
    says whether it frames chunks, take the stream's or the handler's own write path.
    """
    connection = handler.request.connection
    if connection is None or handler._finished:
        return False
    stream = getattr(connection, "stream", None)
    chunking = getattr(connection, "_chunking_output", None)
    if stream is None:
        return _write_through_handler(handler, event)
    if stream.closed() or stream.writing():
        return False
    if chunking is None:
        return _write_through_handler(handler, event)
    data = frame_chunk(event) if chunking else frame(event).encode()
    if type(stream) is not iostream.IOStream:  # TLS: the SSL layer must see every byte
        stream.write(data)
        return True
    try:
        sent = stream.socket.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        return False  # reset or gone: the stream notices on its own and ends the handler
    if sent < len(data):
        stream.write(data[sent:])
    return True


def _write_through_handler(handler: web.RequestHandler, event: Event) -> bool:
    try:
        handler.write(frame(event))
        handler.flush()  # the future also retrieves its own StreamClosedError
    except (iostream.StreamClosedError, RuntimeError):
        return False
    return True
