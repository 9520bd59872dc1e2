"""The relay's log lines: JSON objects (or text for people) on stderr, and its access log."""

from __future__ import annotations

import json
import logging
import sys
import time

from tornado import web

LOG_NAME = "codestream.relay"


class JSONLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


JSONLogFormatter.converter = time.gmtime


def configure_logging(log_format: str, level: str) -> None:
    """The relay is a program, not a library: it owns the root logger's output."""
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JSONLogFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("tornado.access").setLevel(logging.WARNING)  # we write our own access log


def log_request(handler: web.RequestHandler) -> None:
    """Access log: method, path, status, duration; never headers (they carry the student key)."""
    status = handler.get_status()
    request = handler.request
    probe = getattr(handler, "is_probe", False)  # health checks log at debug level
    level = logging.DEBUG if probe and status < 500 else (
        logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR)
    duration_ms = round(1000.0 * request.request_time(), 1)
    logging.getLogger(LOG_NAME + ".access").log(
        level, "%s %s %s %.1fms", request.method, request.path, status, duration_ms,
        extra={"fields": {"method": request.method, "path": request.path, "status": status,
                          "duration_ms": duration_ms, "remote_ip": request.remote_ip}})
