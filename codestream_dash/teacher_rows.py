"""One notebook cell as the teacher sees it: what the saved file holds, what the teacher wants
students to have (``wanted``), what the server says they have (``published``), and what
students did with it (pulls, runs).

``wanted`` and ``published`` are two parameters on purpose: the switch in the page sets
``wanted``; only an answer of the server (or its cell list) sets ``published``. A flip is one
PUT or DELETE that moves ``published`` to ``wanted`` (teacher_publish.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import param

from .common import escape, preview_html


class CellRow(param.Parameterized):
    """A notebook cell of the chosen notebook, with the session's view of it."""

    cell_id = param.String(default="", constant=True)
    index = param.Integer(default=0, doc="Position in the notebook (also the published position).")
    cell_type = param.String(default="code")
    source = param.String(default="")
    wanted = param.Boolean(default=False, doc="The teacher's switch: students should have this cell.")
    published = param.Boolean(default=False, doc="What the server has: students can get this cell now.")
    published_version = param.Integer(default=0, doc="The version students have; 0 when not published.")
    published_source = param.String(default=None, allow_None=True)
    published_type = param.String(default=None, allow_None=True)
    outputs = param.List(default=[], doc="The outputs saved in the notebook (code cells).")
    with_outputs = param.Boolean(default=False, doc="The teacher's choice: 'code + output' instead of 'code'.")
    published_outputs = param.List(default=None, allow_None=True,
                                   doc="The outputs students have; None when the code went alone.")
    pulls = param.Dict(default={}, doc="Students per version, each counted at their newest: {'2': 5}.")
    runs = param.Dict(default={}, doc="How students' runs ended: {'ok': n, 'error': n, 'errors': {ename: n}}.")
    focused = param.Boolean(default=False, doc="The cell the teacher shows the class (Show).")
    status = param.String(default="not published")
    preview = param.String(default="", doc="Escaped, syntax-highlighted HTML of the first lines.")
    html = param.String(default="", doc="The row as shown: number, type, preview, status, pulls, runs (escaped).")

    @property
    def number(self) -> int:
        """"Cell 3": the 1-based place in the notebook, as people count."""
        return self.index + 1

    @property
    def outputs_to_publish(self) -> list | None:
        """What a publish sends as ``outputs``: None for "code", the saved outputs for "code + output"."""
        return self.outputs_for(self.with_outputs)

    def outputs_for(self, with_outputs: bool) -> list | None:
        return list(self.outputs) if with_outputs and self.cell_type == "code" else None

    @property
    def changed(self) -> bool:
        return self.published and (self.source != self.published_source or self.cell_type != self.published_type
                                   or self.outputs_to_publish != self.published_outputs)

    @param.depends("index", "cell_type", "source", "published", "published_version", "published_source",
                   "published_type", "outputs", "with_outputs", "published_outputs", "pulls", "runs",
                   watch=True, on_init=True)
    def _render(self):
        """One watcher and one HTML string per row: a 300-cell notebook must stay quick to open."""
        with_output = " with output" if self.published_outputs is not None else ""
        if not self.published:
            status = "not published"
        elif self.changed:
            status = f"changed since published (v{self.published_version}{with_output})"
        else:
            status = f"published v{self.published_version}{with_output}"
        preview = preview_html(self.source, self.cell_type)
        version = self.published_version if self.published else 0
        self.param.update(status=status, preview=preview,
                          html=row_html(self.index, self.cell_type, preview, status,
                                        pulls_text(self.pulls, version), runs_text(self.runs) if version else ""))

    def show_published(self, cell: Mapping | None, *, follow_switch: bool = True) -> None:
        """Take what the server says students have (``None``: not published). The switch follows,
        except after our own write (the teacher may have flipped it again meanwhile)."""
        switch = {"wanted": cell is not None} if follow_switch else {}
        if cell is None:
            self.param.update(published_version=0, published_source=None, published_type=None,
                              published_outputs=None, published=False, pulls={}, runs={}, focused=False,
                              **switch)
            return
        outputs = cell.get("outputs")
        choice = {"with_outputs": isinstance(outputs, list)} if follow_switch else {}
        self.param.update(published_version=int(cell["version"]), published_source=cell["source"],
                          published_type=cell["cell_type"], published=True,
                          published_outputs=list(outputs) if isinstance(outputs, list) else None,
                          **switch, **choice)
        self.show_activity(cell)

    def show_activity(self, cell: Mapping) -> None:
        """Pulls and runs from a teacher's cell list entry (a publish answer carries neither)."""
        if isinstance(cell.get("pulls"), Mapping):
            self.pulls = dict(cell["pulls"])
        if isinstance(cell.get("runs"), Mapping):
            self.runs = dict(cell["runs"])


