"""The limit on wrong student keys: it slows wrong guesses and never refuses a right key.

Failures are counted per *limit key*: ``(client, session code)``, where ``client`` is who is
guessing as the caller knows it (the client address on a teacher's server or a relay; the hub
user name in the hub service). A school NAT or a one-machine hub puts a whole class behind one
address, so a few typos must not lock the class out: the limit only ever answers *wrong*
keys (``429`` after a short delay instead of ``401``). With ~99-bit keys, guessing is hopeless
anyway; the limit keeps a guesser slow and visible in the log.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Hashable

UNKNOWN_SESSION = "?"  # the session part of the limit key for codes that name no live session


class FailureLimiter:
    """At most ``max_failures`` wrong keys per ``window`` seconds per limit key are answered as
    plain failures; beyond that each further wrong key waits ``penalty_seconds`` and is 429."""

    def __init__(self, max_failures: int = 20, window: float = 60.0, max_clients: int = 10_000,
                 penalty_seconds: float = 1.0):
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self.penalty_seconds = penalty_seconds
        self._failures: OrderedDict[Hashable, list[float]] = OrderedDict()

    @staticmethod
    def limit_key(client: str, code: str | None) -> tuple[str, str]:
        """Wrong keys count per guesser and session, so one session's typos never touch another's."""
        return (client, code or UNKNOWN_SESSION)

    def _recent(self, key: Hashable, now: float) -> list[float]:
        stamps = [t for t in self._failures.get(key, ()) if now - t < self.window]
        if stamps:
            self._failures[key] = stamps
            self._failures.move_to_end(key)
        else:
            self._failures.pop(key, None)
        return stamps

    def blocked(self, key: Hashable, now: float | None = None) -> bool:
        """Whether a *wrong* key from ``key`` is now beyond the limit (never asked for a right one)."""
        return len(self._recent(key, now or time.monotonic())) >= self.max_failures

    def record_failure(self, key: Hashable, now: float | None = None) -> bool:
        """Count one wrong key; True when it was beyond the limit (answer 429 after the penalty)."""
        now = now or time.monotonic()
        over = len(self._recent(key, now)) >= self.max_failures
        self._failures.setdefault(key, []).append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
        return over
