"""Per-client limit on failed student-key attempts, so guessing a key is impractical."""

from __future__ import annotations

import time
from collections import OrderedDict


class FailureLimiter:
    """At most ``max_failures`` failed attempts per ``window`` seconds per client address."""

    def __init__(self, max_failures: int = 20, window: float = 60.0, max_clients: int = 10_000):
        self.max_failures = max_failures
        self.window = window
        self.max_clients = max_clients
        self._failures: OrderedDict[str, list[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> list[float]:
        stamps = [t for t in self._failures.get(client, ()) if now - t < self.window]
        if stamps:
            self._failures[client] = stamps
            self._failures.move_to_end(client)
        else:
            self._failures.pop(client, None)
        return stamps

    def blocked(self, client: str, now: float | None = None) -> bool:
        return len(self._recent(client, now or time.monotonic())) >= self.max_failures

    def record_failure(self, client: str, now: float | None = None) -> None:
        now = now or time.monotonic()
        self._recent(client, now)
        self._failures.setdefault(client, []).append(now)
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)
