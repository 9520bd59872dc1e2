"""What a session is, as the store hands it out: its record, its cells as of one event id, and
the one hash its student key is kept as (Redis never holds a key in clear)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..domain import Cell, SessionAccess, numbered


def hash_key(student_key: str) -> str:
    """Keys are upper case by construction, so a key typed in lower case still matches."""
    return hashlib.sha256(student_key.strip().upper().encode("utf-8")).hexdigest()


@dataclass
class SessionRecord:
    code: str
    title: str
    created: str
    notebook_path: str
    relay_url: str = ""
    owner: str = ""  # "" for sessions made before owners existed (see SessionStore.claim_session)
    focus: str | None = None  # the cell the teacher shows the class (store/focus.py)
    group: str = ""  # the course group the session is limited to ("" : none; hub sessions only)

    @property
    def access(self) -> SessionAccess:
        return SessionAccess(self.code, self.owner, self.group)

    def public_dict(self) -> dict:
        public = {"code": self.code, "title": self.title, "created": self.created}
        if self.relay_url:
            public["relay_url"] = self.relay_url
        return public


@dataclass
class ListedSession:
    """A live session as a session list shows it: its record and two counts."""

    record: SessionRecord
    cells: int
    students: int  # present within the last ``STUDENT_WINDOW_SECONDS``

    def summary(self) -> dict:
        """The contract's entry of ``GET codestream/api/sessions`` (without its join link)."""
        return {**self.record.public_dict(), "notebook_path": self.record.notebook_path,
                "cells": self.cells, "students": self.students}


class CellsState:
    """A session's cells as of one event id: parsed once, rendered to JSON once, then shared.

    Read-only once built (every request that hits the cache gets this same object).
    """

    def __init__(self, cells: list[Cell]):
        self.cells = cells
        self._public_json: str | None = None

    def public_json(self) -> str:
        """The contract's ``cells`` array, as JSON text."""
        if self._public_json is None:
            numbers = numbered(self.cells, lambda cell: cell.number)
            self._public_json = json.dumps([cell.public_dict(n) for cell, n in zip(self.cells, numbers)])
        return self._public_json
