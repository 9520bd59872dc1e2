"""``codestream relay``: the contract's read routes as a standalone tornado service over Redis.

A relay serves ``cells``, one cell and ``events`` of every session straight from Redis (or
Redis Cluster / Sentinel), with the same read-route core as the teacher's Jupyter server
(``web.core.ReadRoutes``) and the same services and store, but no Jupyter server: only the
session's student key authorizes (``web.core.StudentKeyAuth``; another program can pass its
own ``ReadAuth``). It keeps no state another replica needs (sessions, cells, events and
presence are all in Redis; event ids are Redis stream ids), so any number of replicas can run
behind a load balancer and a student's event stream resumes on any of them with
``Last-Event-ID``.

Operations: ``GET /healthz`` (alive), ``GET /readyz`` (Redis answers and not shutting down),
JSON log lines on stderr (``--log-format text`` for people), and a graceful shutdown on
SIGTERM/SIGINT: stop accepting, report not ready, end every open event stream (clients
reconnect elsewhere with their ``Last-Event-ID``), wait for requests in flight, close Redis.

Modules: ``config`` (its options: the shared traits of ``jupyter_ext.config``, and the command
line generated from them), ``logs`` (JSON log lines, access log), ``core`` (the read
routes on plain tornado, and who may read), ``server`` (the process). Nothing here imports
jupyter_server.
"""

from .config import RelayConfig, parse_args
from ..web.core import ReadAuth, Reader, ReadRoutes, StudentKeyAuth
from .logs import LOG_NAME, JSONLogFormatter, configure_logging, log_request
from .server import (
    MAX_BODY_BYTES,
    READY_PING_SECONDS,
    HealthHandler,
    NotFoundHandler,
    ReadyHandler,
    Relay,
    RelayDraining,
    RelayHandler,
    RelayState,
    main,
    serve,
)

__all__ = [
    "LOG_NAME", "MAX_BODY_BYTES", "READY_PING_SECONDS", "HealthHandler", "JSONLogFormatter",
    "NotFoundHandler", "ReadAuth", "ReadRoutes", "ReadyHandler", "Reader", "Relay",
    "RelayConfig", "RelayDraining", "RelayHandler",
    "RelayState", "StudentKeyAuth", "configure_logging", "log_request", "main", "parse_args", "serve",
]
