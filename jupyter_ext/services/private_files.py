"""One way to keep a small private file on the user's machine (student config, client id, own
hands; the teacher's kept session keys): an atomic replace by a 0600 file in a 0700 folder, so
a crash leaves the old file or the new one, never half of either, and nobody else reads it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_private(target: Path, text: str) -> None:
    """Replace ``target`` by a 0600 file holding ``text``; its folder is made 0700. Raises OSError."""
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
