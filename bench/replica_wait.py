"""What waiting for a replica costs a publish (issue 24): ``redis_wait_replicas = 1`` against 0.

    python -m bench.replica_wait                 # 5 rounds x 200 publishes per setting
    python -m bench.replica_wait --rounds 2 --publishes 50

A real redis-server master and a real replica (``--replicaof``) on loopback; the store's own
``publish_cell`` (the whole write: WATCH, read, MULTI/EXEC with the event) timed end to end,
with ``wait_replicas`` 0 (the baseline: acknowledged by the master alone) and 1 (``SET`` of a
marker + ``ROLE`` + ``WAIT 1``, on one connection), rounds interleaved so both see the same
machine. Prints p50 / p99 per setting and the difference. Bounded; stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import redis

from jupyter_ext.store import SessionStore
from jupyter_ext.store.connection import make_clients
from jupyter_ext.testing import RedisServerProcess, wait_until

from .harness import REPO_ROOT, Row, format_table, percentile

DEFAULT_JSON = REPO_ROOT / "bench" / "results" / "replica_wait.json"


def replica_linked(port: int) -> bool:
    client = redis.Redis(port=port, socket_timeout=2)
    try:
        return client.info("replication").get("master_link_status") == "up"
    except redis.RedisError:
        return False
    finally:
        client.close()


async def one_round(url: str, code: str, wait: int, publishes: int, offset: int) -> list[float]:
    commands, blocking = make_clients(url)
    store = SessionStore(commands, wait_replicas=wait, wait_timeout_ms=1000)
    seconds = []
    try:
        for i in range(publishes):
            started = time.perf_counter()
            await store.publish_cell(code, f"c{(offset + i) % 50}", {
                "source": f"x = {offset + i}", "cell_type": "code", "position": i % 50, "notebook_path": None})
            seconds.append(time.perf_counter() - started)
    finally:
        await commands.aclose()
        await blocking.aclose()
    return seconds


async def amain(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="cs-replica-wait-") as folder:
        master = RedisServerProcess(Path(folder) / "master").start()
        replica = RedisServerProcess(Path(folder) / "replica",
                                     extra_args=["--replicaof", "127.0.0.1", str(master.port)]).start()
        try:
            wait_until(lambda: replica_linked(replica.port), 30, what="the replica's link")
            commands, blocking = make_clients(master.url)
            record, _key = await SessionStore(commands).create_session("replica wait")
            await commands.aclose()
            await blocking.aclose()
            timings: dict[int, list[float]] = {0: [], 1: []}
            offset = 0
            for _round in range(args.rounds):
                for wait in (0, 1):
                    timings[wait] += await one_round(master.url, record.code, wait, args.publishes, offset)
                    offset += args.publishes
        finally:
            replica.stop()
            master.stop()
    p = {wait: (percentile(values, 50) * 1000, percentile(values, 99) * 1000) for wait, values in timings.items()}
    rows = [
        Row("publish p50 / p99, acknowledged by the master (baseline)", f"{p[0][0]:.2f} / {p[0][1]:.2f} ms"),
        Row("publish p50 / p99, waiting for 1 replica (WAIT 1)", f"{p[1][0]:.2f} / {p[1][1]:.2f} ms",
            baseline=f"{p[0][0]:.2f} / {p[0][1]:.2f} ms", ratio=f"{p[1][0] / p[0][0]:.2f}x / {p[1][1] / p[0][1]:.2f}x"),
        Row("what waiting adds, p50 / p99", f"{p[1][0] - p[0][0]:+.2f} / {p[1][1] - p[0][1]:+.2f} ms"),
    ]
    return {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "args": vars(args), "p50_p99_ms": p,
            "publishes_per_setting": len(timings[0]), "table": format_table(rows),
            "load": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica_wait", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--publishes", type=int, default=200, help="publishes per round and setting")
    parser.add_argument("--json", default=str(DEFAULT_JSON))
    args = parser.parse_args(argv)
    summary = asyncio.run(amain(args))
    print(summary["table"])
    print(f"\n{summary['publishes_per_setting']} publishes per setting; load average {summary['load']}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
