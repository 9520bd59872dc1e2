"""The options the programs share, each defined once as a trait of a small ``Configurable``.

The Jupyter extension (``CodeStreamApp``) inherits them, so ``c.CodeStreamApp.redis_url`` (or
``c.RedisOptions.redis_url``) sets them; ``codestream relay`` and ``codestream hub-service``
inherit them in their config classes and generate their command-line flags from these very
traits (``jupyter_ext.config.program``). One trait object, one default, one help text.
"""

from __future__ import annotations

import logging

from traitlets import Bool, CaselessStrEnum, Enum, Float, Int, TraitError, Unicode, validate
from traitlets.config import Configurable

from ..domain import CellLimits
from ..domain.cells import DEFAULT_MAX_SOURCE_BYTES
from ..domain.outputs import DEFAULT_MAX_OUTPUT_BYTES
from ..services.ratelimit import FailureLimiter
from ..services.stream_caps import StreamCaps
from ..services.session_service import RedisProvider
from ..store.events import DEFAULT_MAX_STREAMS, DEFAULT_MAX_STREAMS_PER_ADDRESS, DEFAULT_MAX_STREAMS_PER_SESSION

MAX_HEARTBEAT_SECONDS = 15.0  # the contract's longest silence on an event stream


def positive(proposal):
    """A ``@validate`` body: the option must be more than 0."""
    if proposal["value"] <= 0:
        raise TraitError(f"{proposal['trait'].name} must be positive")
    return proposal["value"]


def not_negative(proposal):
    """A ``@validate`` body: the option must be 0 or more."""
    if proposal["value"] < 0:
        raise TraitError(f"{proposal['trait'].name} must be 0 or more")
    return proposal["value"]


class RedisOptions(Configurable):
    """Where the sessions are (Redis) and how this process talks to it."""

    redis_url = Unicode(
        None, allow_none=True, config=True,
        help="Redis URL for sessions: redis://, rediss:// (TLS), unix://, redis+cluster://h:p[,h:p]"
             " (Redis Cluster), redis+sentinel://h:p[,h:p]/service (Sentinel); see"
             " jupyter_ext/store/connection.py. Default: CODESTREAM_REDIS_URL, REDIS_URL or"
             " REDIS_HOST/REDIS_PORT/REDIS_DB from the environment; with none set, the Jupyter"
             " extension and the hub service start an embedded redis-server (a relay refuses to start).",
    )
    redis_max_connections = Int(
        100, config=True,
        help="Redis connections for commands (per node in a cluster); a burst beyond them waits for"
             " a free one instead of opening hundreds at once. Default: 100.")
    redis_stream_connections = Int(
        1000, config=True,
        help="Redis connections for blocking XREADs (per node in a cluster): one per session with"
             " open event streams in this process. Default: 1000.")
    redis_socket_timeout = Float(5.0, config=True, help="Redis command timeout in seconds. Default: 5.")
    event_block_ms = Int(
        10_000, config=True,
        help="How long one XREAD of the event reader blocks, in ms (its socket timeout is longer). Default: 10000.",
    )
    stream_maxlen = Int(10_000, config=True, help="Events kept per session for replay. Default: 10000.")
    redis_wait_replicas = Int(
        0, config=True,
        help="A publish is acknowledged only once this many Redis replicas hold it (WAIT), so a"
             " Redis Cluster or Sentinel failover cannot lose it; when they do not answer in"
             " redis_wait_timeout_ms the publish is 503 store_unavailable (publishing again is safe)."
             " Set 1 with replicated Redis (docs/deployment.md). Relays only read. Default: 0 (no waiting).",
    )
    redis_wait_timeout_ms = Int(
        1000, config=True, help="How long a publish waits for redis_wait_replicas, in ms. Default: 1000.")
    freeze_startup_objects = Bool(
        True, config=True,
        help="When the first session store opens, move the process's start-up objects out of the"
             " garbage collector's full scans (gc.freeze), which keeps event fan-out pauses short"
             " with many students. Default: True in the relay and the hub service (their own"
             " processes), False in the Jupyter extension (the user's process: opt in there).",
    )

    @validate("redis_max_connections", "redis_stream_connections", "redis_socket_timeout", "event_block_ms",
              "stream_maxlen", "redis_wait_timeout_ms")
    def _check_redis_positive(self, proposal):
        return positive(proposal)

    @validate("redis_wait_replicas")
    def _check_replicas(self, proposal):
        return not_negative(proposal)

    def redis_provider(self, url: str | None, embedded=None, *, stream_caps: StreamCaps,
                       log: logging.Logger) -> RedisProvider:
        """The lazily connecting Redis of this process, with these options."""
        return RedisProvider(
            url, embedded, max_connections=self.redis_max_connections,
            blocking_max_connections=self.redis_stream_connections,
            socket_timeout=self.redis_socket_timeout, block_ms=self.event_block_ms,
            stream_maxlen=self.stream_maxlen, freeze_startup_objects=self.freeze_startup_objects,
            stream_caps=stream_caps, wait_replicas=self.redis_wait_replicas,
            wait_timeout_ms=self.redis_wait_timeout_ms, log=log)


