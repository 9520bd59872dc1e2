"""Who owns a session on the hub, and which course group may read it (store layer, Redis only).

Two fields in the session's own hash (``hub_owner``, ``hub_group``: the session's slot, so one
read gives them with the rest of the session) and two small indexes, the sessions of one hub
user and the sessions of one hub group, so listing is O(those sessions), never a scan. An
index entry of an ended session is dropped the next time that index is read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from ..domain import SessionNotFound
from ..store import keys
from ..store.stream import translate_redis_errors

OWNER_FIELD = "hub_owner"
GROUP_FIELD = "hub_group"


def owner_index_key(user: str) -> str:
    return f"{keys.PREFIX}:hub:user:{user}:sessions"


def group_index_key(group: str) -> str:
    return f"{keys.PREFIX}:hub:group:{group}:sessions"


@dataclass(frozen=True)
class SessionAccess:
    """The part of a session the hub service decides access by."""

    code: str
    owner: str  # "" for a session made outside the hub (nobody on the hub owns it)
    group: str  # "" when any hub user with the code may read it

    def may_read(self, user: str, groups: frozenset[str]) -> bool:
        return user == self.owner or not self.group or self.group in groups


class HubSessionIndex:
    def __init__(self, redis: Redis):
        self.redis = redis

    @translate_redis_errors
    async def claim(self, code: str, owner: str, group: str) -> None:
        """Mark a just-created session as ``owner``'s (and ``group``'s); until this runs the
        session has no hub owner, so nobody can change it."""
        now = time.time()
        await self.redis.hset(keys.session_key(code), mapping={OWNER_FIELD: owner, GROUP_FIELD: group})
        await self.redis.zadd(owner_index_key(owner), {code: now})
        if group:
            await self.redis.zadd(group_index_key(group), {code: now})

    @translate_redis_errors
    async def access(self, code: str) -> SessionAccess:
        key_hash, owner, group = await self.redis.hmget(
            keys.session_key(code), ["key_hash", OWNER_FIELD, GROUP_FIELD])
        if not key_hash:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        return SessionAccess(code, owner or "", group or "")

    @translate_redis_errors
    async def forget(self, access: SessionAccess) -> None:
        await self.redis.zrem(owner_index_key(access.owner), access.code)
        if access.group:
            await self.redis.zrem(group_index_key(access.group), access.code)

    @translate_redis_errors
    async def codes_of_owner(self, user: str) -> list[str]:
        return await self.redis.zrange(owner_index_key(user), 0, -1)

    @translate_redis_errors
    async def codes_of_groups(self, groups: frozenset[str]) -> dict[str, str]:
        """``{code: group}`` of the sessions limited to any of ``groups``."""
        found: dict[str, str] = {}
        for group in sorted(groups):
            for code in await self.redis.zrange(group_index_key(group), 0, -1):
                found.setdefault(code, group)
        return found

    @translate_redis_errors
    async def drop_stale(self, index_key: str, codes: list[str]) -> None:
        if codes:
            await self.redis.zrem(index_key, *codes)

    @translate_redis_errors
    async def accesses(self, codes: list[str]) -> dict[str, SessionAccess]:
        """The live ones of ``codes`` with their owner and group, in one round trip."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hmget(keys.session_key(code), ["key_hash", OWNER_FIELD, GROUP_FIELD])
            replies = await pipe.execute()
        return {code: SessionAccess(code, owner or "", group or "")
                for code, (key_hash, owner, group) in zip(codes, replies) if key_hash}
