"""Redis key names. Every key of a session carries the ``{CODE}`` hash tag so the whole
session lives in one Redis Cluster slot. The indexes (all live sessions, an owner's, a course
group's) are keyed by what they list, so they live in other slots (store/indexes.py)."""

from __future__ import annotations

PREFIX = "codestream"
SESSION_INDEX = f"{PREFIX}:sessions"


def owner_index(owner: str) -> str:
    """The live sessions of one owner (a server's user, or a hub user), by creation time."""
    return f"{PREFIX}:owner:{owner}:sessions"


def group_index(group: str) -> str:
    """The live sessions limited to one course group (a hub group), by creation time."""
    return f"{PREFIX}:group:{group}:sessions"


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


def versions_key(code: str) -> str:
    """Past versions of the session's cells: ``cell_id\nversion`` -> the cell (store/versions.py)."""
    return f"{PREFIX}:{{{code}}}:versions"


def hands_key(code: str) -> str:
    """Hand id -> the hand as raised (JSON); its state lives in ``hand_states_key`` (store/hands.py)."""
    return f"{PREFIX}:{{{code}}}:hands"


def hand_states_key(code: str) -> str:
    """``<hand id>`` -> state, ``<hand id>:c`` -> raising client, ``c:<client>`` -> its open hand,
    ``r:<client>`` -> its rate window (store/hands.py)."""
    return f"{PREFIX}:{{{code}}}:hand_states"


def hand_queue_key(code: str) -> str:
    """Open hands by raising order (a sorted set; store/hands.py)."""
    return f"{PREFIX}:{{{code}}}:hand_queue"


def hands_done_key(code: str) -> str:
    """Handled hands by raising order, capped (store/hands.py)."""
    return f"{PREFIX}:{{{code}}}:hands_done"


def runs_key(code: str) -> str:
    """``cell_id\nclient`` -> ``state\nename``: each client's latest run of a cell (store/runs.py)."""
    return f"{PREFIX}:{{{code}}}:runs"


def run_counts_key(code: str) -> str:
    """``cell_id\nok|error|e:<ename>`` -> clients (store/runs.py)."""
    return f"{PREFIX}:{{{code}}}:run_counts"


def counted_key(code: str) -> str:
    """The clients whose pulls and runs are in the counts now: the present ones (store/attendance.py)."""
    return f"{PREFIX}:{{{code}}}:counted"


def client_cells_key(code: str) -> str:
    """Client -> the cells it pulled or ran, space-separated (store/attendance.py)."""
    return f"{PREFIX}:{{{code}}}:client_cells"


def pulls_by_client_key(code: str) -> str:
    """``cell_id\nclient`` -> the version that client's pull counts at (store/attendance.py)."""
    return f"{PREFIX}:{{{code}}}:pulls_by_client"


def replicated_key(code: str) -> str:
    """A marker written only to place a ``WAIT`` for replicas on the session's node (store/replication.py)."""
    return f"{PREFIX}:{{{code}}}:replicated"


def all_session_keys(code: str) -> list[str]:
    return [session_key(code), cells_key(code), events_key(code), students_key(code), retired_key(code),
            pulled_key(code), pull_counts_key(code), versions_key(code), hands_key(code), hand_states_key(code),
            hand_queue_key(code), hands_done_key(code), runs_key(code), run_counts_key(code),
            counted_key(code), client_cells_key(code), pulls_by_client_key(code), replicated_key(code)]
