"""How deep and how many: the limits every JSON value from outside is held to.

Python's JSON decoder recurses once per level (a few thousand ``[`` are a ``RecursionError``,
and what it does return may still be too deep for code that walks it recursively later), and
builds a Python object of 50-70 bytes for every 3-byte ``{}``. So JSON from outside is refused
when it nests deeper than ``MAX_JSON_DEPTH``, and (read from another server, see
``clients/bounded_json.py``) when it holds more than a count of values.
"""

from __future__ import annotations

import json

MAX_JSON_DEPTH = 64  # a contract body nests 5 levels; nbformat outputs a few more
DEEP_JSON_MESSAGE = f"The JSON nests deeper than {MAX_JSON_DEPTH} levels."


class JSONTooDeep(ValueError):
    """A JSON value nests deeper than allowed."""


def check_depth(value: object, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ``JSONTooDeep`` when ``value`` (decoded JSON) nests deeper than ``max_depth``;
    iterative, so no depth makes it recurse."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise JSONTooDeep(DEEP_JSON_MESSAGE)
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def loads_bounded(raw: str | bytes, max_depth: int = MAX_JSON_DEPTH) -> object:
    """``json.loads`` that answers ``ValueError`` (``JSONTooDeep``) for nesting, never
    ``RecursionError``."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JSONTooDeep(DEEP_JSON_MESSAGE) from None
    check_depth(value, max_depth)
    return value


__all__ = ["DEEP_JSON_MESSAGE", "MAX_JSON_DEPTH", "JSONTooDeep", "check_depth", "loads_bounded"]
