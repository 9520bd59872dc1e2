"""What the student dashboard knows, computed without I/O: which published cells the
student already has in a notebook, what is new or updated, where a pull may go, and
the words that explain a failed connection.

Notebooks arrive as the contents API's JSON (``content`` of a notebook model), so the
functions work on plain dicts and are tested without a server.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .common import cell_source

NEW = "new"
UPDATED = "updated"
PULLED = "pulled"
WITHDRAWN = "withdrawn"

END = "end"
# "end" is the server's default: a new cell goes last, an update right after the student's copy
END_LABEL = "At the end (an update goes right after your copy)"
SNIPPET_LENGTH = 48
# After these the relay will refuse again until the student saves a different configuration.
NEEDS_NEW_CONFIG = frozenset({"not_configured", "unauthorized", "session_not_found", "invalid_url",
                              "invalid_session_code", "forbidden"})

# Plain words for the contract's connection errors (``POST codestream/api/student/test`` and
# the relay). ``{url}`` and ``{code}`` are filled in from the saved configuration.
PLAIN_ERRORS = {
    "unreachable": "Can't reach the teacher's server at {url}. Check the address and that "
                   "you are on the same network as the teacher.",
    "timeout": "The teacher's server did not answer in time. Try again in a moment.",
    "unauthorized": "The session key was not accepted. Ask your teacher for the current key "
                    "and save it again.",
    "session_not_found": "There is no session {code} on the teacher's server. Check the code "
                         "with your teacher.",
    "bad_response": "Something answered at {url}, but it is not a Code Stream teacher server. "
                    "Check the address.",
    "not_configured": "Enter the teacher's address, the session code and the key, then Save.",
    "invalid_url": "That teacher address is not usable: it must start with http:// or https:// "
                   "and have no user name, query or #fragment.",
    "invalid_session_code": "A session code is six letters and digits (A–Z, 0–9), as your teacher"
                            " shows it.",
    "forbidden": "Your Jupyter server refused the dashboard; close this tab and open "
                 "Code Stream — Student from the launcher again.",
}


def plain_error(code: str, message: str = "", *, url: str = "", session_code: str = "") -> str:
    """A sentence a student can act on for a contract error code (the server's own words otherwise)."""
    template = PLAIN_ERRORS.get(code)
    if template is None:
        return message or "Something went wrong; try again."
    return template.format(url=url or "that address", code=session_code or "with that code")


@dataclass(frozen=True)
class PulledCopy:
    """A cell in the student's notebook that came from a pull (its ``codestream`` metadata)."""

    cell_id: str
    version: int
    source: str
    index: int
    notebook_cell_id: str | None
    number: int | None = None  # "Cell 3" in the teacher's notebook, when the pull recorded it
    cell_type: str = "code"


def pulled_copies(notebook: dict | None, session_code: str) -> dict[str, list[PulledCopy]]:
    """Copies of this session's cells in ``notebook``, per teacher cell id, in notebook order."""
    found: dict[str, list[PulledCopy]] = {}
    if not notebook:
        return found
    for index, cell in enumerate(notebook.get("cells") or []):
        meta = (cell.get("metadata") or {}).get("codestream")
        if not isinstance(meta, dict) or not meta.get("cell_id"):
            continue
        if str(meta.get("session", "")).upper() != session_code.upper():
            continue
        try:
            version = int(meta.get("version", 0))
        except (TypeError, ValueError):
            version = 0
        number = meta.get("number")
        copy = PulledCopy(str(meta["cell_id"]), version, cell_source(cell), index, cell.get("id"),
                          number if isinstance(number, int) and not isinstance(number, bool) else None,
                          str(cell.get("cell_type", "code")))
        found.setdefault(copy.cell_id, []).append(copy)
    return found


def newest_copy(copies: list[PulledCopy] | None) -> PulledCopy | None:
    """The copy with the highest version (the last one in the notebook among equals)."""
    if not copies:
        return None
    return max(enumerate(copies), key=lambda pair: (pair[1].version, pair[0]))[1]


def cell_status(cell: dict, copies: list[PulledCopy] | None) -> str:
    """``new`` (not in the notebook), ``updated`` (the teacher's version is newer) or ``pulled``."""
    copy = newest_copy(copies)
    if copy is None:
        return NEW
    return UPDATED if int(cell.get("version", 1)) > copy.version else PULLED


def cell_label(cell: dict | None) -> str:
    """How people name a cell: "Cell 3" (its place in the teacher's notebook), never its id."""
    number = (cell or {}).get("number")
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return f"Cell {number}"
    return "A cell"


def withdrawn_cells(cells: list[dict], copies: dict[str, list[PulledCopy]]) -> list[dict]:
    """What the student pulled of cells the teacher no longer publishes, as cell-like dicts
    (the student's newest copy), in the teacher's numbering."""
    published = {cell.get("cell_id") for cell in cells}
    gone = []
    for cell_id, held in copies.items():
        if cell_id in published:
            continue
        copy = newest_copy(held)
        if copy is None or copy.index < 0:
            continue
        gone.append({"cell_id": cell_id, "cell_type": copy.cell_type, "source": copy.source,
                     "version": copy.version, "number": copy.number, "withdrawn": True})
    return sorted(gone, key=lambda cell: (cell["number"] is None, cell["number"] or 0, cell["cell_id"]))


def source_diff(student_source: str, teacher_source: str, *, version_from: int, version_to: int) -> str:
    """Unified diff from the student's copy (edits included) to the teacher's new version."""
    lines = difflib.unified_diff(
        student_source.splitlines(), teacher_source.splitlines(),
        fromfile=f"your copy (v{version_from})", tofile=f"teacher (v{version_to})", lineterm="",
    )
    return "\n".join(lines)


def update_diffs(base: str, mine: str, theirs: str, *, base_version: int, version: int) -> tuple[str, str]:
    """With the version the student pulled as the merge base: ``(what the teacher changed,
    what the student changed)``, two diffs apart, so a student's own note never shows as a
    deletion the teacher made."""
    teacher = difflib.unified_diff(base.splitlines(), theirs.splitlines(), lineterm="",
                                   fromfile=f"what you pulled (v{base_version})", tofile=f"teacher (v{version})")
    student = difflib.unified_diff(base.splitlines(), mine.splitlines(), lineterm="",
                                   fromfile=f"what you pulled (v{base_version})", tofile="your copy now")
    return "\n".join(teacher), "\n".join(student)


def snippet(source: str, length: int = SNIPPET_LENGTH) -> str:
    """First non-empty line of a source, shortened for a one-line label."""
    for line in source.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= length else line[: length - 1] + "…"
    return "(empty cell)"


def position_options(notebook: dict | None) -> dict[str, str]:
    """Where a pull may go: ``end``, or ``after:<notebook cell id>`` for each cell that has an id."""
    options = {END_LABEL: END}
    if not notebook:
        return options
    for index, cell in enumerate(notebook.get("cells") or []):
        cell_id = cell.get("id")
        if not cell_id:
            continue
        label = f"After cell {index + 1}: {snippet(cell_source(cell), 32)}"
        while label in options:  # labels are the keys: keep two identical cells apart
            label += " "
        options[label] = f"after:{cell_id}"
    return options


def notebook_options(open_paths: list[str], all_paths: list[str]) -> dict[str, str]:
    """Notebooks open in JupyterLab first (marked), then the others, each path once."""
    options: dict[str, str] = {}
    for path in dict.fromkeys(open_paths):
        options[f"{path}  (open)"] = path
    for path in all_paths:
        if path not in options.values():
            options[path] = path
    return options


def pull_summary(cell: dict, result: dict) -> str:
    """What a pull did, in words: where the cell went and whether the open notebook shows it."""
    path = result.get("notebook_path", "the notebook")
    text = (f"Pulled {cell_label(cell)} (v{result.get('version', cell.get('version', 1))}) into "
            f"{path} as cell {int(result.get('index', 0)) + 1}.")
    if result.get("with_outputs"):
        text = text[:-1] + ", with the teacher's output."
    previous = result.get("previous_index")
    if previous is not None:
        text += f" Your earlier copy (cell {int(previous) + 1}) is kept as it is."
    if result.get("live"):
        return text + " It is in the open notebook now."
    if result.get("reload_needed", True):
        return text + " If the notebook is open, reload it (File → Reload Notebook from Disk) to see it."
    return text + " Open the notebook to see it."
