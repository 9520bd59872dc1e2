"""The teacher dashboard's notebook cells: their state, and one view of all of them.

A lecture notebook can have hundreds of cells. One Bokeh model per cell row (a Row, an HTML
pane and a Switch each) made a 300-cell notebook take seconds to open, so the rows are one
``ReactiveHTML`` component: the server sends escaped HTML per row, the browser draws the
rows and reports a flipped switch back through a parameter.
"""

from __future__ import annotations

from collections.abc import Mapping

import param
from panel.reactive import ReactiveHTML

from .common import escape, preview_html


# -- one notebook cell as the teacher sees it ----------------------------------------------------
class CellRow(param.Parameterized):
    """A notebook cell: what the saved file holds, and what students have of it."""

    cell_id = param.String(default="", constant=True)
    index = param.Integer(default=0, doc="Position in the notebook (also the published position).")
    cell_type = param.String(default="code")
    source = param.String(default="")
    published = param.Boolean(default=False, doc="The teacher's switch: students should have this cell.")
    published_version = param.Integer(default=0, doc="The version students have; 0 when not published.")
    published_source = param.String(default=None, allow_None=True)
    published_type = param.String(default=None, allow_None=True)
    outputs = param.List(default=[], doc="The outputs saved in the notebook (code cells).")
    with_outputs = param.Boolean(default=False, doc="The teacher's choice: 'code + output' instead of 'code'.")
    published_outputs = param.List(default=None, allow_None=True,
                                   doc="The outputs students have; None when the code went alone.")
    pulls = param.Dict(default={}, doc="Distinct student servers that pulled each version: {'2': 5}.")
    status = param.String(default="not published")
    preview = param.String(default="", doc="Escaped, syntax-highlighted HTML of the first lines.")
    html = param.String(default="", doc="The row as shown: number, type, preview and status (escaped).")

    @property
    def is_published(self) -> bool:
        return self.published_version > 0

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
        return self.is_published and (self.source != self.published_source or self.cell_type != self.published_type
                                      or self.outputs_to_publish != self.published_outputs)

    @param.depends("index", "cell_type", "source", "published_version", "published_source", "published_type",
                   "outputs", "with_outputs", "published_outputs", "pulls", watch=True, on_init=True)
    def _render(self):
        """One watcher and one HTML pane per row: a 300-cell notebook must stay quick to open."""
        with_output = " with output" if self.published_outputs is not None else ""
        if not self.is_published:
            status = "not published"
        elif self.changed:
            status = f"changed since published (v{self.published_version}{with_output})"
        else:
            status = f"published v{self.published_version}{with_output}"
        preview = preview_html(self.source, self.cell_type)
        self.param.update(status=status, preview=preview,
                          html=row_html(self.index, self.cell_type, preview, status,
                                        pulls_text(self.pulls, self.published_version)))

    def show_published(self, cell: Mapping | None) -> None:
        """Take what the server says students have (``None``: not published)."""
        if cell is None:
            self.param.update(published_version=0, published_source=None, published_type=None,
                              published_outputs=None, published=False, pulls={})
        else:
            outputs = cell.get("outputs")
            self.param.update(published_version=int(cell["version"]), published_source=cell["source"],
                              published_type=cell["cell_type"], published=True,
                              published_outputs=list(outputs) if isinstance(outputs, list) else None,
                              with_outputs=isinstance(outputs, list))
            if "pulls" in cell:  # the teacher's cell list carries them; a publish answer does not
                self.pulls = dict(cell["pulls"])


def status_badge(status: str) -> str:
    kind = "changed" if status.startswith("changed") else "published" if status.startswith("published") else "off"
    return f'<span class="cs-status cs-status-{kind}">{escape(status)}</span>'


def pulls_text(pulls: Mapping, version: int) -> str:
    """"5 students have v2 · v1: 3": who has the newest version, and who pulled only older ones."""
    if not version:
        return ""
    newest = int(pulls.get(str(version), 0))
    text = f"{newest} student{'s' if newest != 1 else ''} {'have' if newest != 1 else 'has'} v{version}"
    older = [(int(v), int(n)) for v, n in pulls.items() if v.isdigit() and int(v) != version and int(n)]
    return text + "".join(f" · v{v}: {n}" for v, n in sorted(older, reverse=True))


def row_html(index: int, cell_type: str, preview: str, status: str, pulls: str = "") -> str:
    """Number and type, the preview, the status and (when published) who has it; all escaped."""
    shown_pulls = f"<div class='cs-pulls'>{escape(pulls)}</div>" if pulls else ""
    return ("<div class='cs-row'>"
            f"<div><b>Cell {index + 1}</b> <span class='cs-type'>{escape(cell_type)}</span></div>"
            f"{preview}<div>{status_badge(status)}{shown_pulls}</div></div>")


