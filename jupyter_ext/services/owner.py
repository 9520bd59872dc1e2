"""Who owns a session when there is no hub: a stable id of the server's user.

Several teachers' servers may share one Redis (a department's). Each server's user gets an
id, made once and kept in the Jupyter data directory (``<data dir>/codestream/owner-id``,
mode 0600), so the same user keeps their sessions across restarts while another user's server
neither lists nor changes them. Under a hub the hub user's name takes its place: the hub
service creates the session with ``owner=<hub user>`` and ``group=<course group>``, which the
store writes in the same transaction as the session and lists in its owner and group indexes
(store/owners.py); "my sessions" and "my course's sessions" are read from those indexes. The id
is not a credential: it only says whose a session is.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from pathlib import Path

OWNER_ID_RE = re.compile(r"^[A-Za-z0-9_.@-]{8,128}$")
OWNER_FILE_NAME = "owner-id"


def load_owner_id(path: Path, log: logging.Logger | None = None) -> str:
    """The id in ``path``, created when missing: written to a private temporary file (0600)
    and linked into place, so two servers starting at once agree on one id and nobody ever
    reads a half-written file. A damaged file is replaced by a fresh id."""
    log = log or logging.getLogger(__name__)
    path = Path(path)
    for _ in range(3):
        try:
            existing = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            existing = None
        if existing is not None and OWNER_ID_RE.match(existing):
            return existing
        path.parent.mkdir(parents=True, exist_ok=True)
        owner = f"local-{secrets.token_hex(16)}"
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(owner + "\n")
        try:
            if existing is None:
                os.link(temporary, path)  # fails if another server made it first: read theirs
            else:
                log.warning("codestream: %s does not hold an owner id; making a new one", path)
                os.replace(temporary, path)
        except FileExistsError:
            continue
        finally:
            temporary.unlink(missing_ok=True)
        log.info("codestream: made the owner id of this server's user in %s", path)
        return owner
    raise RuntimeError(f"could not read or create the owner id file {path}")
