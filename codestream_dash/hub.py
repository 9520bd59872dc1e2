"""The dashboards under JupyterHub: a course-group selector, the session code and the join panel
(link + QR code) for the teacher, no URL or key (students join by hub identity);
a list of joinable sessions (one click joins) and ``?session=CODE`` for the student.

Small subclasses of the laptop dashboards, chosen by the app files when the server runs under a
hub with the codestream service (``CODESTREAM_HUB_SERVICE_URL`` in its environment). They stay
clients of their own server: ``codestream/api/hub/me``, ``codestream/api/student/sessions`` and
``PUT codestream/api/student/config {"session_code"}`` there.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from html import escape

import panel as pn
import param

from jupyter_ext.clients import APIError, ServerClient

from .common import SERVER_URL_ENV, TOKEN_ENV, client_from_environment
from .student import StudentDashboard
from .teacher import TeacherDashboard
from .teacher_render import html_pane

HUB_SERVICE_URL_ENV = "CODESTREAM_HUB_SERVICE_URL"  # jupyter_ext.hub.config sets it on the spawner
ANYONE = "Anyone on the hub who has the code"
def under_hub(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return bool(environ.get(HUB_SERVICE_URL_ENV))


def session_arg() -> str | None:
    """The ``?session=CODE`` of this browser session's page (a hub join link), if any."""
    values = (pn.state.session_args or {}).get("session") if pn.state.curdoc else None
    if not values:
        return None
    raw = values[0]
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)).strip().upper() or None


class GroupedServerClient(ServerClient):
    """The teacher's own server, with the course group of the next session."""

    group: str = ""

    async def create_session(self, title: str = "", notebook_path: str | None = None) -> dict:
        body = {"title": title, **({"notebook_path": notebook_path} if notebook_path else {}),
                **({"group": self.group} if self.group else {})}
        return await self.request("POST", "codestream/api/sessions", json_body=body)

    async def hub_me(self) -> dict:
        return await self.request("GET", "codestream/api/hub/me")


class HubTeacherDashboard(TeacherDashboard):
    """The teacher dashboard plus "which course group may follow" (the teacher's own hub groups);
    its session card shows the code, the join link and its QR code, never a URL or key to type
    (students join by hub identity), and no advice about the server's reachability."""

    group = param.Selector(default="", objects={ANYONE: ""}, label="Course group",
                           doc="Only members of this hub group (and you) can follow the session.")
    hub_user = param.String(default="")

    @classmethod
    def from_environment(cls, **params) -> HubTeacherDashboard:
        if not os.environ.get(SERVER_URL_ENV):
            client_from_environment()  # raises the RuntimeError that says how to open the dashboard
        return cls(GroupedServerClient(os.environ[SERVER_URL_ENV], os.environ.get(TOKEN_ENV) or None), **params)

    async def _load_groups(self) -> None:
        try:
            me = await self.client.hub_me()
        except APIError as exc:
            self.hub_user = ""
            self._report(exc, "ask the hub which groups you are in")
            return
        options = {ANYONE: ""}
        options.update({name: name for name in me.get("groups", []) if name})
        self.param.group.objects = options
        self.hub_user = me.get("name", "")

    @param.depends("group", watch=True)
    def _on_group(self):
        self.client.group = self.group or ""

    def resumed(self, session) -> None:
        """A resumed session shows the group it is limited to (the hub's sessions list carries it)."""
        group = session.get("group") or ""
        if group and group not in self.param.group.objects.values():
            self.param.group.objects = {**self.param.group.objects, group: group}
        self.group = group

    async def load(self) -> None:
        """The groups first, so that a resumed session's group is one of them."""
        await self._load_groups()
        await super().load()

    def _header(self):
        """The title, then the course group picker under it (locked while a session runs)."""
        selector = pn.widgets.Select.from_param(self.param.group, name="Course group (JupyterHub)", width=300,
                                                disabled=self.param.session_code.rx.bool())
        return pn.Column(super()._header(), selector, sizing_mode="stretch_width")

    def _reachability(self):
        """Students reach the hub, not this server: no advice about its address."""
        return pn.Spacer(height=0, visible=False)

    def _join_card(self):
        """The join link and its QR code; no student URL, no key, no rotate (students join by hub
        identity: the link carries no key)."""
        return pn.Column(
            html_pane("<h2 class='cs-side-title'>Students join</h2>"),
            self._join,
            visible=pn.bind(bool, self.param.session_code), sizing_mode="stretch_width",
            css_classes=["cs-join-card", "cs-hub-session"],
        )


