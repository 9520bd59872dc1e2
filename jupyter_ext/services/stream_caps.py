"""How many event streams one process serves, fitted to what the process may open.

Every open event stream holds a socket, so the stream caps are also a file-descriptor budget.
At start (``StreamCaps.fitted``) the process raises its soft ``RLIMIT_NOFILE`` toward the hard
limit; when the caps still do not fit under it (beside what the process needs for Redis,
kernels and files), they are lowered below it, and the log says so in one line. A cap that
the kernel would break first (a 2,000-stream session cap over a 1,024-descriptor limit) is no
cap: the process would fail on ``accept`` instead of answering ``503 too_many_streams``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from ..store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_ADDRESS, DEFAULT_MAX_STREAMS_PER_SESSION

try:  # POSIX only; elsewhere the caps are taken as configured
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None

# Descriptors kept for everything but event streams: Redis pools, kernels, files, the listen
# socket, plain requests. A quarter of the limit, at least this many.
MIN_RESERVED_DESCRIPTORS = 64


def stream_budget(limit: int) -> int:
    """Event streams that fit under an open-file limit of ``limit``."""
    return max(1, limit - max(MIN_RESERVED_DESCRIPTORS, limit // 4))


def limit_for(streams: int) -> int:
    """The smallest open-file limit whose budget holds ``streams`` event streams."""
    limit = max(streams + MIN_RESERVED_DESCRIPTORS, -(-streams * 4 // 3))
    while stream_budget(limit) < streams:
        limit += 1
    return limit


@dataclass(frozen=True)
class StreamCaps:
    """How many event streams one process serves, and its streams' heartbeat: the same options
    on the teacher's server (``c.CodeStreamApp``), ``codestream relay`` and the hub service."""

    max_streams: int = DEFAULT_MAX_STREAMS
    max_streams_per_session: int = DEFAULT_MAX_STREAMS_PER_SESSION
    heartbeat_seconds: float = 15.0
    max_streams_per_address: int = DEFAULT_MAX_STREAMS_PER_ADDRESS

    def __post_init__(self):
        for name in ("max_streams", "max_streams_per_session", "heartbeat_seconds", "max_streams_per_address"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")

    @classmethod
    def of(cls, config) -> StreamCaps:
        """From any config with ``max_streams``, ``max_streams_per_session``,
        ``max_streams_per_address`` and ``heartbeat_seconds`` (``RelayConfig``, ``CodeStreamApp``)."""
        return cls(config.max_streams, config.max_streams_per_session, config.heartbeat_seconds,
                   getattr(config, "max_streams_per_address", DEFAULT_MAX_STREAMS_PER_ADDRESS))

    def hub_options(self) -> dict:
        return {"max_streams": self.max_streams, "max_streams_per_session": self.max_streams_per_session,
                "max_streams_per_address": self.max_streams_per_address,
                "heartbeat_seconds": min(self.heartbeat_seconds, 15.0)}

    def fitted(self, log: logging.Logger | None = None) -> StreamCaps:
        """These caps, fitted to this process's open-file limit (raised toward the hard limit
        first); one log line when the limit was raised or a cap lowered."""
        log = log or logging.getLogger(__name__)
        if resource is None:
            return self
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = limit_for(self.max_streams)
        raised = soft
        if soft != resource.RLIM_INFINITY and soft < wanted:
            target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            if target > soft:
                try:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                    raised = target
                except (ValueError, OSError):
                    raised = soft
        if raised == resource.RLIM_INFINITY:
            return self
        budget = stream_budget(raised)
        fitted = replace(self, max_streams=min(self.max_streams, budget),
                         max_streams_per_session=min(self.max_streams_per_session, budget),
                         max_streams_per_address=min(self.max_streams_per_address, budget))
        if fitted != self:
            log.warning(
                "codestream: the open-file limit is %d (hard limit %s), so event streams are capped at"
                " %d per process, %d per session and %d per address (configured: %d, %d, %d)",
                raised, "unlimited" if hard == resource.RLIM_INFINITY else hard, fitted.max_streams,
                fitted.max_streams_per_session, fitted.max_streams_per_address, self.max_streams,
                self.max_streams_per_session, self.max_streams_per_address)
        elif raised != soft:
            log.info("codestream: raised the open-file limit from %d to %d for up to %d event streams",
                     soft, raised, self.max_streams)
        return fitted
