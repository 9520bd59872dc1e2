"""The hands queue as the teacher sees it: one ``ReactiveHTML`` list beside the cells.

A hand is written by a student, and this page runs on the teacher's own Jupyter origin (a
script here would own the teacher's server). So the server builds each hand's HTML from
escaped text (name, note, cell number), Pygments-escaped code, and outputs through the
sanitiser (outputs_render.py, ``from_student``); the browser adds only buttons whose labels
it sets with ``textContent``.
"""

from __future__ import annotations

import param
from panel.reactive import ReactiveHTML

from .common import escape, preview_html
from .outputs_render import OUTPUTS_CSS, outputs_html

SOURCE_LINES_SHOWN = 40
STATE_TEXT = {"waiting": "waiting", "helping": "you are helping"}


def hand_html(hand: dict, place: int) -> str:
    """One hand: who, which cell, the note, the code and its output; every part escaped or cleaned."""
    who = escape(hand["name"] or "A student")
    cell = f" · Cell {hand['number']}" if hand.get("number") else ""
    state = STATE_TEXT.get(hand["state"], hand["state"])
    note = f"<div class='cs-hand-note'>{escape(hand['note'])}</div>" if hand["note"] else ""
    code = preview_html(hand["source"], "code", max_lines=SOURCE_LINES_SHOWN) if hand["source"] else ""
    outputs = outputs_html(hand["outputs"], from_student=True)
    return (f"<div class='cs-hand-head'><b class='cs-hand-name'>{place}. {who}</b>{escape(cell)}"
            f" <span class='cs-hand-state cs-hand-{escape(hand['state'])}'>{escape(state)}</span></div>"
            f"{note}{code}{outputs}")


def hand_view_state(hand: dict, place: int) -> dict:
    label = f"{hand['name'] or 'a student'}'s hand"
    return {"hand_id": hand["hand_id"], "html": hand_html(hand, place), "helping": hand["state"] == "helping",
            "label": label}


HANDS_CSS = OUTPUTS_CSS + """
.cs-hands { display: flex; flex-direction: column; gap: 8px; }
.cs-hand { border: 1px solid #d0d7de; border-left: 5px solid #9a6700; border-radius: 4px; padding: 6px 8px;
           background: #fff; color: #1f2328; overflow-wrap: anywhere; }
.cs-hand-helping { border-left-color: #0969da; }
.cs-hand-head { font-size: 14px; margin-bottom: 4px; }
.cs-hand-state { font-size: 12px; color: #57606a; }
.cs-hand-note { font-size: 14px; white-space: pre-wrap; margin: 4px 0; }
.cs-hand-actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.cs-hand-actions button { font: inherit; font-size: 13px; padding: 3px 10px; border-radius: 4px;
                          border: 1px solid #0969da; background: #fff; color: #0969da; cursor: pointer; }
.cs-hand-actions button.cs-done { border-color: #1a7f37; color: #1a7f37; }
.cs-hand-actions button:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
.cs-hands-empty { color: #57606a; font-size: 14px; }
.cs-include { display: flex; align-items: center; gap: 6px; font-size: 14px; color: #1f2328; margin-bottom: 6px; }
.cs-include input { width: 16px; height: 16px; margin: 0; }
.cs-include input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
"""


class HandsQueue(ReactiveHTML):
    """The open hands, oldest first; a button sets ``action`` ({hand_id, action, n})."""

    hands = param.List(default=[], doc="hand_view_state() of each open hand.")
    empty_text = param.String(default="No hands raised.")
    action = param.Dict(default={}, doc="Set by the browser: {hand_id, action: helping|done|spotlight, n}.")
    include_output = param.Boolean(default=False, doc="'Show to class' also shows the hand's output.")

    _template = ('<label class="cs-include"><input id="include" type="checkbox"></input>'
                 ' Show to class: include the output</label>'
                 '<div id="queue" class="cs-hands" aria-label="Raised hands"></div>')
    _stylesheets = [HANDS_CSS]
    _scripts = {
        "render": """
            include.checked = !!data.include_output;
            include.addEventListener('change', () => { data.include_output = include.checked; });
            self.draw();
        """,
        "include_output": "include.checked = !!data.include_output;",
        "hands": "self.draw()",
        "empty_text": "self.draw()",
        "draw": """
            const items = [];
            const button = (text, action, hand, css) => {
              const b = document.createElement('button');
              b.type = 'button';
              b.textContent = text;
              if (css) b.className = css;
              b.setAttribute('aria-label', text + ': ' + hand.label);
              b.addEventListener('click', () => {
                data.action = {hand_id: hand.hand_id, action: action, n: Date.now()};
              });
              return b;
            };
            for (const hand of data.hands) {
              const item = document.createElement('div');
              item.className = 'cs-hand' + (hand.helping ? ' cs-hand-helping' : '');
              item.setAttribute('role', 'listitem');
              const body = document.createElement('div');
              body.innerHTML = hand.html;  // escaped and sanitised by the server: a student wrote it
              const actions = document.createElement('div');
              actions.className = 'cs-hand-actions';
              if (!hand.helping) actions.append(button('Helping', 'helping', hand));
              actions.append(button('Done', 'done', hand, 'cs-done'),
                             button('Show to class', 'spotlight', hand));
              item.append(body, actions);
              items.push(item);
            }
            if (!items.length) {
              const empty = document.createElement('div');
              empty.className = 'cs-hands-empty';
              empty.textContent = data.empty_text;
              items.push(empty);
            }
            if (data.hands.length) queue.setAttribute('role', 'list'); else queue.removeAttribute('role');
            queue.replaceChildren(...items);
        """,
    }