class StreamLimits(Configurable):
    """How many event streams one process serves, and their heartbeat."""

    heartbeat_seconds = Float(
        MAX_HEARTBEAT_SECONDS, config=True,
        help="Event-stream heartbeat interval in seconds (more than 15 counts as 15). Default: 15.")
    max_streams_per_session = Int(
        DEFAULT_MAX_STREAMS_PER_SESSION, config=True,
        help="Open event streams one session may have in this process; beyond it a new stream is"
             f" 503 too_many_streams (open ones are unaffected). Default: {DEFAULT_MAX_STREAMS_PER_SESSION}.")
    max_streams = Int(
        DEFAULT_MAX_STREAMS, config=True,
        help="Open event streams this process serves in all; beyond it a new stream is"
             f" 503 too_many_streams (open ones are unaffected). Default: {DEFAULT_MAX_STREAMS}.")
    max_streams_per_address = Int(
        DEFAULT_MAX_STREAMS_PER_ADDRESS, config=True,
        help="Open event streams one client may hold in this process (a remote address; a hub user"
             " in the hub service), so one machine with a key can neither take every place nor"
             " inflate a count; beyond it a new stream is 503 too_many_streams (open ones are"
             f" unaffected). Default: {DEFAULT_MAX_STREAMS_PER_ADDRESS}.")

    @validate("max_streams", "max_streams_per_session", "max_streams_per_address")
    def _validate_stream_cap(self, proposal):
        if proposal["value"] <= 0:
            raise TraitError(f"{proposal['trait'].name} must be a positive number of streams")
        return proposal["value"]

    @validate("heartbeat_seconds")
    def _validate_heartbeat(self, proposal):
        return min(positive(proposal), MAX_HEARTBEAT_SECONDS)

    def stream_caps(self, log: logging.Logger) -> StreamCaps:
        """These caps, fitted to this process's open-file limit (one log line when lowered)."""
        return StreamCaps.of(self).fitted(log)


class KeyLimits(Configurable):
    """How wrong credentials (student keys; refused reads on the hub) are slowed."""

    key_failures_per_minute = Int(
        20, config=True,
        help="Wrong student keys answered 401 per client and session per minute (the hub service:"
             " refused reads per hub user, or per address without one); further ones wait"
             " key_failure_penalty_seconds and get 429. A right key is never refused. Default: 20.",
    )
    key_failure_penalty_seconds = Float(
        1.0, config=True,
        help="How long a wrong student key beyond key_failures_per_minute waits before its 429,"
             " in seconds. Default: 1.",
    )

    @validate("key_failures_per_minute")
    def _check_failures_positive(self, proposal):
        return positive(proposal)

    @validate("key_failure_penalty_seconds")
    def _check_penalty(self, proposal):
        return not_negative(proposal)

    def failure_limiter(self) -> FailureLimiter:
        return FailureLimiter(self.key_failures_per_minute, 60.0, penalty_seconds=self.key_failure_penalty_seconds)


class CellSizeLimits(Configurable):
    """The largest cell a teacher may publish."""

    max_source_bytes = Int(
        DEFAULT_MAX_SOURCE_BYTES, config=True,
        help="Largest cell source accepted, in bytes; larger is 413. Default: 1 MiB.",
    )
    max_output_bytes = Int(
        DEFAULT_MAX_OUTPUT_BYTES, config=True,
        help="Largest outputs of one cell accepted, in bytes of JSON; larger is 413. Default: 2 MiB.",
    )

    @validate("max_source_bytes", "max_output_bytes")
    def _check_sizes_positive(self, proposal):
        return positive(proposal)

    def cell_limits(self) -> CellLimits:
        return CellLimits(max_source_bytes=self.max_source_bytes, max_output_bytes=self.max_output_bytes)


class ListenOptions(Configurable):
    """Where a standalone program (relay, hub service) listens, and how it stops."""

    port = Int(8765, min=0, max=65535, config=True, help="TCP port (0: any free one). Default: 8765.")
    address = Unicode(
        "127.0.0.1", config=True, help="Address to bind (0.0.0.0 in a container). Default: 127.0.0.1.")
    base_url = Unicode("/", config=True, help="Path prefix of every route. Default: /.")
    drain_seconds = Float(
        10.0, config=True, help="On SIGTERM, how long to wait for requests in flight. Default: 10.")

    @validate("base_url")
    def _slashed_base_url(self, proposal):
        inner = proposal["value"].strip("/")
        return f"/{inner}/" if inner else "/"

    @validate("drain_seconds")
    def _drain_not_negative(self, proposal):
        return max(proposal["value"], 0.0)


class LogOptions(Configurable):
    """The log lines of a standalone program (the Jupyter extension logs as its server does)."""

    log_format = Enum(
        ["json", "text"], "json", config=True,
        help="Log lines on stderr as JSON objects or as text. Default: json (codestream hub-service:"
             " text, as its lines go into JupyterHub's log).")
    log_level = CaselessStrEnum(
        ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], "INFO", config=True,
        help="Lowest level logged. Default: INFO.")
