"""The web API's route table (``jupyter_ext.web``) mounted on the Jupyter server: the teacher
by Jupyter login or token, a student's server by the session's key (``JupyterReadAuth``)."""

from __future__ import annotations

from jupyter_server.auth.decorator import allow_unauthenticated

from ..services.kept_keys import KeptKeys
from ..services.sessions import SessionDesk
from ..web import mount
from ..web.core import ReadRoutes
from .base import CodeStreamHandler
from .read import JupyterReadAuth


class JupyterWebHandler(ReadRoutes, CodeStreamHandler):
    """Every route of the table authenticates by itself (``read_auth``: the teacher's Jupyter
    login or token, or the session's student key), so Jupyter's own authentication layer lets
    the request through to it."""

    read_auth = JupyterReadAuth()

    def check_xsrf_cookie(self):
        # A student's server sends its key as a bearer token and no cookie: without a cookie no
        # browser session can be ridden, so there is no XSRF to check; with one, Jupyter's check.
        if not self.request.headers.get("Cookie"):
            return None
        return super().check_xsrf_cookie()


def web_handlers(*, kept_keys: KeptKeys | None = None, **services) -> list[tuple]:
    """The table over the Jupyter server; the session routes keep this server's keys (``kept_keys``)."""
    desk = SessionDesk(services.get("service"), kept_keys)
    return mount(JupyterWebHandler, wrap=allow_unauthenticated, session_desk=desk, **services)
