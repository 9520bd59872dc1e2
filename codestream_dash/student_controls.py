"""A real, labelled checkbox for the student dashboard (Bokeh's draws its text beside the input
without a ``<label>``, so a screen reader hears an unnamed checkbox): ``<label><input
type=checkbox> text</label>``, its checked state readable, bound both ways to a parameter."""

from __future__ import annotations

import param
from panel.custom import JSComponent


class LabelledCheckbox(JSComponent):
    value = param.Boolean(default=False)
    label = param.String(default="")

    _stylesheets = ["""
label { display: inline-flex; gap: 8px; align-items: center; font-size: 14px; color: #1f2328; cursor: pointer; }
input { width: 18px; height: 18px; margin: 0; accent-color: #0969da; }
input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
"""]

    _esm = """
export function render({ model, el }) {
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.checked = model.value;
  const text = document.createElement("span");
  text.textContent = model.label;
  label.append(box, text);
  el.append(label);
  box.addEventListener("change", () => { model.value = box.checked; });
  model.on("value", () => { box.checked = model.value; });
  model.on("label", () => { text.textContent = model.label; });
}
"""


def checkbox_for(owner: param.Parameterized, name: str, css_class: str, **layout) -> LabelledCheckbox:
    """A ``LabelledCheckbox`` showing and setting ``owner.<name>`` (a Boolean parameter)."""
    box = LabelledCheckbox(value=getattr(owner, name), label=owner.param[name].label,
                           css_classes=[css_class], **layout)
    box.param.watch(lambda event: setattr(owner, name, event.new), "value")
    owner.param.watch(lambda event: setattr(box, "value", event.new), name)
    return box


class ChoiceGroup(JSComponent):
    """Native radio buttons in a ``<fieldset>`` named by its ``<legend>``: none chosen until the
    person chooses (Bokeh's radio group always checks the first), arrow keys move the choice."""

    value = param.String(default="")
    options = param.List(default=[], doc="[label, value] pairs.")
    legend = param.String(default="")

    _stylesheets = ["""
fieldset { border: 1px solid #d0d7de; border-radius: 4px; padding: 4px 10px; margin: 0; }
legend { font-size: 13px; font-weight: 600; color: #1f2328; }
label { display: inline-flex; gap: 6px; align-items: center; margin: 2px 14px 2px 0; font-size: 14px; color: #1f2328; }
input:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
"""]

    _esm = """
export function render({ model, el }) {
  const set = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = model.legend;
  set.append(legend);
  const name = "cs-choice-" + Math.random().toString(36).slice(2);
  for (const [text, value] of model.options) {
    const label = document.createElement("label");
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = name;
    radio.value = value;
    radio.checked = model.value === value;
    radio.addEventListener("change", () => { if (radio.checked) model.value = value; });
    const words = document.createElement("span");
    words.textContent = text;
    label.append(radio, words);
    set.append(label);
  }
  el.append(set);
  model.on("value", () => {
    for (const radio of set.querySelectorAll("input")) radio.checked = radio.value === model.value;
  });
}
"""
