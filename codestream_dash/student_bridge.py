"""What only the browser can do for the student dashboard, in one invisible component:
remember "Follow the teacher" (localStorage), scroll the focused cell into view, and say
whether the page is open on its own (a join link) or in a JupyterLab tab.
"""

from __future__ import annotations

import param
from panel.custom import JSComponent

FOLLOW_KEY = "codestream-follow-teacher"


class BrowserBridge(JSComponent):
    follow = param.Boolean(default=True)
    scroll_target = param.String(default="")
    scroll_request = param.Integer(default=0)
    full_page = param.Boolean(default=False)

    _esm = """
const KEY = %r;
function find(root, selector) {
  const hit = root.querySelector(selector);
  if (hit) return hit;
  for (const node of root.querySelectorAll("*")) {
    if (node.shadowRoot) {
      const found = find(node.shadowRoot, selector);
      if (found) return found;
    }
  }
  return null;
}
export function render({ model, el }) {
  el.style.display = "none";
  try {
    const saved = window.localStorage.getItem(KEY);
    if (saved !== null) model.follow = saved === "1";
  } catch (e) { /* storage blocked: the default stays */ }
  let inFrame = true;
  try { inFrame = window.self !== window.top; } catch (e) { inFrame = true; }
  model.full_page = !inFrame;
  model.on("follow", () => {
    try { window.localStorage.setItem(KEY, model.follow ? "1" : "0"); } catch (e) { /* ignore */ }
  });
  let tries = 0;
  const scroll = () => {
    const id = model.scroll_target;
    if (!id) return;
    const target = find(document, `[data-cs-cell="${CSS.escape(id)}"]`);
    if (target) {
      target.scrollIntoView({ block: "center" });
      document.documentElement.dataset.csScrolledTo = id;
    } else if (tries++ < 40) {
      setTimeout(scroll, 100);
    }
  };
  model.on("scroll_request", () => { tries = 0; setTimeout(scroll, 50); });
}
""" % FOLLOW_KEY
