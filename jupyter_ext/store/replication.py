"""A publish that waits for a replica (``WAIT``), so a Redis failover cannot lose it.

Redis replicates asynchronously: a write the master acknowledged and died before sending on is
gone after its replica is promoted. ``WAIT n timeout`` blocks until ``n`` replicas acknowledged
every write *of the same connection*, so the write and the wait must share one connection.
The teacher's writes are transactions on pooled connections, so the wait runs on a connection
of its own after a small write of its own (a marker key in the session's slot, same node): a
connection's ``WAIT`` covers the master's whole replication offset up to its last write, which
is after the publish.

Only with ``wait_replicas`` > 0 (``c.CodeStreamApp.redis_wait_replicas``, the hub service's
``--redis-wait-replicas``): the embedded and single-server set-ups have no replica to wait for.
"""

from __future__ import annotations

from redis.asyncio import Redis

from ..domain import StoreUnavailable
from . import keys

MARKER_TTL_MS = 60_000

NOT_REPLICATED_MESSAGE = ("Redis did not copy the change to a replica in time; it may not survive a"
                          " Redis failover. Try again (publishing the same cell again is safe).")


async def wait_for_replicas(redis: Redis, code: str, replicas: int, timeout_ms: int) -> int:
    """Block until ``replicas`` replicas (at most as many as the master has connected) hold
    every write made so far to ``code``'s master; returns how many acknowledged.

    A master with no replica connected (its replica was just promoted and has none yet, or it
    never had one) has nobody to wait for: the publish is acknowledged at once, as without this
    option. Raises ``StoreUnavailable`` when fewer acknowledged within ``timeout_ms``: the change
    is on the master, and publishing again is safe (the same source is the same version).
    """
    marker = keys.replicated_key(code)
    if hasattr(redis, "get_node_from_key"):  # Redis Cluster: the slot's master, one connection
        node = redis.get_node_from_key(marker)
        connection = node.acquire_connection()
        try:
            await connection.send_packed_command(connection.pack_commands(
                [("SET", marker, "1", "PX", MARKER_TTL_MS), ("ROLE",)]))
            await connection.read_response()
            wanted = _wanted(await connection.read_response(), replicas)
            acknowledged = 0
            if wanted:
                await connection.send_command("WAIT", wanted, timeout_ms)
                acknowledged = await connection.read_response()
        except BaseException:
            await connection.disconnect()
            raise
        finally:
            node.release(connection)
    else:
        async with redis.client() as pinned:  # one connection for every command
            await pinned.set(marker, "1", px=MARKER_TTL_MS)
            wanted = _wanted(await pinned.execute_command("ROLE"), replicas)
            acknowledged = await pinned.execute_command("WAIT", wanted, timeout_ms) if wanted else 0
    if int(acknowledged) < wanted:
        raise StoreUnavailable(NOT_REPLICATED_MESSAGE)
    return int(acknowledged)


def _wanted(role: list, replicas: int) -> int:
    """``ROLE`` of a master is ``["master", offset, [[host, port, offset], ...]]``: its replicas now."""
    connected = role[2] if len(role) > 2 and isinstance(role[2], list) else []
    return min(replicas, len(connected))
