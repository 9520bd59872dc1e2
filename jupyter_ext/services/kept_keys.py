"""The student keys of the sessions this teacher's server started, kept on the teacher's machine.

Redis holds only a key's hash, so after a dashboard reload or a server restart the join link
and its QR code could not be shown again, and teachers rotated the key, which throws every
student out. The teacher's own server keeps each key of its own sessions in one small file
(``<jupyter data dir>/codestream/session-keys.json``, mode 0600, folder 0700): never in Redis,
and only ever sent to the teacher (the teacher routes' list of sessions). A key leaves the file
when its session ends or is no longer listed.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from pathlib import Path

from .private_files import write_private

KEYS_FILE_NAME = "session-keys.json"
CODE_RE = re.compile(r"^[A-Z0-9]{6}$")  # codes as the routes normalise them
MAX_KEPT = 1000  # a teacher's live sessions; more means old ones were never ended


class KeptKeys:
    """``{code: student key}`` of this server's own live sessions, in a private file."""

    def __init__(self, path: Path | str, log: logging.Logger | None = None):
        self.path = Path(path)
        self.log = log or logging.getLogger(__name__)
        self._lock = threading.Lock()

    def get(self, code: str) -> str | None:
        return self._read().get(code)

    def all(self) -> dict[str, str]:
        return self._read()

    def put(self, code: str, key: str) -> None:
        with self._lock:
            kept = self._read()
            kept[code] = key
            self._write(dict(list(kept.items())[-MAX_KEPT:]))

    def drop(self, code: str) -> None:
        with self._lock:
            kept = self._read()
            if kept.pop(code, None) is not None:
                self._write(kept)

    def keep_only(self, live_codes: set[str]) -> dict[str, str]:
        """Forget the keys of sessions that are no longer live (ended elsewhere); the rest."""
        with self._lock:
            kept = self._read()
            live = {code: key for code, key in kept.items() if code in live_codes}
            if live != kept:
                self._write(live)
            return live

    def _read(self) -> dict[str, str]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            self.log.warning("codestream: %s is unreadable; the join links of resumed sessions show no key",
                             self.path)
            return {}
        if not isinstance(raw, dict):
            return {}
        return {code: key for code, key in raw.items()
                if isinstance(code, str) and CODE_RE.match(code) and isinstance(key, str)
                and 0 < len(key) <= 256}

    def _write(self, kept: dict[str, str]) -> None:
        """Atomic replace by a 0600 file in a 0700 folder; a failure is logged, never raised (the
        session works without it; only its join link after a restart lacks the key)."""
        try:
            write_private(self.path, json.dumps(kept))
        except OSError as exc:
            self.log.warning("codestream: could not keep the session keys in %s (%s)", self.path,
                             type(exc).__name__)
