"""Who may read a session by identity (the hub's rule): its owner, a member of its course
group, or, when it has no group, anyone who holds its code."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SessionAccess:
    """The part of a session that access is decided by (the store hands it out)."""

    code: str
    owner: str  # "" for a session made before owners existed (nobody on the hub owns it)
    group: str  # "" when any hub user with the code may read it

    def may_read(self, user: str, groups: frozenset[str]) -> bool:
        return user == self.owner or not self.group or self.group in groups
