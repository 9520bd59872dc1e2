"""The one ``text/event-stream`` parser (``clients/sse.py``): any chunking, every line end, bounds."""

from __future__ import annotations

import pytest

from jupyter_ext.clients.sse import SSEParser, SSETooLarge, iter_sse_sync

STREAM = (b": connected\r\n\r\nid: 1-0\r\nevent: published\r\ndata: {\"a\": 1}\r\n\r\n"
          b"id: 2-0\ndata: x\ndata: y\n\n:c\rdata: z\r\r")
EXPECTED = [("1-0", "published", '{"a": 1}'), ("2-0", "message", "x\ny"), (None, "message", "z")]


def parsed(chunks, **bounds):
    comments: list[str] = []
    events = list(iter_sse_sync(chunks, comments.append, **bounds))
    return [(e.id, e.event, e.data) for e in events], comments


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_any_split_of_the_stream_gives_the_same_events(cut):
    assert parsed([STREAM[:cut], STREAM[cut:]]) == (EXPECTED, ["connected", "c"])


def test_byte_by_byte_and_utf8_split_inside_a_character():
    text = "data: café ☕\n\n".encode()
    assert parsed([bytes([b]) for b in STREAM]) == (EXPECTED, ["connected", "c"])
    assert parsed([bytes([b]) for b in text])[0] == [(None, "message", "café ☕")]


def test_an_endless_line_is_refused_at_its_bound():
    parser = SSEParser(max_line_bytes=10_000)
    parser.feed(b"data: ")
    with pytest.raises(SSETooLarge, match="a line larger than 10000 bytes"):
        for _ in range(20):
            parser.feed(b"x" * 1024)


def test_the_data_lines_of_one_event_are_refused_at_the_event_bound():
    parser = SSEParser(max_event_bytes=10_000)
    with pytest.raises(SSETooLarge, match="an event larger than 10000 bytes"):
        for _ in range(20):
            parser.feed(b"data: " + b"x" * 1000 + b"\n")


def test_events_under_the_bounds_pass_and_reset_the_count():
    parser = SSEParser(max_line_bytes=2_000, max_event_bytes=2_000)
    for n in range(100):  # 100 events of 1.5 KB: each one alone is under the bound
        events = parser.feed(f"id: {n}-0\ndata: {'x' * 1500}\n\n".encode())
        assert [e.id for e in events] == [f"{n}-0"]