def row_view_state(row: CellRow, session_live: bool) -> dict:
    """What the browser needs to draw one row (``html`` is escaped already)."""
    key = row.cell_id or f"noid-{row.index}"
    return {"key": key, "cell_id": row.cell_id, "html": row.html, "published": row.published,
            "disabled": not (session_live and row.cell_id), "label": f"Publish cell {row.number}",
            "can_output": row.cell_type == "code" and bool(row.cell_id), "with_outputs": row.with_outputs,
            "output_label": f"Cell {row.number}: send its output too"}


CELL_LIST_CSS = """
.cs-cells { display: flex; flex-direction: column; width: 100%; }
.cs-cell { display: flex; align-items: center; gap: 12px; padding: 4px 6px;
           border-bottom: 1px solid #d0d7de; }
.cs-cell-body { flex: 1 1 auto; min-width: 0; }
.cs-switch { flex: 0 0 auto; width: 40px; height: 22px; border-radius: 11px; background: #8c959f;
             position: relative; cursor: pointer; transition: background 0.15s; box-sizing: border-box; }
.cs-switch::after { content: ""; position: absolute; top: 3px; left: 3px; width: 16px; height: 16px;
                    border-radius: 50%; background: #fff; transition: left 0.15s; }
.cs-switch[aria-checked="true"] { background: #1a7f37; }
.cs-switch[aria-checked="true"]::after { left: 21px; }
.cs-switch[aria-disabled="true"] { opacity: 0.4; cursor: not-allowed; }
.cs-switch:focus-visible, .cs-output input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.cs-output { flex: 0 0 auto; width: 120px; font-size: 13px; color: #1f2328; display: flex; gap: 4px;
             align-items: center; cursor: pointer; }
.cs-output input { width: 16px; height: 16px; margin: 0; }
.cs-output-none { flex: 0 0 auto; width: 120px; }
.cs-empty { color: #57606a; padding: 8px 0; }
.cs-row { display: grid; grid-template-columns: 110px minmax(0, 1fr) 230px; gap: 12px; align-items: center; }
.cs-type { color: #57606a; }
.cs-status { font-weight: 600; white-space: nowrap; }
.cs-status-off { color: #57606a; }
.cs-status-published { color: #1a7f37; }
.cs-status-changed { color: #7d4e00; }
.cs-pulls { font-size: 13px; color: #1f2328; margin-top: 2px; }
"""


class CellList(ReactiveHTML):
    """Every row of the notebook in one model; a click on a switch sets ``toggle``."""

    rows = param.List(default=[], doc="row_view_state() of each row, in notebook order.")
    empty_text = param.String(default="Pick a notebook to see its cells.")
    toggle = param.Dict(default={}, doc="Set by the browser: {cell_id, published, n}.")
    output_toggle = param.Dict(default={}, doc="Set by the browser: {cell_id, with_outputs, n}.")

    _template = '<div id="cells" class="cs-cells"></div>'
    _stylesheets = [CELL_LIST_CSS]
    _scripts = {
        "render": "self.draw()",
        "rows": "self.draw()",
        "empty_text": "self.draw()",
        "draw": """
            const items = [];
            for (const row of data.rows) {
              const item = document.createElement('div');
              item.className = 'cs-cell cs-cell-' + row.key;
              const body = document.createElement('div');
              body.className = 'cs-cell-body';
              body.innerHTML = row.html;  // escaped by the server: cell sources are shown as text
              const sw = document.createElement('div');
              sw.className = 'cs-switch';
              sw.setAttribute('role', 'switch');
              sw.setAttribute('aria-label', row.label);
              sw.setAttribute('aria-checked', row.published ? 'true' : 'false');
              sw.setAttribute('aria-disabled', row.disabled ? 'true' : 'false');
              sw.tabIndex = row.disabled ? -1 : 0;
              const flip = () => {
                if (row.disabled) return;
                const next = sw.getAttribute('aria-checked') !== 'true';
                sw.setAttribute('aria-checked', next ? 'true' : 'false');
                data.toggle = {cell_id: row.cell_id, published: next, n: Date.now()};
              };
              sw.addEventListener('click', flip);
              sw.addEventListener('keydown', (event) => {
                if (event.key === ' ' || event.key === 'Enter') { event.preventDefault(); flip(); }
              });
              let output;
              if (row.can_output) {
                output = document.createElement('label');
                output.className = 'cs-output';
                const box = document.createElement('input');
                box.type = 'checkbox';
                box.checked = !!row.with_outputs;
                box.setAttribute('aria-label', row.output_label);
                box.addEventListener('change', () => {
                  data.output_toggle = {cell_id: row.cell_id, with_outputs: box.checked, n: Date.now()};
                });
                const text = document.createElement('span');
                text.textContent = '+ output';
                output.append(box, text);
              } else {
                output = document.createElement('div');
                output.className = 'cs-output-none';
              }
              item.append(body, output, sw);
              items.push(item);
            }
            if (!items.length) {
              const empty = document.createElement('div');
              empty.className = 'cs-empty';
              empty.textContent = data.empty_text;
              items.push(empty);
            }
            cells.replaceChildren(...items);
        """,
    }
