"""Redis key names. Every key of a session carries the ``{CODE}`` hash tag so the whole
session lives in one Redis Cluster slot; the index of live sessions is the only shared key."""

from __future__ import annotations

PREFIX = "codestream"
SESSION_INDEX = f"{PREFIX}:sessions"


def owner_index(owner: str) -> str:
    """The live sessions of one owner (a server's user, or a hub user), by creation time."""
    return f"{PREFIX}:owner:{owner}:sessions"


def session_key(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:session"


def cells_key(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:cells"


def events_key(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:events"


def students_key(code: str) -> str:
    return f"{PREFIX}:{{{code}}}:students"


def retired_key(code: str) -> str:
    """Versions of unpublished cells (cell id -> last version and a digest of its source)."""
    return f"{PREFIX}:{{{code}}}:retired"


def pulled_key(code: str) -> str:
    """Members ``cell_id\nversion\nclient``: who pulled what (store/pulls.py)."""
    return f"{PREFIX}:{{{code}}}:pulled"


def pull_counts_key(code: str) -> str:
    """Distinct clients per ``cell_id\nversion`` (store/pulls.py)."""
    return f"{PREFIX}:{{{code}}}:pulls"


def replicated_key(code: str) -> str:
    """A marker written only to place a ``WAIT`` for replicas on the session's node (store/replication.py)."""
    return f"{PREFIX}:{{{code}}}:replicated"


def all_session_keys(code: str) -> list[str]:
    return [session_key(code), cells_key(code), events_key(code), students_key(code), retired_key(code),
            pulled_key(code), pull_counts_key(code), replicated_key(code)]
