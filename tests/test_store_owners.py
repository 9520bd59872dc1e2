"""Owners and course groups belong to the store and are set with the session, atomically (issue
21 item 2): whatever step a create is cut short at, a live session always has its owner and
group and is already listed in their indexes; index entries that name no session of theirs are
skipped, and dropped only once they are older than the grace. On a real Redis and Redis Cluster."""

from __future__ import annotations

import asyncio

import pytest
import redis as sync_redis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.crc import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError

from jupyter_ext.domain import SessionAccess, SessionNotFound, StoreUnavailable
from jupyter_ext.store import SessionStore, keys
from jupyter_ext.store.connection import make_clients
from jupyter_ext.store.owners import INDEX_GRACE_SECONDS

CODE = "K7QX2M"


class Budget:
    """How many more round trips to Redis the store may make before Redis "goes away"."""

    def __init__(self, sends: int):
        self.sends = sends
        self.used = 0


def cut_short_client(url: str, budget: Budget) -> Redis:
    """A client whose connections refuse every send past ``budget`` (the handshake of a new
    connection aside): Redis then holds exactly what the first ``budget.sends`` round trips
    wrote, as when a server dies in the middle of a create."""

    class CutShortConnection(Connection):
        handshaking = False

        async def on_connect_check_health(self, *args, **kwargs):
            self.handshaking = True
            try:
                return await super().on_connect_check_health(*args, **kwargs)
            finally:
                self.handshaking = False

        async def send_packed_command(self, command, check_health=True):
            if not self.handshaking:
                if budget.used >= budget.sends:
                    raise RedisConnectionError("cut short")
                budget.used += 1
            return await super().send_packed_command(command, check_health)

    pool = ConnectionPool.from_url(url, decode_responses=True, connection_class=CutShortConnection)
    return Redis(connection_pool=pool, retry_on_error=[])


def listed_in(raw: sync_redis.Redis, code: str) -> set[str]:
    return {index for index in (keys.SESSION_INDEX, keys.owner_index("alice"), keys.group_index("algebra"))
            if raw.zscore(index, code) is not None}


async def test_a_create_cut_short_at_any_step_never_leaves_a_session_without_its_owner_or_group(cs_redis):
    raw = sync_redis.Redis.from_url(cs_redis.url, decode_responses=True)
    reader = SessionStore(Redis.from_url(cs_redis.url, decode_responses=True))
    seen_before_live = set()
    try:
        for sends in range(20):
            raw.flushall()
            budget = Budget(sends)
            client = cut_short_client(cs_redis.url, budget)
            try:
                await SessionStore(client).create_session("Algebra 1", code=CODE, owner="alice", group="algebra")
                done = True
            except StoreUnavailable:
                done = False
            finally:
                await client.aclose()
            fields = raw.hgetall(keys.session_key(CODE))
            live = "key_hash" in fields
            if live:
                # the session came with its owner and group, and was already in all three indexes
                assert (fields["owner"], fields["group"]) == ("alice", "algebra"), (sends, fields)
                assert listed_in(raw, CODE) == {keys.SESSION_INDEX, keys.owner_index("alice"),
                                                keys.group_index("algebra")}, sends
                assert await reader.session_access(CODE) == SessionAccess(CODE, "alice", "algebra")
            else:
                assert not fields, (sends, fields)  # no half-made session either
                seen_before_live |= listed_in(raw, CODE)
                with pytest.raises(SessionNotFound):
                    await reader.session_access(CODE)
            # a listing shows a session exactly when it is live, and never drops a young entry
            before = listed_in(raw, CODE)
            mine = [s.record.code for s in await reader.sessions_listed(owner="alice")]
            course = [s.record.code for s in await reader.sessions_listed(groups=frozenset({"algebra"}))]
            assert mine == course == ([CODE] if live else []), sends
            assert listed_in(raw, CODE) == before, sends
            if done:
                assert live and sends > 1, "the create was cut short before it started"
                break
        else:
            pytest.fail("the create never finished")
        # cut short between its index entries and its session, a create left entries behind
        assert seen_before_live
    finally:
        raw.close()
        await reader.redis.aclose()


