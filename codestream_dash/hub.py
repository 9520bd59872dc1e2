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
import segno

from jupyter_ext.clients import APIError, ServerClient

from .common import SERVER_URL_ENV, TOKEN_ENV, client_from_environment
from .student import StudentDashboard
from .teacher import TeacherDashboard
from .clipboard import copy_button
from .teacher_render import TEACHER_CSS, html_pane

HUB_SERVICE_URL_ENV = "CODESTREAM_HUB_SERVICE_URL"  # jupyter_ext.hub.config sets it on the spawner
ANYONE = "Anyone on the hub who has the code"
QR_MIN_PIXELS = 420  # the QR code's side: scannable from the back of a classroom on a projector
QR_BORDER = 4  # modules of quiet zone, as the QR standard asks
HUB_CSS = """
.cs-join-label { font-size: 22px; margin-bottom: 6px; }
.cs-join-link { font-size: 18px; overflow-wrap: anywhere; color: var(--cs-muted, #555); }
.cs-qr-box { background: #fff; display: inline-block; margin-top: 10px; }
.cs-qr-box svg { display: block; max-width: 100%; height: auto; }
"""


def join_qr_svg(link: str) -> str:
    """The join link as an inline SVG QR code at least ``QR_MIN_PIXELS`` wide ("" without a link),
    with a viewBox of that same size, so it scales down to fit."""
    if not link:
        return ""
    qr = segno.make(link, error="m")
    side, _ = qr.symbol_size(scale=1, border=QR_BORDER)
    scale = max(4, -(-QR_MIN_PIXELS // side))
    svg = qr.svg_inline(scale=scale, border=QR_BORDER, dark="#000", light="#fff", svgclass="cs-qr",
                        title="QR code of the join link")
    # a viewBox of the drawing's own (scaled) size: CSS may then shrink it to a narrow column
    # and all of it stays in view
    width, height = qr.symbol_size(scale=scale, border=QR_BORDER)
    return svg.replace("<svg ", f'<svg viewBox="0 0 {width} {height}" ', 1)


def join_html(code: str, link: str) -> str:
    """Where students go (they join by hub identity: nothing to type), and the link to post."""
    if not code or not link:
        return ""
    return (f"<div class='cs-label cs-join-label'>Students: scan the QR code, or pick session"
            f" {escape(code)} in Code Stream — Student. Nothing to type.</div>"
            f"<div class='cs-join-link'>{escape(link)}</div>")


def qr_html(link: str) -> str:
    """The projector-sized QR code of the join link, with its white quiet zone."""
    return f"<div class='cs-qr-box'>{join_qr_svg(link)}</div>" if link else ""


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
        identity). Its own QR rather than the laptop's JoinPanel: under the hub the link carries
        no key."""
        return pn.Column(
            html_pane("<h2 class='cs-side-title'>Students join</h2>"),
            pn.pane.HTML(pn.bind(join_html, self.param.session_code, self.param.join_link),
                         stylesheets=[TEACHER_CSS, HUB_CSS], sizing_mode="stretch_width",
                         css_classes=["cs-hub-join"]),
            pn.bind(copy_button, self.param.join_link, "join link"),
            pn.pane.HTML(pn.bind(qr_html, self.param.join_link), stylesheets=[TEACHER_CSS, HUB_CSS],
                         css_classes=["cs-qr-pane"]),
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