def status_badge(status: str) -> str:
    kind = "changed" if status.startswith("changed") else "published" if status.startswith("published") else "off"
    return f'<span class="cs-status cs-status-{kind}">{escape(status)}</span>'


def pulls_text(pulls: Mapping, version: int) -> str:
    """"5 students have v2 · v1: 3": who has the newest version, and who has only an older one
    (the server counts each student once, at the newest version they pulled)."""
    if not version:
        return ""
    newest = _count(pulls.get(str(version), 0))
    text = f"{newest} student{'s' if newest != 1 else ''} {'have' if newest != 1 else 'has'} v{version}"
    older = [(int(v), _count(n)) for v, n in pulls.items()
             if str(v).isdigit() and int(v) != version and _count(n)]
    return text + "".join(f" · v{v}: {n}" for v, n in sorted(older, reverse=True))


def runs_text(runs: Mapping) -> str:
    """"18 ran it · 4 errors (NameError 3, TypeError 1)"; "" before anyone ran it."""
    ok, error = _count(runs.get("ok", 0)), _count(runs.get("error", 0))
    if not ok + error:
        return ""
    text = f"{ok + error} ran it"
    if error:
        errors = runs.get("errors") if isinstance(runs.get("errors"), Mapping) else {}
        named = sorted(((str(name)[:64], _count(n)) for name, n in errors.items() if _count(n)),
                       key=lambda item: (-item[1], item[0]))
        detail = f" ({', '.join(f'{name} {n}' for name, n in named)})" if named else ""
        text += f" · {error} error{'s' if error != 1 else ''}{detail}"
    return text


def _count(value) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def row_html(index: int, cell_type: str, preview: str, status: str, pulls: str = "", runs: str = "") -> str:
    """Number and type, the preview, the status and (when published) who has it and how runs
    ended; all escaped (an exception name comes from a student's server)."""
    shown_pulls = f"<div class='cs-pulls'>{escape(pulls)}</div>" if pulls else ""
    shown_runs = f"<div class='cs-runs'>{escape(runs)}</div>" if runs else ""
    return ("<div class='cs-row'>"
            f"<div><b>Cell {index + 1}</b> <span class='cs-type'>{escape(cell_type)}</span></div>"
            f"{preview}<div>{status_badge(status)}{shown_pulls}{shown_runs}</div></div>")


def row_view_state(row: CellRow, session_live: bool) -> dict:
    """What the browser needs to draw one row (``html`` is escaped already)."""
    key = row.cell_id or f"noid-{row.index}"
    return {"key": key, "cell_id": row.cell_id, "html": row.html, "published": row.wanted,
            "disabled": not (session_live and row.cell_id), "label": f"Publish cell {row.number}",
            "can_output": row.cell_type == "code" and bool(row.cell_id), "with_outputs": row.with_outputs,
            "output_label": f"Cell {row.number}: send its output too",
            "can_show": session_live and row.published, "focused": row.focused,
            "show_label": (f"Shown: cell {row.number} is on the class's screens (press to stop)" if row.focused
                           else f"Show cell {row.number} to the class")}
