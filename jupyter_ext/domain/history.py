"""Past versions of a published cell (contract v3 *Past versions*): how many are kept and how
a requested version is spelled. The store keeps them; this is only the rule."""

from __future__ import annotations

from .errors import InvalidInput

KEEP_VERSIONS = 50  # per cell, for the session's life
MAX_VERSION = 2 ** 31


def parse_version(raw: object) -> int | None:
    """``?version=N`` → N (a positive whole number), ``None`` when absent; else ``400``."""
    if raw is None:
        return None
    text = raw.strip() if isinstance(raw, str) else ""
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) < MAX_VERSION:
        raise InvalidInput("'version' must be a positive whole number (a version of the cell).")
    return int(text)


def dropped_version(version: int) -> int | None:
    """The version that falls out of the kept window when ``version`` is stored (versions of a
    cell grow by one at a time, so one drop per new version keeps the window bounded)."""
    old = version - KEEP_VERSIONS
    return old if old >= 1 else None


__all__ = ["KEEP_VERSIONS", "dropped_version", "parse_version"]
