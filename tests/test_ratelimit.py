"""The wrong-key limit (issue 14 item 1): per guesser and session, wrong keys only."""

from __future__ import annotations

import asyncio

import fakeredis
import pytest

from jupyter_ext.domain import TooManyRequests, Unauthorized
from jupyter_ext.services.ratelimit import FailureLimiter
from jupyter_ext.services.session_service import SessionService
from jupyter_ext.store import SessionStore


def test_limit_counts_per_guesser_and_session_and_forgets_after_the_window():
    limiter = FailureLimiter(max_failures=3, window=60.0)
    key = limiter.limit_key("10.0.0.1", "ABCDEF")
    assert [limiter.record_failure(key, now=t) for t in (1, 2, 3, 4)] == [False, False, False, True]
    assert limiter.blocked(key, now=5)
    assert not limiter.blocked(limiter.limit_key("10.0.0.1", "GHJKMN"), now=5), "another session"
    assert not limiter.blocked(limiter.limit_key("alice", "ABCDEF"), now=5), "another guesser (hub user)"
    assert not limiter.blocked(key, now=64.5), "the window passed"


class _Provider:
    def __init__(self, store):
        self._store = store

    async def store(self, *, start=True):
        return self._store


@pytest.mark.parametrize("route", ["check", "list"])
async def test_service_never_refuses_a_right_key_under_hub_user_names(route):
    """The hub service passes the hub user as ``client``: one user's typos don't touch another's."""
    store = SessionStore(fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer(), decode_responses=True))
    record, key = await store.create_session()
    service = SessionService(_Provider(store), limiter=FailureLimiter(2, 60.0, penalty_seconds=0.01))

    async def attempt(student_key, user):
        if route == "check":
            return await service.check_student_key(record.code, student_key, client=user)
        return await service.list_cells_json(record.code, student_key=student_key, client=user)

    for expected in (Unauthorized, Unauthorized, TooManyRequests, TooManyRequests):
        with pytest.raises(expected):
            await attempt("WRONG-KEY", "mallory")
    with pytest.raises(Unauthorized):
        await attempt("WRONG-KEY", "alice")
    await attempt(key, "mallory")  # the right key passes, even for the one who guessed
    await asyncio.gather(*(attempt(key, "mallory") for _ in range(5)))
