"""The student dashboard's pull part: which notebook, where, with or without the teacher's
output (a choice per pull), "Pull all" to catch up, and "Download the lesson" to take home.

A ``param`` class mixed into ``StudentDashboard``. A new notebook is on offer at once (a join
link opened full-page has no notebook yet): it is created through the contents API on the
first pull into it.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

import nbformat
import panel as pn
import param

from jupyter_ext.clients import APIError

from .common import cell_source
from .student_controls import checkbox_for
from .student_feed import FeedPart
from .student_model import END, END_LABEL, notebook_options, position_options, pull_summary, pulled_copies, snippet
from .student_render import message_html

NEW_NOTEBOOK = "new:"  # target_notebook value prefix: a notebook to create on the first pull
# relative to the dashboard's page ({base}codestream-student/): the student's own server
DOWNLOAD_HREF = "../codestream/api/student/notebook"
LAB_HREF = "../lab/tree/"


def count_of(value) -> int:
    """``added`` / ``skipped`` of a pull-all answer: a count or the list of cells."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value
    return len(value) if isinstance(value, (list, tuple)) else 0


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class PullPart(FeedPart):
    """Where pulls go and the actions that put the teacher's cells into the student's notebook."""

    target_notebook = param.Selector(default=None, objects=[], allow_None=True, label="Pull into",
                                     doc="Notebooks open in JupyterLab first, then the others, then a new one.")
    position = param.Selector(default=END, objects={END_LABEL: END}, label="Where")
    with_outputs = param.Boolean(default=False, label="Also insert the teacher's output",
                                 doc="For this pull only: the cell with the outputs the teacher published.")
    pull = param.Event(label="Pull this cell")
    pull_all = param.Event(label="Pull all")
    refresh = param.Event(label="Refresh")
    pull_message = param.String(default="")
    pull_ok = param.Boolean(default=None, allow_None=True)
    busy = param.Boolean(default=False, doc="A save, test or pull is under way.")
    notebook_cells = param.List(default=[], doc="(index, label) of every cell of the target notebook.")
    full_page = param.Boolean(default=False, doc="The page is open on its own, not in a JupyterLab tab.")

    @param.depends("pull", watch=True)
    def _on_pull(self):
        self._tasks.spawn(self.pull_selected(), name="codestream-student-pull")

    @param.depends("pull_all", watch=True)
    def _on_pull_all(self):
        self._tasks.spawn(self.pull_everything(), name="codestream-student-pull-all")

    @param.depends("refresh", watch=True)
    def _on_refresh(self):
        self._tasks.spawn(self.refresh_all(), name="codestream-student-refresh")

    @param.depends("target_notebook", watch=True)
    def _on_target(self):
        self._tasks.spawn(self.refresh_target(), name="codestream-student-target")

    async def refresh_all(self) -> None:
        await self.refresh_notebooks()
        if self.configured:
            await self.refresh_cells()
        await self.refresh_target()

    def new_notebook_name(self, taken) -> str:
        stem = f"codestream-{(self.saved_session_code or 'lesson').lower()}"
        name, n = f"{stem}.ipynb", 2
        while name in taken:
            name, n = f"{stem}-{n}.ipynb", n + 1
        return name

    async def refresh_notebooks(self) -> None:
        try:
            open_paths = await self.client.open_notebook_paths()
        except APIError:
            open_paths = []
        try:
            all_paths = await self.client.list_notebooks()
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Could not list your notebooks: {exc.message}")
            return
        options = notebook_options(open_paths, all_paths)
        new_name = self.new_notebook_name(set(all_paths))
        options[f"A new notebook ({new_name})"] = NEW_NOTEBOOK + new_name
        current = self.target_notebook
        self.param.target_notebook.objects = options
        offer_new = self.full_page and not open_paths  # a join link opened on its own: nothing open
        # the dashboard's own earlier choice may change (the browser echoing it back is no choice)
        if current in options.values() and not (offer_new and current == self._auto_target):
            return
        choice = next(iter(options.values())) if open_paths else options[f"A new notebook ({new_name})"]
        if all_paths and not offer_new and not open_paths:
            choice = all_paths[0]
        self._choose_target(choice)

    def _choose_target(self, path: str | None) -> None:
        """The dashboard's own choice of notebook (a later full-page open may still change it)."""
        self._auto_target = path
        self.target_notebook = path

    async def refresh_target(self) -> None:
        """Read the target notebook through the contents API: pulled copies and the positions."""
        self._apply_target(*await self._read_target())

    async def _read_target(self) -> tuple[str | None, dict | None]:
        """``(path, notebook content)``; content None when there is no notebook or it failed."""
        path = self.target_notebook
        if not path or path.startswith(NEW_NOTEBOOK):
            return path, {} if path else None
        try:
            model = await self.client.get_notebook(path)
        except APIError as exc:
            if path == self.target_notebook:
                self.param.update(copies={}, pull_ok=False, pull_message=f"Could not read {path}: {exc.message}")
            return path, None
        return path, model.get("content") or {}

    def _apply_target(self, path: str | None, content: dict | None) -> None:
        if path != self.target_notebook:  # the student chose another notebook meanwhile
            return
        if path is None:
            self.param.update(copies={}, notebook_cells=[])
            self._set_positions(None)
            return
        if content is None:
            return
        self._set_positions(content)
        cells = [(i, f"Cell {i + 1}: {snippet(cell_source(c), 40)}") for i, c in enumerate(content.get("cells") or [])]
        if cells != self.notebook_cells:
            self.notebook_cells = cells
        copies = pulled_copies(content, self.session_code)
        if copies != self.copies:  # param cannot compare PulledCopy: an equal value would redraw the feed
            self.copies = copies

    def _set_positions(self, content: dict | None) -> None:
        options = position_options(content)
        current = self.position
        self.param.position.objects = options
        self.position = current if current in options.values() else END

    async def _notebook_path(self) -> str | None:
        """The chosen notebook's path, creating the offered new notebook first."""
        path = self.target_notebook
        if not path or not path.startswith(NEW_NOTEBOOK):
            return path
        real = path[len(NEW_NOTEBOOK):]
        try:
            await self.client.save_notebook(real, nbformat.v4.new_notebook())
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Could not create {real}: {exc.message}")
            return None
        await self.refresh_notebooks()
        self.param.update(target_notebook=real)
        return real

    async def pull_selected(self) -> dict | None:
        """Pull the previewed cell into the chosen notebook at the chosen position (never overwrites)."""
        cell = self.selected_cell
        if cell is None or not self.target_notebook:
            self.param.update(pull_ok=False, pull_message="Choose a cell in the feed and a notebook first.")
            return None
        with_outputs = self.with_outputs and bool(cell.get("outputs"))
        self.busy = True
        try:
            path = await self._notebook_path()
            if path is None:
                return None
            result = await self.client.pull(cell["cell_id"], path, self.position or END, with_outputs=with_outputs)
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Pull failed: {self._plain(exc.code, exc.message)}")
            return None
        finally:
            self.busy = False
            self.with_outputs = False  # a choice for one pull: the next update comes without unasked output
        self._pulled_here[(path, cell["cell_id"])] = int(result.get("version", cell.get("version", 1)))
        message = pull_summary(cell, result)
        self.param.update(pull_ok=True, pull_message=message)
        self._toast("success", message)
        await self._reread_after_pull()
        return result

    async def pull_everything(self) -> dict | None:
        """Catch up: every published cell the notebook lacks at its current version, in order."""
        if not self.configured or not self.target_notebook:
            self.param.update(pull_ok=False, pull_message="Join a session and choose a notebook first.")
            return None
        self.busy = True
        try:
            path = await self._notebook_path()
            if path is None:
                return None
            result = await self.client.pull_all(path)
        except APIError as exc:
            self.param.update(pull_ok=False, pull_message=f"Pull all failed: {self._plain(exc.code, exc.message)}")
            return None
        finally:
            self.busy = False
        added, skipped = count_of(result.get("added")), count_of(result.get("skipped"))
        message = (f"Pulled all into {result.get('notebook_path', path)}: added {plural(added, 'cell')},"
                   f" skipped {skipped} you already have.")
        if added and result.get("live"):
            message += " They are in the open notebook now."
        self.param.update(pull_ok=True, pull_message=message)
        self._toast("success", message)
        for cell in self.cells:
            if added:
                self._pulled_here.setdefault((path, cell["cell_id"]), int(cell.get("version", 1)))
        await self._reread_after_pull()
        return result

    async def _reread_after_pull(self) -> None:
        before = self.copies
        await self.refresh_target()
        if self.copies is before:
            # a live pull reaches the file only when the collaboration room saves it: redraw the badges now
            self.param.trigger("copies")

    def _selected_has_outputs(self, *_deps) -> bool:
        cell = self.selected_cell
        return bool(cell and cell.get("outputs"))

    # -- views -------------------------------------------------------------------------------
    def _pull_box(self):
        outputs = checkbox_for(self, "with_outputs", "cs-with-outputs", margin=(5, 10), visible=pn.bind(
            self._selected_has_outputs, self.param.selected_cell_id, self.param.cells))
        pull_button = pn.widgets.Button.from_param(
            self.param.pull, color="success", disabled=self.param.busy,
            label=pn.bind(lambda *_: "Pull as a new cell" if self.merge_offered() else "Pull this cell",
                          self.param.selected_cell_id, self.param.copies, self.param.base_sources))
        return pn.Column(
            pn.Row(pull_button, self._merge_button(), sizing_mode="stretch_width"),
            outputs,
            visible=self.param.selected_cell_id.rx.is_not(None), sizing_mode="stretch_width",
        )

    def _target_box(self):
        """Notebook and place for pulls, catch-up and take-home: shown as soon as a session is joined."""
        return pn.Column(
            pn.widgets.Select.from_param(self.param.target_notebook, sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.param.position, sizing_mode="stretch_width"),
            pn.Row(pn.widgets.Button.from_param(self.param.pull_all, disabled=self.param.busy,
                                                css_classes=["cs-pull-all"]),
                   pn.widgets.Button.from_param(self.param.refresh),
                   pn.pane.HTML(f"<a class='cs-download' href='{DOWNLOAD_HREF}' download"
                                " style='display:inline-block;margin-top:8px;font-size:14px;color:#0969da'>"
                                "Download the lesson (.ipynb)</a>", align="center"),
                   sizing_mode="stretch_width"),
            pn.pane.HTML(pn.bind(self._lab_link_html, self.param.full_page, self.param.target_notebook),
                         sizing_mode="stretch_width"),
            pn.pane.HTML(pn.bind(message_html, self.param.pull_message, self.param.pull_ok),
                         sizing_mode="stretch_width", css_classes=["cs-pull-message"]),
            visible=self.param.configured, sizing_mode="stretch_width",
        )

    @staticmethod
    def _lab_link_html(full_page: bool, target: str | None) -> str:
        """Opened full-page (from a join link): one click to the notebook in JupyterLab."""
        if not full_page:
            return ""
        path = target[len(NEW_NOTEBOOK):] if target and target.startswith(NEW_NOTEBOOK) else (target or "")
        href = LAB_HREF + quote(path) if path and not (target or "").startswith(NEW_NOTEBOOK) else LAB_HREF
        return (f"<p class='cs-lab-link' style='font-size:14px'><a href='{escape(href)}' target='_blank'"
                f" rel='noopener' style='color:#0969da'>Open JupyterLab{' with ' + escape(path) if path else ''}</a>"
                " — then open <b>Code Stream — Student</b> from the launcher and drag its tab beside the"
                " notebook.</p>")
