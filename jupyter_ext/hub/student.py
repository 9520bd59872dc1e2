"""A student's server under the hub: joining by hub identity, no URL and no key (service layer).

The config it saves names the hub service as the "teacher" and holds no key: reads then carry
this server's hub token, which is never written to the config file and only ever sent to the
hub service's own URL.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..domain import InvalidInput, normalize_session_code
from ..domain.urls import normalize_teacher_url
from ..services.student_config import StudentConfig
from .client import HubLink, HubServiceClient

STUDENT_DASHBOARD_PATH = "/user-redirect/codestream-student/"


def code_from_join_link(link: object) -> str:
    """The session code of a hub join link (``…/hub/user-redirect/codestream-student/?session=CODE``)."""
    if not isinstance(link, str) or STUDENT_DASHBOARD_PATH not in link:
        raise InvalidInput("'join_link' must be a Code Stream join link from your teacher.")
    codes = parse_qs(urlsplit(link).query).get("session") or [None]
    return normalize_session_code(codes[0])


class HubMembership:
    def __init__(self, link: HubLink, client: HubServiceClient):
        self.link = link
        self.client = client
        self.service_url = normalize_teacher_url(link.service_url)

    def wants_hub_join(self, body: dict) -> bool:
        """A body without a teacher URL joins by hub identity."""
        return not body.get("teacher_url") and ("session_code" in body or "join_link" in body)

    async def join(self, body: dict) -> StudentConfig:
        """Check with the service that this user may read the session; the config to keep."""
        if body.get("join_link") is not None:
            code = code_from_join_link(body["join_link"])
        else:
            code = normalize_session_code(body.get("session_code"))
        await self.client.call("GET", f"codestream/api/sessions/{code}/cells")  # 403 / 404 raise as such
        return StudentConfig(teacher_url=self.service_url, session_code=code, student_key=None)

    def key_for(self, config: StudentConfig) -> str | None:
        """The hub token, for the hub service's own URL only."""
        return self.link.token if config.teacher_url == self.service_url else None
