"""Benchmark-only baseline: bare tornado server-sent-events fan-out, no Jupyter, no Redis.

``python -m bench.bare_sse --port P`` serves ``GET /events`` (open streams) and
``POST /publish`` (writes the body as one event to every open stream, then answers). This is
the floor the Code Stream fan-out is compared with, measured in the same run by the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import signal
import time

from tornado import iostream, web


class Streams:
    def __init__(self):
        self.open: set[EventsHandler] = set()
        self.next_id = 0


class EventsHandler(web.RequestHandler):
    def initialize(self, streams: Streams):
        self.streams = streams
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def get(self):
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.streams.open.add(self)
        try:
            self.write(": connected\n\n")
            await self.flush()
            while True:
                text = await self.queue.get()
                if text is None:
                    break
                self.write(text)
                await self.flush()
        except iostream.StreamClosedError:
            pass
        finally:
            self.streams.open.discard(self)

    def on_connection_close(self):
        self.queue.put_nowait(None)


class PublishHandler(web.RequestHandler):
    def initialize(self, streams: Streams):
        self.streams = streams

    def post(self):
        self.streams.next_id += 1
        text = f"id: {self.streams.next_id}\nevent: published\ndata: {self.request.body.decode()}\n\n"
        for handler in list(self.streams.open):
            handler.queue.put_nowait(text)
        self.finish(json.dumps({"delivered_to": len(self.streams.open)}))


class StatusHandler(web.RequestHandler):
    def get(self):
        self.finish({"streams": len(self.streams.open)})

    def initialize(self, streams: Streams):
        self.streams = streams


class GCHandler(web.RequestHandler):
    """One full collection, timed: the same probe as the teacher's ``bench/gc?collect=1``."""

    def get(self):
        started = time.perf_counter()
        gc.collect()
        self.finish({"full_gc_ms": (time.perf_counter() - started) * 1000, "objects": len(gc.get_objects())})


async def serve(port: int) -> None:
    streams = Streams()
    app = web.Application([
        (r"/events", EventsHandler, {"streams": streams}),
        (r"/publish", PublishHandler, {"streams": streams}),
        (r"/status", StatusHandler, {"streams": streams}),
        (r"/gc", GCHandler),
    ])
    gc.freeze()  # as the teacher's server does once it is up (freeze_startup_objects): same footing
    server = app.listen(port, address="127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
