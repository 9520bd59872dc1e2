"""What publish on save could not send, kept for the teacher (never silent).

A save republishes every changed published cell; one that fails (the service refused it, an
output over the limit, the hub unreachable) is kept here, per session, until a later publish of
that cell succeeds. The teacher's dashboard shows them (``GET codestream/api/publish/failures``)
and offers a retry (``POST codestream/api/publish/retry``), which republishes their notebooks.
Kept in the teacher's own server process: that is where publish on save runs.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import asdict, dataclass

MAX_PER_SESSION = 50


@dataclass(frozen=True)
class PublishFailure:
    session: str
    cell_id: str | None  # None: the whole save of this notebook failed for the session
    notebook_path: str
    number: int | None  # the cell's place in the notebook ("Cell 3"), when known
    code: str  # the contract's error code, e.g. payload_too_large, hub_unavailable
    message: str  # one sentence a teacher can act on (no credential: contract errors only)
    went_out: bool  # True: the cell went out, but not all of it (its output was dropped)
    at: float

    def to_dict(self) -> dict:
        return asdict(self)


class PublishFailures:
    """The last failures per session, newest last; one per (session, cell)."""

    def __init__(self, max_per_session: int = MAX_PER_SESSION):
        self.max_per_session = max_per_session
        self._by_session: dict[str, OrderedDict[str | None, PublishFailure]] = {}

    def record(self, session: str, cell_id: str | None, notebook_path: str, *, code: str, message: str,
               number: int | None = None, went_out: bool = False) -> None:
        kept = self._by_session.setdefault(session, OrderedDict())
        kept.pop(cell_id, None)
        kept[cell_id] = PublishFailure(session, cell_id, notebook_path, number, code, message, went_out, time.time())
        while len(kept) > self.max_per_session:
            kept.popitem(last=False)

    def clear(self, session: str, cell_id: str | None) -> None:
        kept = self._by_session.get(session)
        if kept is not None:
            kept.pop(cell_id, None)
            if not kept:
                del self._by_session[session]

    def clear_notebook(self, session: str, notebook_path: str) -> None:
        """A save of ``notebook_path`` reached the session: its whole-save failure is over."""
        failure = self._by_session.get(session, {}).get(None)
        if failure is not None and failure.notebook_path == notebook_path:
            self.clear(session, None)

    def of(self, session: str | None = None) -> list[dict]:
        sessions = [session] if session else list(self._by_session)
        return [failure.to_dict() for code in sessions for failure in self._by_session.get(code, {}).values()]

    def notebooks(self, session: str | None = None) -> set[str]:
        return {failure["notebook_path"] for failure in self.of(session)}
