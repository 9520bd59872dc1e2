"""The student dashboard's connection part: the join link or the three fields, Save, Test.

A ``param`` class mixed into ``StudentDashboard``: its state is parameters (tests set them and
trigger the Events), its work goes through ``self.client`` as a kept background task.
"""

from __future__ import annotations

import panel as pn
import param

from jupyter_ext.clients import APIError

from .student_model import plain_error
from .student_render import LIGHTS, light_html, message_html


class ConnectionPart(param.Parameterized):
    """Which teacher and session the student's server follows, and how the relay is doing."""

    teacher_url = param.String(default="", label="Teacher's server",
                               doc="Address of the teacher's Jupyter server, e.g. http://10.0.0.5:8888/")
    session_code = param.String(default="", label="Session code", doc="Six characters, as the teacher shows them.")
    student_key = param.String(default="", label="Session key",
                               doc="Sent once to your own Jupyter server on Save, then cleared here.")
    join_link = param.String(default="", label="Join link",
                             doc="The link your teacher shows (or the QR code's); it holds address, code and key.")
    join = param.Event(label="Join")
    saved_teacher_url = param.String(default="", doc="The teacher URL your server holds (what Test tests).")
    saved_session_code = param.String(default="", doc="The session code your server holds.")
    has_key = param.Boolean(default=False, doc="Your server holds a key for this session.")
    configured = param.Boolean(default=False, doc="Your server has a saved teacher configuration.")
    save = param.Event(label="Save")
    test = param.Event(label="Test connection")
    form_message = param.String(default="", doc="What Save or Test connection found.")
    form_ok = param.Boolean(default=None, allow_None=True)

    connection = param.Selector(default="not_configured", objects=list(LIGHTS),
                                doc="State of the event relay: connected / reconnecting / ended / error …")
    connection_message = param.String(default="")

    #: what the light says before anything is configured (the hub variant says "pick a session")
    not_configured_text = plain_error("not_configured")

    def _apply_config(self, config: dict | None) -> None:
        if not config:
            self.param.update(configured=False, has_key=False, connection="not_configured",
                              connection_message=self.not_configured_text)
            return
        url, code = config.get("teacher_url", "") or "", config.get("session_code", "") or ""
        if (url, code) != (self.saved_teacher_url, self.saved_session_code):
            self._reached_teacher = False  # another teacher or session: not reached yet
        self.param.update(teacher_url=url, session_code=code, saved_teacher_url=url, saved_session_code=code,
                          has_key=bool(config.get("has_key")), configured=True)
        self._apply_settings(config)

    def _apply_settings(self, config: dict) -> None:
        """The rest of the student config (name, run-status sharing): the hands part reads it."""

    # -- actions -----------------------------------------------------------------------------
    @param.depends("save", watch=True)
    def _on_save(self):
        self._tasks.spawn(self.save_config(), name="codestream-student-save")

    @param.depends("join", watch=True)
    def _on_join(self):
        self._tasks.spawn(self.join_session(), name="codestream-student-join")

    @param.depends("test", watch=True)
    def _on_test(self):
        self._tasks.spawn(self.test_connection(), name="codestream-student-test")

    async def save_config(self) -> bool:
        """Send URL, code and (if typed) key to the student's own server; the key is then forgotten here."""
        return await self._save(self.client.save_student_config(
            self.teacher_url.strip(), self.session_code.strip(), self.student_key or None))

    async def join_session(self) -> bool:
        """The pasted join link goes to the student's own server, which takes URL, code and key from it."""
        if not self.join_link.strip():
            self.param.update(form_ok=False, form_message="Paste the join link your teacher shows first.")
            return False
        joined = await self._save(self.client.join_with_link(self.join_link.strip()))
        if joined:
            self.join_link = ""  # it holds the key: gone from the page once the server has it
        return joined

    async def _save(self, request) -> bool:
        self.busy = True
        try:
            saved = await request
        except APIError as exc:
            # the message names what was typed and refused; the saved configuration is unchanged
            self.param.update(form_ok=False, form_message=plain_error(
                exc.code, exc.message, url=self.teacher_url, session_code=self.session_code))
            return False
        finally:
            self.busy = False
        previous = (self.configured, self.saved_session_code.upper())
        self.student_key = ""
        self._apply_config(saved)
        self.param.update(form_ok=True, form_message="Saved. Use Test connection to check it.")
        if previous != (True, self.saved_session_code.upper()):
            self._last_event_id = None  # another session: its events start afresh
        self._config_changed.set()
        await self.refresh_cells(resync=True)
        return True

    async def test_connection(self) -> bool:
        self.busy = True
        try:
            result = await self.client.test_connection()
        except APIError as exc:
            self.param.update(form_ok=False, form_message=self._plain(exc.code, exc.message))
            return False
        finally:
            self.busy = False
        if result.get("ok"):
            count = int(result.get("cells", 0))
            self._reached_teacher = True
            self.param.update(form_ok=True, form_message=(
                f"Connected to session {self.saved_session_code} at {self.saved_teacher_url}: {count}"
                f" cell{'s' if count != 1 else ''} published."))
            return True
        error = result.get("error") or {}
        self.param.update(form_ok=False, form_message=self._plain(error.get("code", ""), error.get("message", "")))
        return False

    def _plain(self, code: str, message: str) -> str:
        """Words for an error of the *saved* configuration (what the server tested), not the form."""
        return plain_error(code, message, url=self.saved_teacher_url, session_code=self.saved_session_code)

    # -- views -------------------------------------------------------------------------------
    def _light_view(self):
        return pn.pane.HTML(pn.bind(light_html, self.param.connection, self.param.connection_message),
                            sizing_mode="stretch_width", margin=(5, 10))

    def _connection_form(self):
        """The laptop form: paste the join link, or type address, code and key."""
        key_input = pn.widgets.PasswordInput.from_param(
            self.param.student_key, placeholder="Key from your teacher", sizing_mode="stretch_width")
        form = pn.Card(
            pn.Row(pn.widgets.PasswordInput.from_param(self.param.join_link, sizing_mode="stretch_width",
                                                       placeholder="http://teacher-host:8888/codestream/join/…"),
                   pn.widgets.Button.from_param(self.param.join, color="primary", align="end",
                                                disabled=self.param.busy, css_classes=["cs-join-button"]),
                   sizing_mode="stretch_width"),
            pn.pane.HTML("<div class='cs-or' style='font-size:13px;color:#57606a'>or enter the three parts:</div>",
                         sizing_mode="stretch_width"),
            pn.widgets.TextInput.from_param(self.param.teacher_url, placeholder="http://teacher-host:8888/",
                                            sizing_mode="stretch_width"),
            pn.widgets.TextInput.from_param(self.param.session_code, placeholder="ABC234",
                                            sizing_mode="stretch_width"),
            key_input,
            pn.Row(pn.widgets.Button.from_param(self.param.save, color="primary", disabled=self.param.busy),
                   pn.widgets.Button.from_param(self.param.test, disabled=self.param.busy)),
            pn.pane.HTML(pn.bind(message_html, self.param.form_message, self.param.form_ok),
                         sizing_mode="stretch_width", css_classes=["cs-form-message"]),
            title="Connection", collapsed=self.configured, sizing_mode="stretch_width",
        )

        def on_configured(*events):
            key_input.placeholder = ("A key is saved — leave empty to keep it" if self.has_key
                                     else "Key from your teacher")
            if any(e.name == "configured" and e.new and not e.old for e in events):
                form.collapsed = True

        self.param.watch(on_configured, ["configured", "has_key"])
        return form
