"""Real network faults between test hosts in network namespaces (issue 14 item 10).

A silent stall (every packet dropped, no RST, no FIN) between a student's server and the
teacher's, and between a relay and Redis, while the teacher keeps publishing. Each side
must notice within two heartbeats, resume with ``Last-Event-ID`` when the link is back, and
deliver every event exactly once and in order. Heartbeats are shortened through config
(1 s) so the cut below is many heartbeats long; see docs/reliability.md for the figures.
"""

from __future__ import annotations

import json
import time

from netns_fixtures import NetnsSSEReader
from student_fixtures import STUDENT_ARGS, DroppableProxy

from jupyter_ext.domain.events import STORE_REACHABLE, STORE_UNREACHABLE, TEACHER_REACHABLE, TEACHER_UNREACHABLE
from jupyter_ext.pytest_plugin import JupyterServerProcess, RedisServerProcess, create_session, publish
from relay_fixtures import RelayProcess

HEARTBEAT = 1.0  # the teacher's (and the relay's) heartbeat in these tests
CUT_SECONDS = 30.0  # the 30 s, many heartbeats long
RELAY_CUT_SECONDS = 30.0
DETECT_SLACK = 1.5  # scheduling on a loaded 2-core machine, on top of two heartbeats


def test_the_defaults_notice_a_stall_within_two_heartbeats():
    """With no configuration: the contract's heartbeat is at most 15 s; a student's server
    waits two of them for a byte before it counts the teacher as unreachable, and a server's
    (or relay's) Redis reader fails within two when Redis goes silent."""
    from jupyter_ext.app import CodeStreamApp
    from jupyter_ext.web.sse import HEARTBEAT_SECONDS
    from jupyter_ext.relay import parse_args

    app = CodeStreamApp()
    assert app.upstream_read_timeout <= 2 * HEARTBEAT_SECONDS
    assert app.event_block_ms / 1000 + app.redis_socket_timeout <= 2 * HEARTBEAT_SECONDS
    relay = parse_args(["--redis", "redis://127.0.0.1:6379/0"], environ={})
    assert relay.event_block_ms / 1000 + relay.redis_socket_timeout <= 2 * relay.heartbeat_seconds


def publish_through_cut(link, reader: NetnsSSEReader, unreachable: str, seconds: float,
                        publish_round) -> tuple[float, float, int, int]:
    """Cut the link for ``seconds`` while ``publish_round(i)`` publishes (returns how many events
    it made), then restore it. Returns when the cut began, when ``reader`` was told of it, how
    many events were published meanwhile, and how many events ``reader`` had at the end of it."""
    link.cut()
    cut_at = time.monotonic()
    published = rounds = 0
    noticed_at = None
    try:
        while time.monotonic() - cut_at < seconds:
            rounds += 1
            published += publish_round(rounds)
            if noticed_at is None and unreachable in reader.comment_lines:
                noticed_at = time.monotonic()
            time.sleep(0.5)
        if noticed_at is None:
            noticed_at = reader.wait_for_comment(unreachable, 1)
        stalled_events = len(reader.events)
    finally:
        link.restore()
    return cut_at, noticed_at, published, stalled_events


def ids_and_cells(events: list[dict]) -> list[tuple[str, str, str, int]]:
    out = []
    for event in events:
        data = json.loads(event["data"])
        out.append((event["id"], event.get("event", ""), data.get("cell_id", ""), data.get("version", 0)))
    return out


def test_silent_stall_between_student_and_teacher(cs_netns_link, tmp_path, cs_secret_scanner):
    link = cs_netns_link(("teacher", "student"))
    redis_server = RedisServerProcess(tmp_path / "redis")
    teacher = JupyterServerProcess(
        tmp_path / "teacher", env={"CODESTREAM_REDIS_URL": redis_server.url}, scanner=cs_secret_scanner,
        args=["--ServerApp.allow_remote_access=True", f"--CodeStreamApp.heartbeat_seconds={HEARTBEAT}"])
    student = JupyterServerProcess(
        tmp_path / "student", scanner=cs_secret_scanner,
        args=[*STUDENT_ARGS, f"--CodeStreamApp.upstream_read_timeout={2 * HEARTBEAT}"])
    readers = []
    front = None
    try:
        link.run("teacher", redis_server.start)
        link.run("teacher", teacher.start)
        link.run("student", student.start)
        # the teacher host's network address: a plain TCP forwarder to its server's loopback port
        # (the test's jupyter servers listen on 127.0.0.1 only)
        front = link.run("teacher", DroppableProxy, teacher.port, host=link.addresses["teacher"])
        teacher_url = front.url
        t = link.run("teacher", teacher.client)
        s = link.run("student", student.client)
        session = link.run("teacher", create_session, t, title="stall")
        code, key = session["code"], session["student_key"]
        r = link.run("student", s.put, "codestream/api/student/config",
                     json={"teacher_url": teacher_url, "session_code": code, "student_key": key})
        assert r.status_code == 200, r.text
        # the teacher's own view of the session's events: the reference order
        reference = NetnsSSEReader(link.names["teacher"], f"{teacher.url}codestream/api/sessions/{code}/events",
                                   teacher.auth_headers())
        readers.append(reference)
        relayed = NetnsSSEReader(link.names["student"], f"{student.url}codestream/api/student/events",
                                 student.auth_headers())
        readers.append(relayed)
        link.run("teacher", publish, t, code, "c0", "before = 0", 0)
        relayed.wait_for(1)

        def publish_round(i: int) -> int:
            link.run("teacher", publish, t, code, f"c{i}", f"during = {i}", i)
            if i % 3 == 0:  # updates and an unpublish too, not only new cells
                link.run("teacher", publish, t, code, "c0", f"before = {i}", 0)
            if i == 5:
                link.run("teacher", t.delete, f"codestream/api/sessions/{code}/cells/c1")
            return 1 + (i % 3 == 0) + (i == 5)

        cut = publish_through_cut(link, relayed, TEACHER_UNREACHABLE, CUT_SECONDS, publish_round)
        cut_at, noticed_at, published, stalled_events = cut
        restored_at = time.monotonic()

        expected = len(reference.wait_for(1 + published))
        relayed.wait_for(expected, timeout=30)
        back_at = relayed.wait_for_comment(TEACHER_REACHABLE, 10)
        assert noticed_at - cut_at <= 2 * HEARTBEAT + DETECT_SLACK, f"noticed after {noticed_at - cut_at:.1f} s"
        assert stalled_events == 1, "nothing crossed the cut link"
        assert ids_and_cells(relayed.events) == ids_and_cells(reference.events), \
            "every event exactly once, in the teacher's order"
        print(f"\nstall: noticed {noticed_at - cut_at:.2f} s after the cut; {expected - 1} events during"
              f" {CUT_SECONDS:.0f} s; all delivered {back_at - restored_at:.2f} s after restore")
    finally:
        for reader in readers:
            reader.close()
        if front is not None:
            front.close()
        student.stop()
        teacher.stop()
        redis_server.stop()


