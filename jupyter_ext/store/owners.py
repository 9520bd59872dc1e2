"""Who a session belongs to (its owner, and the course group it may be limited to) and the
indexes that list sessions without a scan: all live sessions, one owner's, one group's.

What is atomic, and why it is enough on a Redis Cluster. A session's own keys share its
``{CODE}`` hash tag (one slot); an index is keyed by what it lists (another slot), so no single
transaction can hold both. Hence:

- the session's hash is created with its owner and group in ONE transaction (``WATCH``, then
  ``MULTI``/``EXEC`` of the whole hash, only while the code is free): no reader ever sees a
  session without its owner or group, and owner and group never change afterwards (except an
  ownerless session made before owners existed, claimed once: ``claim_session``);
- its index entries are written just BEFORE that transaction, so once a session exists it is
  already listed (an attempt that loses the code to another session takes back what it added);
- an index entry is only a pointer: a listing reads each session's hash and shows it only when
  it is live and really that owner's (that group's). An entry without such a session (a session
  being created, or one whose ending was interrupted) is skipped, and dropped by that listing
  once it is older than ``INDEX_GRACE_SECONDS``: never the entry of a session being created.

Listing is O(listed sessions), never a scan of the database.
"""

from __future__ import annotations

import time

from redis.exceptions import WatchError

from ..domain import Forbidden, SessionAccess, SessionNotFound
from . import keys
from .records import ListedSession, SessionRecord
from .stream import STUDENT_WINDOW_SECONDS, translate_redis_errors

NOT_YOURS_MESSAGE = ("Session {code} belongs to another teacher; only the server (or hub user) that"
                     " started it can change it.")
INDEX_GRACE_SECONDS = 60.0  # an index entry younger than this may be a session being created


def index_keys(owner: str, group: str) -> list[str]:
    """The indexes that list a session of ``owner`` limited to ``group`` (either may be "")."""
    return [keys.SESSION_INDEX, *([keys.owner_index(owner)] if owner else []),
            *([keys.group_index(group)] if group else [])]