async def test_entries_of_no_session_are_skipped_then_dropped_once_past_the_grace(cs_redis):
    raw = sync_redis.Redis.from_url(cs_redis.url, decode_responses=True)
    store = SessionStore(Redis.from_url(cs_redis.url, decode_responses=True))
    try:
        kept, _key = await store.create_session("Kept", owner="alice", group="algebra")
        theirs, _key = await store.create_session("Bob's", owner="bob", group="geometry")
        young = "YNGYNG"  # a session being created: listed, no hash yet
        raw.zadd(keys.owner_index("alice"), {young: 1e12})
        raw.zadd(keys.group_index("algebra"), {young: 1e12})
        old = "0LD0LD"  # a session whose ending was interrupted
        wrong = theirs.code  # someone else's session in alice's and algebra's indexes
        for index in (keys.owner_index("alice"), keys.group_index("algebra")):
            raw.zadd(index, {old: 1.0, wrong: 1.0})

        assert [s.record.code for s in await store.sessions_listed(owner="alice")] == [kept.code]
        assert [s.record.code for s in await store.sessions_listed(groups=frozenset({"algebra"}))] == [kept.code]
        assert [s["code"] for s in await store.list_sessions("alice")] == [kept.code]
        for index in (keys.owner_index("alice"), keys.group_index("algebra")):
            assert set(raw.zrange(index, 0, -1)) == {kept.code, young}, index
        # the stale entries were someone else's to keep: bob's session is still bob's and listed
        assert [s.record.code for s in await store.sessions_listed(owner="bob")] == [theirs.code]
        assert [s.record.code for s in await store.sessions_listed(groups=frozenset({"geometry", "algebra"}))
                ] == [kept.code, theirs.code]
        assert await store.sessions_listed(groups=frozenset()) == []
        assert INDEX_GRACE_SECONDS > 0
    finally:
        raw.close()
        await store.redis.aclose()


async def test_the_loser_of_a_code_takes_back_its_index_entries(cs_redis):
    store = SessionStore(Redis.from_url(cs_redis.url, decode_responses=True))
    try:
        results = await asyncio.gather(
            store.create_session(code=CODE, owner="alice", group="algebra"),
            store.create_session(code=CODE, owner="bob", group="geometry"),
            store.create_session(code=CODE, owner="bob"),
            return_exceptions=True)
        assert sorted(type(r).__name__ for r in results) == ["ValueError", "ValueError", "tuple"]
        record = next(r for r in results if isinstance(r, tuple))[0]
        assert record.code == CODE
        for owner, group in (("alice", "algebra"), ("bob", "geometry")):
            theirs = (record.owner, record.group) == (owner, group)
            redis = store.redis
            assert (await redis.zscore(keys.owner_index(owner), CODE) is not None) == (record.owner == owner)
            assert (await redis.zscore(keys.group_index(group), CODE) is not None) == theirs
            listed = [s.record.code for s in await store.sessions_listed(owner=owner)]
            assert listed == ([CODE] if record.owner == owner else [])
        assert await store.redis.zscore(keys.SESSION_INDEX, CODE) is not None
    finally:
        await store.redis.aclose()


async def test_ending_a_session_takes_it_out_of_its_owner_and_group_indexes(cs_redis):
    store = SessionStore(Redis.from_url(cs_redis.url, decode_responses=True))
    try:
        record, _key = await store.create_session("Algebra", owner="alice", group="algebra")
        assert (record.owner, record.group) == ("alice", "algebra")
        assert (await store.get_session(record.code)).access == SessionAccess(record.code, "alice", "algebra")
        await store.delete_session(record.code)
        for index in (keys.SESSION_INDEX, keys.owner_index("alice"), keys.group_index("algebra")):
            assert await store.redis.zscore(index, record.code) is None, index
    finally:
        await store.redis.aclose()


async def test_owners_and_groups_on_a_redis_cluster(cs_redis_cluster):
    """The session's slot and its indexes' slots differ; the create, listings and end work
    across them (one transaction in the session's slot, per-slot pipelines for the indexes)."""
    commands, blocking = make_clients(cs_redis_cluster.url)
    store = SessionStore(commands)
    try:
        cluster = cs_redis_cluster
        node_of = lambda key: cluster.node_of_slot(key_slot(key.encode()))  # noqa: E731
        assert len({node_of(keys.owner_index("alice")), node_of(keys.group_index("algebra"))}) == 2
        made = []
        while len({node_of(keys.session_key(r.code)) for r in made}) < 3:  # sessions on every node
            assert len(made) < 60, "sessions never landed on every node"
            made.append((await store.create_session(f"S{len(made)}", owner="alice", group="algebra"))[0])
        codes = [r.code for r in made]
        assert [s.record.code for s in await store.sessions_listed(owner="alice")] == codes
        assert [s.record.code for s in await store.sessions_listed(groups=frozenset({"algebra"}))] == codes
        assert [await store.session_access(c) for c in codes] == [SessionAccess(c, "alice", "algebra") for c in codes]
        results = await asyncio.gather(store.create_session(code=codes[0], owner="bob", group="geometry"),
                                       return_exceptions=True)
        assert isinstance(results[0], ValueError)
        assert await store.sessions_listed(owner="bob") == []
        assert await commands.zscore(keys.group_index("geometry"), codes[0]) is None
        for code in codes:
            await store.delete_session(code)
        assert await store.sessions_listed(owner="alice") == []
        assert await store.sessions_listed(groups=frozenset({"algebra"})) == []
        assert await commands.zcard(keys.owner_index("alice")) == 0
        assert await commands.zcard(keys.group_index("algebra")) == 0
    finally:
        await commands.aclose()
        await blocking.aclose()
