"""The merge view's pure part: the regions of a three-way merge and the text a student's
choices make of them (no I/O; the merge itself is the student server's ``POST student/merge``).

The regions come from merge3 (the library the server merges with), so the conflicts here
are the server's; a resolution is the whole merged source, sent back with ``apply: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

import merge3

MINE, THEIRS, BOTH, EDITED = "mine", "theirs", "both", "edited"
CHOICES = {
    "Keep mine": MINE,
    "Take the teacher's": THEIRS,
    "Both (mine, then the teacher's)": BOTH,
    "Edit by hand": EDITED,
}


@dataclass(frozen=True)
class Conflict:
    base: str
    mine: str
    theirs: str
    line: int  # 1-based line of the merged text where the conflict starts


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _join(*parts: str) -> str:
    """Concatenate blocks of lines, keeping a line break between blocks."""
    out = ""
    for part in parts:
        if out and part and not out.endswith("\n"):
            out += "\n"
        out += part
    return out


def regions(base: str, mine: str, theirs: str) -> list[tuple[str, str | Conflict]]:
    """``("text", lines)`` for merged-clean stretches and ``("conflict", Conflict)`` in order."""
    b, a, t = _lines(base), _lines(mine), _lines(theirs)
    found: list[tuple[str, str | Conflict]] = []
    line = 1
    for region in merge3.Merge3(b, a, t).merge_regions():
        kind = region[0]
        if kind == "conflict":
            _, zs, ze, as_, ae, bs, be = region
            found.append(("conflict", Conflict("".join(b[zs:ze]), "".join(a[as_:ae]), "".join(t[bs:be]), line)))
            continue
        start, end = region[1], region[2]
        source = {"unchanged": b, "same": a, "a": a, "b": t}[kind]
        chunk = "".join(source[start:end])
        line += end - start
        found.append(("text", chunk))
    return found


def conflicts(base: str, mine: str, theirs: str) -> list[Conflict]:
    return [part for kind, part in regions(base, mine, theirs) if kind == "conflict"]


def resolve(base: str, mine: str, theirs: str, choices: list[str], edits: list[str]) -> str | None:
    """The merged source with each conflict resolved as chosen; None while one is undecided."""
    pieces: list[str] = []
    index = 0
    for kind, part in regions(base, mine, theirs):
        if kind == "text":
            pieces.append(part)
            continue
        choice = choices[index] if index < len(choices) else ""
        edit = edits[index] if index < len(edits) else ""
        index += 1
        if choice == MINE:
            pieces.append(part.mine)
        elif choice == THEIRS:
            pieces.append(part.theirs)
        elif choice == BOTH:
            pieces.append(_join(part.mine, part.theirs))
        elif choice == EDITED:
            pieces.append(edit if not edit or edit.endswith("\n") or not part.mine.endswith("\n") else edit + "\n")
        else:
            return None
    return _join(*pieces) if pieces else ""
