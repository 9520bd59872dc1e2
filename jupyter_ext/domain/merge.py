"""Merging a teacher's update into the copy a student edited: a line-based three-way merge.

The merge itself is ``merge3`` (the three-way merge of Breezy, a well-kept library); this
module only splits texts into lines, turns its regions into the contract's answer (the merged
text, clean or with conflict markers, and each conflict's three sides) and moves a pulled
copy's metadata to the merged version. Pure: texts and dicts in, texts and dicts out.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field

from merge3 import Merge3

MINE_MARKER = "<<<<<<< mine"
SEPARATOR = "======="
THEIRS_MARKER = ">>>>>>> teacher"
BEFORE_MERGE = "before_merge"


class _LineMatcher(difflib.SequenceMatcher):
    """difflib without its "popular line" heuristic, which on cells over 200 lines treats
    frequent lines (blank ones, ``return``) as junk and can misalign an otherwise clean merge."""

    def __init__(self, isjunk=None, a="", b="", autojunk=False):
        super().__init__(isjunk, a, b, autojunk=False)


@dataclass(frozen=True)
class Conflict:
    """One place both sides changed: the lines as pulled, as I have them, as the teacher has
    them; ``line`` is the 1-based line of its ``<<<<<<< mine`` marker in the merged text."""

    base: str
    mine: str
    theirs: str
    line: int

    def to_dict(self) -> dict:
        return {"base": self.base, "mine": self.mine, "theirs": self.theirs, "line": self.line}


@dataclass(frozen=True)
class MergeResult:
    merged: str  # the merge; with conflicts, each one between git-style markers
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.conflicts


def _block(lines) -> str:
    """Conflict sides as text, ending in a newline so the next marker starts its own line."""
    text = "".join(lines)
    return text if not text or text.endswith("\n") else text + "\n"


def merge_texts(base: str, mine: str, theirs: str) -> MergeResult:
    """Three-way merge of ``mine`` and ``theirs``, both descended from ``base``, by lines."""
    merge = Merge3(base.splitlines(keepends=True), mine.splitlines(keepends=True),
                   theirs.splitlines(keepends=True), sequence_matcher=_LineMatcher)
    out: list[str] = []
    conflicts: list[Conflict] = []
    line = 1
    for group in merge.merge_groups():
        if group[0] != "conflict":
            text = "".join(group[1])
        else:
            _kind, base_lines, mine_lines, theirs_lines = group
            if out and not out[-1].endswith("\n"):
                out.append("\n")
                line += 1
            conflicts.append(Conflict("".join(base_lines), "".join(mine_lines), "".join(theirs_lines), line))
            text = (f"{MINE_MARKER}\n{_block(mine_lines)}{SEPARATOR}\n"
                    f"{_block(theirs_lines)}{THEIRS_MARKER}\n")
        out.append(text)
        line += text.count("\n")
    return MergeResult("".join(out), conflicts)


def merged_metadata(origin: Mapping, version: int, before: str) -> dict:
    """A copy's ``codestream`` metadata after a merge: at the teacher's ``version`` now, with
    the text it had before (``before_merge``), so the student can always go back to it."""
    return {**dict(origin), "version": int(version), BEFORE_MERGE: before}


__all__ = ["BEFORE_MERGE", "Conflict", "MergeResult", "merge_texts", "merged_metadata"]
