"""JSON from another server, decoded AS it arrives and bounded while it is read.

Reading a whole answer and then ``json.loads`` holds the raw bytes, their decoded text and
every object at once: a 31 MiB answer of ``{"cells": [{}, {}, ...]}`` (ten million empty
objects, each a 64-byte dict) took a student's server to 953 MiB. Here each chunk goes through
ijson's incremental C parser (yajl) and the value is built as the events come, within

- ``max_values`` JSON values in all (objects, arrays, strings, numbers, ...), and
- ``max_depth`` levels of nesting,

so no answer costs more than about ``max_values`` small objects plus its strings (which the
byte cap on the answer bounds); past a limit the read stops at once (``ValueError``).
"""

from __future__ import annotations

import ijson

from ..domain.jsonlimits import MAX_JSON_DEPTH, JSONTooDeep

# A cell list of 500 cells with outputs is some tens of thousands of values; 10^6 small objects
# are at most about 80 MB, so the default stays far below that.
MAX_JSON_VALUES = 250_000

_MISSING = object()


class JSONTooLarge(ValueError):
    """More JSON values than allowed."""


class BoundedJSONDecoder:
    """``feed(chunk)`` as bytes arrive, then ``close()`` for the value. Every failure (malformed,
    too deep, too many values, trailing data) is a ``ValueError``."""

    def __init__(self, *, max_values: int = MAX_JSON_VALUES, max_depth: int = MAX_JSON_DEPTH):
        self.max_values = max_values
        self.max_depth = max_depth
        self._events = ijson.sendable_list()
        self._parser = ijson.basic_parse_coro(self._events, use_float=True)
        self._stack: list = []  # the open containers, outermost first
        self._keys: list = []  # for each open object: the key its next value goes under
        self._root = _MISSING
        self._values = 0

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.send(chunk)
        except ijson.JSONError as exc:
            raise ValueError(f"not valid JSON ({exc.__class__.__name__})") from None
        self._build()

    def close(self) -> object:
        try:
            self._parser.close()
        except ijson.JSONError as exc:
            raise ValueError(f"not valid JSON ({exc.__class__.__name__})") from None
        self._build()
        if self._root is _MISSING or self._stack:
            raise ValueError("not valid JSON (empty or incomplete)")
        return self._root

    def _build(self) -> None:
        try:
            self._apply_events()
        finally:
            del self._events[:]

    def _apply_events(self) -> None:
        for event, value in self._events:
            if event == "map_key":
                self._keys[-1] = value
            elif event in ("end_map", "end_array"):
                if event == "end_map":
                    self._keys.pop()
                self._stack.pop()
            elif event == "start_map":
                self._open({})
                self._keys.append(None)
            elif event == "start_array":
                self._open([])
            else:  # string, number, boolean, null
                self._add(value)

    def _open(self, container) -> None:
        if len(self._stack) >= self.max_depth:
            raise JSONTooDeep(f"The JSON nests deeper than {self.max_depth} levels.")
        self._add(container)
        self._stack.append(container)

    def _add(self, value) -> None:
        self._values += 1
        if self._values > self.max_values:
            raise JSONTooLarge(f"The JSON holds more than {self.max_values} values.")
        if not self._stack:
            self._root = value
        elif isinstance(self._stack[-1], dict):
            self._stack[-1][self._keys[-1]] = value
        else:
            self._stack[-1].append(value)


__all__ = ["MAX_JSON_VALUES", "BoundedJSONDecoder", "JSONTooLarge"]
