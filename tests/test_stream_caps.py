"""Stream caps (``503 too_many_streams``) and revoked streams (a rotated key or an ended session
closes every stream of the old key within one heartbeat), on real teacher servers and relays.

Every server here runs with small caps and a one-second heartbeat (config, as an operator would
set it); nothing asserts a duration: waits are generous bounds on behaviour.
"""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from jupyter_ext.pytest_plugin import SSEReader, create_session, publish, wait_until
from jupyter_ext.store import keys

HEARTBEAT = 1.0


def events_path(code: str) -> str:
    return f"codestream/api/sessions/{code}/events"


def student_headers(key: str, name: str) -> dict:
    return {"Authorization": f"Bearer {key}", "X-CodeStream-Client": name}


def open_stream(base_url: str, code: str, key: str, name: str) -> SSEReader:
    reader = SSEReader(base_url + events_path(code), student_headers(key, name))
    assert reader.status == 200, reader.body
    return reader


def assert_refused_for_streams(base_url: str, code: str, key: str, scanner) -> None:
    with httpx.Client(timeout=10) as client:
        r = client.get(base_url + events_path(code), headers=student_headers(key, "one-too-many"))
    scanner.record_response(r)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "too_many_streams"
    assert r.json()["error"]["message"]
    assert int(r.headers["Retry-After"]) > 0


@pytest.fixture
def capped_teacher(cs_jupyter_server_factory, cs_redis):
    return cs_jupyter_server_factory("capped-teacher", env={"CODESTREAM_REDIS_URL": cs_redis.url}, args=[
        "--CodeStreamApp.max_streams_per_session=2", "--CodeStreamApp.max_streams=3",
        f"--CodeStreamApp.heartbeat_seconds={HEARTBEAT}"])


def exercise_caps(base_url: str, teacher, scanner) -> None:
    """Per session 2, per process 3: the next stream is refused, open ones keep delivering, and a
    closed stream frees its place."""
    with teacher.client() as client:
        one, two = create_session(client, title="one"), create_session(client, title="two")
    scanner.add(one["student_key"])
    scanner.add(two["student_key"])
    a = open_stream(base_url, one["code"], one["student_key"], "a")
    b = open_stream(base_url, one["code"], one["student_key"], "b")
    readers = [a, b]
    try:
        assert_refused_for_streams(base_url, one["code"], one["student_key"], scanner)  # per session
        c = open_stream(base_url, two["code"], two["student_key"], "c")
        readers.append(c)
        assert_refused_for_streams(base_url, two["code"], two["student_key"], scanner)  # per process
        with teacher.client() as client:
            publish(client, one["code"], "x", "print(1)", 0)
            publish(client, two["code"], "y", "print(2)", 0)
        for reader, cell in ((a, "x"), (b, "x"), (c, "y")):
            reader.wait_for(1)
            assert reader.cell_ids() == [("published", cell)], "open streams are unaffected by a refusal"
            assert not reader.ended.is_set()
        a.close()
        with teacher.client() as client:  # the closed stream notices at its next write
            publish(client, one["code"], "x2", "print(3)", 1)
        wait_until(a.ended.is_set, 20, what="the closed stream to end")

        def admitted():
            with httpx.Client(timeout=httpx.Timeout(10, read=2)) as client:
                try:
                    with client.stream("GET", base_url + events_path(two["code"]),
                                       headers=student_headers(two["student_key"], "d")) as r:
                        return r.status_code == 200
                except httpx.ReadTimeout:
                    return False

        wait_until(admitted, 20, interval=0.2, what="a place freed by the closed stream")
    finally:
        for reader in readers:
            reader.close()


def test_teacher_server_caps_streams_per_session_and_per_process(capped_teacher, cs_secret_scanner):
    exercise_caps(capped_teacher.url, capped_teacher, cs_secret_scanner)


def test_relay_caps_streams_per_session_and_per_process(cs_teacher, cs_module_redis, cs_relay_factory,
                                                        cs_secret_scanner):
    relay = cs_relay_factory(cs_module_redis.url, args=[
        "--max-streams-per-session", "2", "--max-streams", "3", "--heartbeat-seconds", str(HEARTBEAT)])
    exercise_caps(relay.url, cs_teacher, cs_secret_scanner)


def test_relay_refuses_non_positive_caps():
    from jupyter_ext.relay import parse_args

    with pytest.raises(SystemExit):
        parse_args(["--redis", "redis://127.0.0.1:1/0", "--max-streams", "0"], environ={})
    config = parse_args(["--redis", "redis://127.0.0.1:1/0", "--max-streams-per-session", "5"], environ={})
    assert (config.max_streams_per_session, config.max_streams) == (5, 10_000)


def new_session(teacher, scanner, title: str) -> tuple[str, str]:
    """A session made by ``teacher``; its key registered with the secret scanner."""
    with teacher.client() as client:
        session = create_session(client, title=title)
    scanner.add(session["student_key"])
    return session["code"], session["student_key"]


