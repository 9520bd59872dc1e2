"""The merge view's pure part: the text a student's choices make of the server's merge
(``POST codestream/api/student/merge``: the merged text with each conflict between markers,
and each conflict's three sides and the line of its first marker). No I/O and no merge of its
own: the dashboard only replaces each marked conflict by what the student chose.
"""

from __future__ import annotations

MINE, THEIRS, BOTH, EDITED = "mine", "theirs", "both", "edited"
CHOICES = {
    "Keep mine": MINE,
    "Take the teacher's": THEIRS,
    "Both (mine, then the teacher's)": BOTH,
    "Edit by hand": EDITED,
}


def _block(text: str) -> str:
    """A conflict side as the server writes it between markers: ending in a line break."""
    return text if not text or text.endswith("\n") else text + "\n"


def conflicts_of(result: dict | None) -> list[dict]:
    found = (result or {}).get("conflicts") or []
    return [c for c in found if isinstance(c, dict)]


def both_sides(conflict: dict) -> str:
    """Mine, then the teacher's: what "Both" gives and where "Edit by hand" starts."""
    return _block(str(conflict.get("mine", ""))) + str(conflict.get("theirs", ""))


def resolve(result: dict | None, choices: list[str], edits: list[str]) -> str | None:
    """The merged source with each conflict resolved as chosen; None while one is undecided."""
    if result is None:
        return None
    merged = str(result.get("merged", ""))
    found = conflicts_of(result)
    if result.get("clean") or not found:
        return merged
    lines = merged.splitlines(keepends=True)
    pieces, position = [], 0
    for index, conflict in enumerate(found):
        choice = choices[index] if index < len(choices) else ""
        mine, theirs = str(conflict.get("mine", "")), str(conflict.get("theirs", ""))
        chosen = {MINE: mine, THEIRS: theirs, BOTH: both_sides(conflict),
                  EDITED: edits[index] if index < len(edits) else ""}.get(choice)
        if chosen is None:
            return None
        start = int(conflict.get("line", 1)) - 1
        pieces.append("".join(lines[position:start]))
        size = 3 + len(_block(mine).splitlines()) + len(_block(theirs).splitlines())  # 3 marker lines
        position = min(start + size, len(lines))
        pieces.append(chosen if position >= len(lines) else _block(chosen))
    pieces.append("".join(lines[position:]))
    return "".join(pieces)