class HubStudentDashboard(StudentDashboard):
    """The student dashboard with the hub's list of sessions this user may join instead of the
    laptop form (nobody types an address or key under the hub); the hub user is the name."""

    needs_name = False
    not_configured_text = "Pick one of the sessions you can join above."

    joinable = param.List(default=[], item_type=dict,
                          doc="Live sessions of the student's course groups (code, title, teacher, group).")
    join_message = param.String(default="")

    def __init__(self, client: ServerClient, *, initial_session: str | None = None, **params):
        super().__init__(client, **params)
        self.initial_session = initial_session

    @classmethod
    def from_environment(cls, **params) -> HubStudentDashboard:
        return cls(client_from_environment(), initial_session=session_arg(), **params)

    async def start(self) -> None:
        await self.refresh_joinable()
        if self.initial_session:
            current = await self.client.student_config()
            if not current or current.get("session_code") != self.initial_session:
                await self.join(self.initial_session)
        await super().start()

    async def refresh_joinable(self) -> None:
        try:
            listing = await self.client.request("GET", "codestream/api/student/sessions")
        except APIError as exc:
            self.join_message = exc.message
            return
        self.joinable = list(listing.get("sessions", []))

    async def join(self, code: str) -> bool:
        """Follow ``code`` by hub identity: no teacher address, no key."""
        try:
            saved = await self.client.request("PUT", "codestream/api/student/config",
                                              json_body={"session_code": code})
        except APIError as exc:
            self.join_message = exc.message
            return False
        self._apply_config(saved)
        self._last_event_id = None
        self.join_message = f"Following session {saved.get('session_code')}."
        self._config_changed.set()
        await self.refresh_cells(resync=True)
        return True

    def _join_buttons(self, joinable, session_code):
        if not joinable:
            return pn.pane.Markdown("No session of your course groups is live right now.")
        rows = []
        for session in joinable:
            code = session["code"]
            label = f"{session.get('title') or code} — {session.get('teacher', '')} ({code})"
            button = pn.widgets.Button(name=("Following: " if code == session_code else "Join ") + label,
                                       button_type="success" if code == session_code else "primary",
                                       disabled=code == session_code)
            button.on_click(lambda _event, code=code: self._tasks.spawn(self.join(code), name="codestream-join"))
            rows.append(button)
        return pn.Column(*rows)

    def __panel__(self):
        listing = pn.Column(
            pn.pane.HTML("<h3>Sessions you can join</h3>"),
            pn.bind(self._join_buttons, self.param.joinable, self.param.session_code),
            pn.bind(lambda text: pn.pane.HTML(f"<p>{escape(text)}</p>") if text else None,
                    self.param.join_message),
        )
        return pn.Column(listing, super().__panel__())

    def _connection_form(self):
        """No laptop form under the hub: the sessions listed above are joined by identity."""
        return pn.Spacer(height=0, visible=False)

    @param.depends("refresh", watch=True)
    def _on_refresh_list(self):
        self._tasks.spawn(self.refresh_joinable(), name="codestream-joinable")


def student_dashboard_class():
    return HubStudentDashboard if under_hub() else StudentDashboard


def teacher_dashboard_class():
    return HubTeacherDashboard if under_hub() else TeacherDashboard
