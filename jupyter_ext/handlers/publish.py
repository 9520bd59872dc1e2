"""What publish on save could not send, and its retry: teacher routes of the teacher's own
server (Jupyter-authenticated, also under JupyterHub, where the saves happen here too).

- ``GET codestream/api/publish/failures[?session=CODE]`` → ``200 {"failures": [...]}``
- ``POST codestream/api/publish/retry`` ``{"session"?: CODE}`` → ``200 {"republished": n, "failures": [...]}``
"""

from __future__ import annotations

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..domain import InvalidInput, normalize_session_code
from .base import CodeStreamHandler
from .explicit_save import explicit_save_handlers

FAILURES_ROUTE = r"codestream/api/publish/failures/?"
RETRY_ROUTE = r"codestream/api/publish/retry/?"


class PublishHandlerBase(CodeStreamHandler):
    autopublish = None  # the app's PublishOnSave (None when publish_on_save is off)

    def session_filter(self, raw) -> str | None:
        if raw is None or raw == "":
            return None
        if not isinstance(raw, str):
            raise InvalidInput("'session' must be a session code.")
        return normalize_session_code(raw)

    def failures(self, session: str | None) -> list[dict]:
        return self.autopublish.failures.of(session) if self.autopublish is not None else []


class PublishFailuresHandler(PublishHandlerBase):
    @web.authenticated
    @authorized
    async def get(self):
        session = self.session_filter(self.get_query_argument("session", None))
        self.write_json({"failures": self.failures(session)})


class PublishRetryHandler(PublishHandlerBase):
    @web.authenticated
    @authorized
    async def post(self):
        session = self.session_filter(self.json_body().get("session"))
        republished = await self.autopublish.retry(session) if self.autopublish is not None else 0
        self.write_json({"republished": republished, "failures": self.failures(session)})


def publish_handlers(**services) -> list[tuple]:
    """Publish on save: the teacher's explicit saves, what they could not send, its retry."""
    return [*explicit_save_handlers(**services),
            (FAILURES_ROUTE, PublishFailuresHandler, services), (RETRY_ROUTE, PublishRetryHandler, services)]
