"""The student dashboard's merge part: "Merge into my copy" for a teacher's update of a cell
the student has changed since pulling it.

A three-way view (what I pulled, what I have, what the teacher has now) with the result; a
clean merge applies in one click; each conflict is resolved with a radio group (arrow keys)
as mine / the teacher's / both / edited by hand; "Undo merge" puts the student's text back.
The merge is the server's (``POST codestream/api/student/merge``), and so is the undo
(``POST codestream/api/student/merge/undo``: the copy's ``codestream.before_merge``, live when
the notebook is open).
"""

from __future__ import annotations

from html import escape

import panel as pn
import param

from jupyter_ext.clients import APIError

from .common import with_focus_ring
from .student_controls import ChoiceGroup
from .student_merge_model import CHOICES, EDITED, both_sides, conflicts_of, resolve
from .student_pull import PullPart
from .student_render import code_html, message_html


class MergePart(PullPart):
    """State of one merge at a time, for the cell on show."""

    merge = param.Event(label="Merge into my copy")
    apply_merge = param.Event(label="Apply the merge")
    cancel_merge = param.Event(label="Cancel")
    undo_merge = param.Event(label="Undo merge")
    merge_result = param.Dict(default=None, allow_None=True, doc="The server's dry run (apply: false).")
    merge_texts = param.Dict(default={}, doc="base / mine / theirs sources of the merge on show.")
    merge_choices = param.List(default=[], doc="Per conflict: mine, theirs, both, edited (or '' undecided).")
    merge_edits = param.List(default=[], doc="Per conflict: the text edited by hand.")
    merge_message = param.String(default="")
    merge_ok = param.Boolean(default=None, allow_None=True)
    last_merge = param.Dict(default=None, allow_None=True, doc="What Undo merge restores.")

    @param.depends("merge", watch=True)
    def _on_merge(self):
        self._tasks.spawn(self.start_merge(), name="codestream-student-merge")

    @param.depends("apply_merge", watch=True)
    def _on_apply_merge(self):
        self._tasks.spawn(self.apply_current_merge(), name="codestream-student-merge-apply")

    @param.depends("cancel_merge", watch=True)
    def _on_cancel_merge(self):
        self.clear_merge()

    @param.depends("undo_merge", watch=True)
    def _on_undo_merge(self):
        self._tasks.spawn(self.undo_last_merge(), name="codestream-student-merge-undo")

    def clear_merge(self) -> None:
        self.param.update(merge_result=None, merge_texts={}, merge_choices=[], merge_edits=[],
                          merge_message="", merge_ok=None)

    def merged_text(self) -> str | None:
        """The result as it stands: the clean merge, or the conflicts resolved as chosen so far."""
        return resolve(self.merge_result, self.merge_choices, self.merge_edits)

    def choose(self, index: int, choice: str, edit: str | None = None) -> None:
        """Resolve conflict ``index`` (what its radio group and text box do)."""
        choices, edits = list(self.merge_choices), list(self.merge_edits)
        choices[index] = choice
        if edit is not None:
            edits[index] = edit
        self.param.update(merge_choices=choices, merge_edits=edits)

    async def start_merge(self) -> dict | None:
        """The dry run: the server merges base, mine and theirs and says whether it is clean."""
        cell, copy, path = self.selected_cell, self.selected_copy(), self.target_notebook
        if cell is None or copy is None or not path:
            self.param.update(merge_ok=False, merge_message="Choose a cell you pulled and its notebook first.")
            return None
        self.busy = True
        try:
            result = await self.client.merge(path, cell["cell_id"])
            base = result.get("base") if isinstance(result.get("base"), str) else self.base_of_selected()
            if base is None:
                base = str((await self.client.student_cell(cell["cell_id"], int(result["base_version"])))
                           .get("source", ""))
        except (APIError, KeyError, TypeError, ValueError) as exc:
            message = self._plain(exc.code, exc.message) if isinstance(exc, APIError) else "an unexpected answer"
            self.param.update(merge_ok=False, merge_message=f"Merge failed: {message}")
            return None
        finally:
            self.busy = False
        texts = {"base": base, "mine": str(result.get("mine", copy.source)),
                 "theirs": str(result.get("theirs", cell.get("source", ""))),
                 "cell_id": cell["cell_id"], "path": path, "base_version": int(result.get("base_version", 0)),
                 "version": int(result.get("version", cell.get("version", 1)))}
        found = [] if result.get("clean") else conflicts_of(result)
        self.param.update(merge_result=result, merge_texts=texts, merge_choices=[""] * len(found),
                          merge_edits=[both_sides(c) for c in found], merge_ok=None, merge_message=(
                              f"{len(found)} conflict{'s' if len(found) != 1 else ''}: you and the teacher changed"
                              " the same lines. Choose for each, then apply." if found else
                              "No conflicts: your changes and the teacher's fit together. Apply the merge to"
                              " update your copy."))
        return result

    async def apply_current_merge(self) -> dict | None:
        result, texts = self.merge_result, self.merge_texts
        if result is None:
            return None
        merged = self.merged_text()
        if merged is None:
            self.param.update(merge_ok=False, merge_message="Choose how to resolve every conflict first.")
            return None
        self.busy = True
        try:
            answer = await self.client.merge(texts["path"], texts["cell_id"], apply=True,
                                             resolution=None if result.get("clean") else merged)
        except APIError as exc:
            self.param.update(merge_ok=False, merge_message=f"Merge failed: {self._plain(exc.code, exc.message)}")
            return None
        finally:
            self.busy = False
        self.clear_merge()
        self.param.update(last_merge={**texts, "before": texts["mine"]}, merge_ok=True, merge_message=(
            f"Merged the teacher's v{answer.get('version', texts['version'])} into your copy. Your text"
            " before the merge is kept: Undo merge puts it back."))
        self._toast("success", "Merged the teacher's update into your copy.")
        self._pulled_here[(texts["path"], texts["cell_id"])] = int(answer.get("version", texts["version"]))
        await self._reread_after_pull()
        return answer

    async def undo_last_merge(self) -> bool:
        """Put the student's pre-merge text back into the copy (the server's undo route)."""
        last = self.last_merge
        if not last:
            return False
        self.busy = True
        try:
            await self.client.undo_merge(last["path"], last["cell_id"], last.get("base_version") or None)
        except APIError as exc:
            self.param.update(merge_ok=False, merge_message=f"Undo failed: {self._plain(exc.code, exc.message)}")
            return False
        finally:
            self.busy = False
        self.param.update(last_merge=None, merge_ok=True, merge_message="Your copy is back as it was before the merge.")
        self._pulled_here.pop((last["path"], last["cell_id"]), None)
        await self._reread_after_pull()
        return True

    # -- views -------------------------------------------------------------------------------
    def _merge_button(self):
        return pn.widgets.Button.from_param(
            self.param.merge, color="primary", disabled=self.param.busy, css_classes=["cs-merge-button"],
            visible=pn.bind(lambda *_: self.merge_offered() and self.merge_result is None, self.param.selected_cell_id,
                            self.param.copies, self.param.base_sources, self.param.cells, self.param.merge_result))

    @param.depends("merge_result", "merge_message", "merge_ok", "last_merge")
    def _merge_view(self):
        parts = []
        if self.merge_message:
            parts.append(pn.pane.HTML(message_html(self.merge_message, self.merge_ok), sizing_mode="stretch_width",
                                      css_classes=["cs-merge-message"]))
        if self.last_merge and self.merge_result is None:
            parts.append(pn.widgets.Button.from_param(self.param.undo_merge, css_classes=["cs-undo-merge"]))
        result = self.merge_result
        if result is not None:
            texts = self.merge_texts
            parts.append(pn.Row(*(pn.Column(pn.pane.HTML(f"<h4 style='margin:2px 0;font-size:13px'>{escape(title)}</h4>"
                                                         + code_html(texts.get(key, "")), sizing_mode="stretch_width"),
                                            sizing_mode="stretch_width", min_width=120)
                                  for title, key in (("What you pulled", "base"), ("What you have", "mine"),
                                                     ("What the teacher has now", "theirs"))),
                                sizing_mode="stretch_width", css_classes=["cs-merge-three"]))
            found = [] if result.get("clean") else conflicts_of(result)
            for index, conflict in enumerate(found[:len(self.merge_choices)]):
                parts.append(self._conflict_view(index, conflict))
            parts.append(pn.pane.HTML(pn.bind(self._result_html, self.param.merge_choices, self.param.merge_edits),
                                      sizing_mode="stretch_width", css_classes=["cs-merge-result"]))
            parts.append(pn.Row(pn.widgets.Button.from_param(self.param.apply_merge, color="success",
                                                             disabled=self.param.busy, css_classes=["cs-apply-merge"]),
                                pn.widgets.Button.from_param(self.param.cancel_merge)))
        return with_focus_ring(pn.Column(*parts, sizing_mode="stretch_width", css_classes=["cs-merge"]))

    def _result_html(self, *_deps) -> str:
        merged = self.merged_text()
        if merged is None:
            return "<div style='font-size:13px'><b>Result:</b> choose for every conflict to see it.</div>"
        return "<div style='font-size:13px'><b>Result:</b></div>" + code_html(merged)

    def _conflict_view(self, index: int, conflict):
        number = index + 1
        side_by_side = pn.Row(
            pn.pane.HTML(f"<h4 style='margin:2px 0;font-size:13px'>Conflict {number}: yours</h4>"
                         + code_html(str(conflict.get("mine", ""))), sizing_mode="stretch_width"),
            pn.pane.HTML("<h4 style='margin:2px 0;font-size:13px'>the teacher's</h4>"
                         + code_html(str(conflict.get("theirs", ""))), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")
        current = self.merge_choices[index]
        radio = ChoiceGroup(legend=f"Resolve conflict {number}", value=current,
                            options=[[label, value] for label, value in CHOICES.items()], css_classes=["cs-conflict-choice"], sizing_mode="stretch_width")
        editor = pn.widgets.TextAreaInput(name=f"Conflict {number} edited by hand", value=self.merge_edits[index],
                                          visible=current == EDITED, sizing_mode="stretch_width", height=120)

        def on_choice(event):
            editor.visible = event.new == EDITED
            self.choose(index, event.new)

        radio.param.watch(on_choice, "value")
        editor.param.watch(lambda event: self.choose(index, EDITED, event.new), "value_input")
        return pn.Column(side_by_side, radio, editor, sizing_mode="stretch_width", css_classes=["cs-conflict"])