class SessionOwners:
    """Owners, groups and the session indexes (mixed into ``SessionStore``: ``redis``, ``log``,
    ``_session_fields``, ``_record``)."""

    async def _create_owned(self, code: str, fields: dict) -> bool:
        """Create the session hash ``fields`` (with its ``owner`` and ``group``) atomically, only
        while ``code`` is free, listed in its indexes first; False when the code is taken."""
        indexes = index_keys(fields.get("owner", ""), fields.get("group", ""))
        now = time.time()
        async with self.redis.pipeline(transaction=False) as pipe:  # one reply per index, any slot
            for index in indexes:
                pipe.zadd(index, {code: now}, nx=True)
            added = [index for index, new in zip(indexes, await pipe.execute()) if new]
        session_key = keys.session_key(code)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(session_key)
                    taken = await pipe.hexists(session_key, "code")  # HEXISTS: see publish_cell
                    if not taken:
                        pipe.multi()
                        pipe.hset(session_key, mapping=fields)
                        await pipe.execute()
                        return True
                    break
                except WatchError:
                    continue
        # Taken: keep only what the session holding the code is listed under.
        owner, group, live = await self.redis.hmget(session_key, ["owner", "group", "key_hash"])
        wanted = set(index_keys(owner or "", group or "")) if live else set()
        extra = [index for index in added if index not in wanted]
        if extra:
            async with self.redis.pipeline(transaction=False) as pipe:
                for index in extra:
                    pipe.zrem(index, code)
                await pipe.execute()
        return False

    async def _unindex(self, code: str, owner: str, group: str) -> None:
        """Take an ended session out of its indexes."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for index in index_keys(owner, group):
                pipe.zrem(index, code)
            await pipe.execute()

    @translate_redis_errors
    async def session_access(self, code: str) -> SessionAccess:
        """Who owns ``code`` and which group may read it, in one small read."""
        key_hash, owner, group = await self.redis.hmget(keys.session_key(code), ["key_hash", "owner", "group"])
        if not key_hash:
            raise SessionNotFound(f"There is no live session {code}; check the code.")
        return SessionAccess(code, owner or "", group or "")

    @translate_redis_errors
    async def list_sessions(self, owner: str | None = None) -> list[dict]:
        """Live sessions, oldest first: all of them, or only ``owner``'s (the contract's entries
        of ``GET codestream/api/sessions``, without join links)."""
        return [listed.summary() for listed in await self.sessions_listed(owner=owner)]

    @translate_redis_errors
    async def sessions_listed(self, *, owner: str | None = None,
                              groups: frozenset[str] | None = None) -> list[ListedSession]:
        """Live sessions from one index, oldest first: ``owner``'s, those limited to any of
        ``groups`` (each once), or all of them."""
        if groups is not None:
            if not groups:
                return []
            wanted = [(keys.group_index(group), "group", group) for group in sorted(groups)]
        elif owner:
            wanted = [(keys.owner_index(owner), "owner", owner)]
        else:
            wanted = [(keys.SESSION_INDEX, None, None)]
        async with self.redis.pipeline(transaction=False) as pipe:
            for index, _field, _value in wanted:
                pipe.zrange(index, 0, -1, withscores=True)
            entries = await pipe.execute()
        seen: dict[str, float] = {}
        for (index, _f, _v), listed in zip(wanted, entries):
            for code, score in listed:
                seen.setdefault(code, score)
        codes = sorted(seen, key=lambda c: seen[c])
        if not codes:
            return []
        since = time.time() - STUDENT_WINDOW_SECONDS
        async with self.redis.pipeline(transaction=False) as pipe:
            for code in codes:
                pipe.hgetall(keys.session_key(code))
                pipe.hlen(keys.cells_key(code))
                pipe.zcount(keys.students_key(code), since, "+inf")
            replies = await pipe.execute()
        found = {}
        for i, code in enumerate(codes):
            fields, n_cells, n_students = replies[3 * i: 3 * i + 3]
            if fields and "key_hash" in fields:
                found[code] = ListedSession(self._record(fields), n_cells, n_students)
        await self._drop_stale(wanted, entries, found)
        return [found[code] for code in codes if code in found and any(
            field is None or getattr(found[code].record, field) == value for _i, field, value in wanted)]

    async def _drop_stale(self, wanted: list[tuple], entries: list, found: dict[str, ListedSession]) -> None:
        """Drop the entries of ``wanted`` indexes that name no live session of theirs, once older
        than the grace (younger ones may be sessions being created: skipped, kept)."""
        before = time.time() - INDEX_GRACE_SECONDS
        drops = []
        for (index, field, value), listed in zip(wanted, entries):
            stale = [code for code, score in listed if score < before and (
                code not in found or (field is not None and getattr(found[code].record, field) != value))]
            if stale:
                drops.append((index, stale))
        if drops:
            async with self.redis.pipeline(transaction=False) as pipe:
                for index, stale in drops:
                    pipe.zrem(index, *stale)
                await pipe.execute()

    @translate_redis_errors
    async def claim_session(self, code: str, owner: str) -> SessionRecord:
        """The session, when ``owner`` may change it: it is theirs, or it has no owner yet (made
        before owners existed), in which case it becomes theirs now, atomically (of two servers
        claiming at once one wins, the other gets ``Forbidden``). Someone else's: ``Forbidden``."""
        session_key = keys.session_key(code)
        fields = await self._session_fields(code)  # one round trip on the hot path (a publish)
        if fields.get("owner"):
            if fields["owner"] != owner:
                raise Forbidden(NOT_YOURS_MESSAGE.format(code=code))
            return self._record(fields)
        await self.redis.zadd(keys.owner_index(owner), {code: time.time()})  # listed first, as at create
        try:
            fields = await self._claim(session_key, code, owner)
        except (Forbidden, SessionNotFound):
            await self.redis.zrem(keys.owner_index(owner), code)  # another's (or ended) meanwhile
            raise
        if fields is None:
            return self._record(await self._session_fields(code))
        self.log.info("codestream: session %s (made without an owner) claimed by this server's user", code)
        return self._record({**fields, "owner": owner})

    async def _claim(self, session_key: str, code: str, owner: str) -> dict | None:
        """Set the owner of an ownerless session under ``WATCH``; the fields it had (None: it
        was ``owner``'s already)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(session_key)
                    fields = await pipe.hgetall(session_key)
                    if not fields or "key_hash" not in fields:
                        raise SessionNotFound(f"There is no live session {code}; check the code.")
                    current = fields.get("owner", "")
                    if current == owner:
                        return None
                    if current:
                        raise Forbidden(NOT_YOURS_MESSAGE.format(code=code))
                    pipe.multi()
                    pipe.hset(session_key, "owner", owner)
                    await pipe.execute()
                    return fields
                except WatchError:
                    continue
