"""Subscriber worker for ``bench/relay_fanout.py``: N raw event-stream connections in one process.

Run by the driver as ``python -m bench.relay_subscribers --spec JSON``. It opens every stream
(HTTP/1.0, so the body is the plain ``text/event-stream`` with no chunk framing to undo),
prints ``READY`` once each has its ``: connected`` comment, then records when every event
(with its id) arrives, parsed by the client's own parser (``clients/sse.py``), until each stream has ``events`` of them or ``timeout`` passes, and prints one JSON line.

Why raw asyncio and several worker processes: the client's own CPU is part of every figure on
a small machine; a bare ``StreamReader`` costs microseconds per event, and the driver splits
the streams over workers so one client process is not the ceiling being measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit

from jupyter_ext.clients.sse import SSEParser


async def subscribe(url: str, headers: dict, expected: int, ready: asyncio.Event,
                    deadline: float) -> dict:
    parts = urlsplit(url)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(parts.hostname, parts.port or 80, limit=2 ** 20), 30)
    head = f"GET {parts.path} HTTP/1.0\r\nHost: {parts.netloc}\r\nAccept: text/event-stream\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode("latin-1"))
    status_line = await asyncio.wait_for(reader.readline(), 30)
    if b" 200 " not in status_line:
        try:  # HTTP/1.0: the body ends with the connection; the contract's error code is in it
            body = await asyncio.wait_for(reader.read(2000), 10)
        except (asyncio.TimeoutError, OSError):
            body = b""
        writer.close()
        code = body.split(b'"code": "', 1)[-1].split(b'"', 1)[0].decode(errors="replace") if b'"code"' in body else ""
        return {"error": f"{status_line.decode(errors='replace').strip()} {code}".strip()}
    while (await asyncio.wait_for(reader.readline(), 30)) not in (b"\r\n", b"\n", b""):
        pass  # response headers
    arrivals: list[tuple[str, float]] = []
    parser = SSEParser(lambda text: ready.set() if text == "connected" else None)
    try:
        while len(arrivals) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            chunk = await asyncio.wait_for(reader.read(65536), remaining)
            if not chunk:
                break
            now = time.time()
            arrivals.extend((event.id, now) for event in parser.feed(chunk) if event.id)
    except asyncio.TimeoutError:
        pass
    finally:
        writer.close()
    return summarize(arrivals)


def summarize(arrivals: list[tuple[str, float]]) -> dict:
    """Count, last arrival, order check, and each event's delay since Redis stamped its id."""
    keys = [tuple(int(x) for x in event_id.split("-")) for event_id, _ in arrivals]
    return {
        "count": len(arrivals),
        "last": arrivals[-1][1] if arrivals else None,
        "ordered": all(a < b for a, b in zip(keys, keys[1:])),
        # a stream id starts with Redis's clock in ms: same machine, same clock
        "latency_ms": [round(at * 1000 - key[0], 1) for key, (_, at) in zip(keys, arrivals)],
    }


async def run(spec: dict) -> dict:
    deadline_open = time.monotonic() + spec["open_timeout"]
    readies = [asyncio.Event() for _ in spec["urls"]]
    # the whole measurement is bounded: opening, then at most ``timeout`` after READY
    deadline = time.monotonic() + spec["open_timeout"] + spec["timeout"]
    tasks = []
    for i, (url, ready) in enumerate(zip(spec["urls"], readies)):
        headers = {"Authorization": f"Bearer {spec['key']}",
                   "X-CodeStream-Client": f"{spec['name']}-{i}"}
        tasks.append(asyncio.ensure_future(subscribe(url, headers, spec["events"], ready, deadline)))
        if i % 50 == 49:
            await asyncio.sleep(0)  # let the first connections start before opening more
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)),
                               max(0.1, deadline_open - time.monotonic()))
        print("READY", flush=True)
    except asyncio.TimeoutError:
        print("NOT-READY", flush=True)
    cpu_at_ready = cpu_seconds()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    streams = []
    for result in results:
        if isinstance(result, BaseException):
            streams.append({"error": f"{type(result).__name__}: {result}"})
        else:
            streams.append(result)
    # CPU from READY on: the measured window, not the start-up and the connecting
    return {"streams": streams, "cpu_s": round(cpu_seconds() - cpu_at_ready, 3)}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_subscribers")
    parser.add_argument("--spec", required=True, help="JSON: urls, key, name, events, timeout, open_timeout")
    spec = json.loads(parser.parse_args(argv).spec)
    result = asyncio.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