def students_of(teacher, code: str) -> int:
    with teacher.client() as client:
        r = client.get("codestream/api/sessions")
    assert r.status_code == 200
    return next(s for s in r.json()["sessions"] if s["code"] == code)["students"]


def test_rotating_the_key_closes_old_key_streams_everywhere_and_they_stop_counting(
        capped_teacher, cs_redis, cs_relay_factory, cs_secret_scanner):
    relay = cs_relay_factory(cs_redis.url, args=["--heartbeat-seconds", str(HEARTBEAT)])
    code, old_key = new_session(capped_teacher, cs_secret_scanner, "rotate")
    on_teacher = open_stream(capped_teacher.url, code, old_key, "student-on-teacher")
    on_relay = open_stream(relay.url, code, old_key, "student-on-relay")
    teachers_own = SSEReader(capped_teacher.url + events_path(code), capped_teacher.auth_headers())
    try:
        wait_until(lambda: students_of(capped_teacher, code) == 2, 20, what="both students present")
        with capped_teacher.client() as client:
            r = client.post(f"codestream/api/sessions/{code}/key")
        assert r.status_code == 200
        new_key = r.json()["student_key"]
        cs_secret_scanner.add(new_key)
        assert on_teacher.ended.wait(20), "the teacher's server closes its old-key stream"
        assert on_relay.ended.wait(20), "the relay closes its old-key stream at its next heartbeat tick"
        assert on_teacher.events == [] and on_relay.events == []
        assert students_of(capped_teacher, code) == 0, "closed streams no longer count as present"
        time.sleep(3 * HEARTBEAT)  # a few ticks of both processes: nobody writes the old clients back
        assert students_of(capped_teacher, code) == 0
        assert not teachers_own.ended.is_set(), "the teacher's own (Jupyter-auth) stream stays open"

        for base in (capped_teacher.url, relay.url):
            with httpx.Client(timeout=10) as client:
                r = client.get(base + events_path(code), headers=student_headers(old_key, "again"))
            cs_secret_scanner.record_response(r)
            assert r.status_code == 401, "the old key opens nothing"
        fresh = open_stream(relay.url, code, new_key, "student-on-relay")
        try:
            wait_until(lambda: students_of(capped_teacher, code) == 1, 20, what="the new key's student present")
            with capped_teacher.client() as client:
                publish(client, code, "after", "print('new key')", 0)
            assert fresh.wait_for(1)[0]["event"] == "published"
            teachers_own.wait_for(1)
        finally:
            fresh.close()
    finally:
        for reader in (on_teacher, on_relay, teachers_own):
            reader.close()


def test_ending_the_session_closes_streams_on_the_teacher_and_the_relay(
        cs_teacher, cs_module_redis, cs_relay_factory, cs_secret_scanner):
    relay = cs_relay_factory(cs_module_redis.url, args=["--heartbeat-seconds", str(HEARTBEAT)])
    code, key = new_session(cs_teacher, cs_secret_scanner, "end")
    readers = [open_stream(cs_teacher.url, code, key, "t"), open_stream(relay.url, code, key, "r")]
    try:
        with cs_teacher.client() as client:
            assert client.delete(f"codestream/api/sessions/{code}").status_code == 204
        for reader in readers:
            assert reader.ended.wait(20), "an ended session's streams close"
            assert [e["event"] for e in reader.events] == ["session_ended"]
    finally:
        for reader in readers:
            reader.close()


def test_one_batched_presence_write_per_session_keeps_students_present(
        cs_redis, cs_relay_factory, cs_jupyter_server_factory, cs_secret_scanner):
    """The hub's tick refreshes every open stream's presence (no write per stream per heartbeat)."""
    teacher = cs_jupyter_server_factory("presence-teacher", env={"CODESTREAM_REDIS_URL": cs_redis.url},
                                        args=[f"--CodeStreamApp.heartbeat_seconds={HEARTBEAT}"])
    code, key = new_session(teacher, cs_secret_scanner, "presence")
    readers = [open_stream(teacher.url, code, key, f"s{i}") for i in range(3)]
    r = redis.Redis.from_url(cs_redis.url, decode_responses=True)
    try:
        wait_until(lambda: r.zcard(keys.students_key(code)) == 3, 20, what="3 students present")
        first = dict(r.zrange(keys.students_key(code), 0, -1, withscores=True))
        wait_until(lambda: all(score > first[m] for m, score in
                               r.zrange(keys.students_key(code), 0, -1, withscores=True)), 20,
                   interval=0.2, what="every open stream's presence refreshed by a tick")
        heartbeats = [reader.comments for reader in readers]
        wait_until(lambda: all(reader.comments > n for reader, n in zip(readers, heartbeats)), 20,
                   what="a heartbeat comment on every stream from the hub's tick")
        assert students_of(teacher, code) == 3
    finally:
        r.close()
        for reader in readers:
            reader.close()
