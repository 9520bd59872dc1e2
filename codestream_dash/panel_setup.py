"""``panel serve --setup`` script of the dashboards: no credential in their log lines or pages.

The dashboard's output ends up in the Jupyter server's log, and someone may open the proxied
dashboard with ``?token=...`` in its URL (jupyter-server-proxy forwards the query string as it
came): tornado would log that URL as it came, and Bokeh would put every query argument into the
session token it writes into the page (``arguments`` of its payload; Bokeh has options to keep
headers and cookies out of it, none for arguments). Jupyter has checked the token before the
request got here, and the dashboards read nothing from their URL but ``?session=``, so the
credential arguments are dropped from each page request before Bokeh sees it.
"""

import logging
import re

CREDENTIAL_ARGUMENTS = ("token", "key", "student_key", "_xsrf")
CREDENTIAL_IN_URL = re.compile(r"((?:^|[?&;\s])(?:token|key|student_key|_xsrf)=)[^&\s]+", re.IGNORECASE)


def drop_credential_arguments(request) -> None:
    """Remove the credential query arguments from a tornado request (its ``arguments``,
    ``query_arguments`` and the ``query``/``uri`` strings)."""
    for mapping in (request.arguments, request.query_arguments):
        for name in [n for n in mapping if n.lower() in CREDENTIAL_ARGUMENTS]:
            del mapping[name]
    if request.query:
        from urllib.parse import parse_qsl, urlencode

        kept = [(k, v) for k, v in parse_qsl(request.query, keep_blank_values=True)
                if k.lower() not in CREDENTIAL_ARGUMENTS]
        request.query = urlencode(kept)
        request.uri = request.path + (f"?{request.query}" if request.query else "")


def keep_credentials_out_of_session_tokens() -> None:
    """Every Bokeh page/autoload handler (``AuthRequestHandler``) first drops the credential
    query arguments, so the session token in the page never carries them."""
    from bokeh.server.views.auth_request_handler import AuthRequestHandler

    if getattr(AuthRequestHandler.prepare, "_codestream", False):
        return
    original = AuthRequestHandler.prepare

    async def prepare(self):
        drop_credential_arguments(self.request)
        await original(self)

    prepare._codestream = True
    AuthRequestHandler.prepare = prepare


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = CREDENTIAL_IN_URL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    redact = RedactCredentials()
    for name in ("tornado.access", "tornado.application", "tornado.general", "bokeh", "panel"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(redact)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactCredentials) for f in handler.filters):
            handler.addFilter(redact)


install()
keep_credentials_out_of_session_tokens()
