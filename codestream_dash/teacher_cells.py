"""The teacher dashboard's notebook cells in one view (the rows' state is teacher_rows.py).

A lecture notebook can have hundreds of cells. One Bokeh model per cell row (a Row, an HTML
pane and a Switch each) made a 300-cell notebook take seconds to open, so the rows are one
``ReactiveHTML`` component: the server sends escaped HTML per row, the browser draws the
rows and reports a flipped switch back through a parameter.
"""

from __future__ import annotations

import param
from panel.reactive import ReactiveHTML

from .teacher_rows import CellRow, pulls_text, row_html, row_view_state, runs_text, status_badge

__all__ = ["CellList", "CellRow", "pulls_text", "row_html", "row_view_state", "runs_text", "status_badge"]


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
.cs-output { flex: 0 0 auto; width: 84px; font-size: 13px; color: #1f2328; display: flex; gap: 4px;
             align-items: center; cursor: pointer; }
.cs-output input { width: 16px; height: 16px; margin: 0; }
.cs-output-none { flex: 0 0 auto; width: 84px; }
.cs-empty { color: #57606a; padding: 8px 0; }
.cs-row { display: grid; grid-template-columns: 80px minmax(0, 1fr) minmax(150px, 230px); gap: 12px; align-items: center; }
.cs-type { color: #57606a; }
.cs-status { font-weight: 600; white-space: nowrap; }
.cs-status-off { color: #57606a; }
.cs-status-published { color: #1a7f37; }
.cs-status-changed { color: #7d4e00; }
.cs-pulls, .cs-runs { font-size: 13px; color: #1f2328; margin-top: 2px; }
.cs-show { flex: 0 0 auto; font: inherit; font-size: 13px; padding: 2px 8px; border-radius: 4px;
           border: 1px solid #0969da; background: #fff; color: #0969da; cursor: pointer; }
.cs-show[aria-pressed="true"] { background: #0969da; color: #fff; }
.cs-show:disabled { border-color: #8c959f; color: #57606a; cursor: not-allowed; }
.cs-show:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.cs-cell-focused { border-left: 6px solid #0969da; background: #eef6ff; }
.cs-cell-focused .cs-status-published { color: #116329; }
.cs-focus-mark { font-size: 12px; font-weight: 700; color: #0b3d91; }
.cs-cell-body { container-type: inline-size; }
@container (max-width: 440px) { .cs-row { grid-template-columns: minmax(0, 1fr); gap: 4px; } }
"""


class CellList(ReactiveHTML):
    """Every row of the notebook in one model; a click on a switch sets ``toggle``, on Show ``show``."""

    rows = param.List(default=[], doc="row_view_state() of each row, in notebook order.")
    empty_text = param.String(default="Pick a notebook to see its cells.")
    toggle = param.Dict(default={}, doc="Set by the browser: {cell_id, published, n}.")
    output_toggle = param.Dict(default={}, doc="Set by the browser: {cell_id, with_outputs, n}.")
    show = param.Dict(default={}, doc="Set by the browser: {cell_id, focused, n} (Show / Stop showing).")
    window_focus = param.Integer(default=0, doc="Set by the browser when the dashboard's window gets focus"
                                                " (the teacher comes back from the notebook: re-read it).")

    _template = '<div id="cells" class="cs-cells"></div>'
    _stylesheets = [CELL_LIST_CSS]
    _scripts = {
        "render": """
            window.addEventListener('focus', () => { data.window_focus = Date.now(); });
            self.draw();
        """,
        "rows": "self.draw()",
        "empty_text": "self.draw()",
        "draw": """
            const items = [];
            for (const row of data.rows) {
              const item = document.createElement('div');
              item.className = 'cs-cell cs-cell-' + row.key + (row.focused ? ' cs-cell-focused' : '');
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
              const show = document.createElement('button');
              show.type = 'button';
              show.className = 'cs-show';
              show.textContent = row.focused ? 'Shown' : 'Show';
              show.disabled = !row.can_show;
              show.setAttribute('aria-pressed', row.focused ? 'true' : 'false');
              show.setAttribute('aria-label', row.show_label);
              show.addEventListener('click', () => {
                data.show = {cell_id: row.cell_id, focused: !row.focused, n: Date.now()};
              });
              item.append(body, output, show, sw);
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
