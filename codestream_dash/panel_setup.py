"""``panel serve --setup`` script of the dashboards: no credential in their log lines.

The dashboard's output ends up in the Jupyter server's log, and someone may open the proxied
dashboard with ``?token=...`` in its URL (jupyter-server-proxy forwards the query string as it
came): tornado would log that URL as it came. Keeping the credentials out of the pages' session
tokens is ``page_auth.py``'s part.
"""

import logging
import re

CREDENTIAL_IN_URL = re.compile(r"((?:^|[?&;\s])(?:token|key|student_key|_xsrf)=)[^&\s]+", re.IGNORECASE)


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