def test_silent_stall_between_relay_and_redis(cs_netns_link, tmp_path, cs_secret_scanner):
    """A read relay on its own host loses Redis silently while the teacher (next to Redis)
    publishes: its streams say so within two heartbeats, keep going, and deliver everything
    once, in order, when Redis is back; a stream resumed with Last-Event-ID gets the gap."""
    link = cs_netns_link(("store", "relay"))
    redis_server = RedisServerProcess(tmp_path / "redis", extra_args=["--bind", "0.0.0.0", "--protected-mode", "no"])
    teacher = JupyterServerProcess(tmp_path / "teacher", env={"CODESTREAM_REDIS_URL": redis_server.url},
                                   scanner=cs_secret_scanner)
    block_ms, socket_timeout = int(HEARTBEAT * 1000 / 2), HEARTBEAT / 2  # an XREAD fails 1 heartbeat into a stall
    relay = RelayProcess(tmp_path / "relay", f"redis://{link.addresses['store']}:{redis_server.port}/0",
                         scanner=cs_secret_scanner,
                         args=["--heartbeat-seconds", str(HEARTBEAT), "--event-block-ms", str(block_ms),
                               "--redis-socket-timeout", str(socket_timeout)])
    readers = []
    try:
        link.run("store", redis_server.start)
        link.run("store", teacher.start)
        link.run("relay", relay.start)
        t = link.run("store", teacher.client)
        session = link.run("store", create_session, t, title="relay stall")
        code, key = session["code"], session["student_key"]
        path = f"codestream/api/sessions/{code}/events"
        student = {"Authorization": f"Bearer {key}"}
        reference = NetnsSSEReader(link.names["store"], f"{teacher.url}{path}", teacher.auth_headers())
        readers.append(reference)
        relayed = NetnsSSEReader(link.names["relay"], f"{relay.url}{path}", student)
        readers.append(relayed)
        link.run("store", publish, t, code, "c0", "before = 0", 0)
        relayed.wait_for(1)
        before_cut = relayed.events[-1]["id"]

        def publish_round(i: int) -> int:
            link.run("store", publish, t, code, f"c{i}", f"during = {i}", i)
            return 1

        cut_at, noticed_at, published, stalled_events = publish_through_cut(
            link, relayed, STORE_UNREACHABLE, RELAY_CUT_SECONDS, publish_round)

        expected = len(reference.wait_for(1 + published))
        relayed.wait_for(expected, timeout=30)
        relayed.wait_for_comment(STORE_REACHABLE, 10)
        assert noticed_at - cut_at <= 2 * HEARTBEAT + DETECT_SLACK, f"noticed after {noticed_at - cut_at:.1f} s"
        assert stalled_events == 1
        assert ids_and_cells(relayed.events) == ids_and_cells(reference.events)
        assert not relayed.ended.is_set(), "the same stream went on"
        resumed = NetnsSSEReader(link.names["relay"], f"{relay.url}{path}", {**student, "Last-Event-ID": before_cut})
        readers.append(resumed)
        assert ids_and_cells(resumed.wait_for(published)) == ids_and_cells(reference.events[1:])
        print(f"\nrelay stall: noticed {noticed_at - cut_at:.2f} s after the cut; {published} events"
              f" during {RELAY_CUT_SECONDS:.0f} s, all delivered once, in order")
    finally:
        for reader in readers:
            reader.close()
        relay.stop()
        teacher.stop()
        redis_server.stop()
