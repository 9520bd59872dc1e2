"""Bokeh's auth module for the dashboards (``panel serve --auth-module``): no credential in the
session token Bokeh writes into each page.

Someone may open a proxied dashboard with ``?token=...`` in its URL (jupyter-server-proxy
forwards the query string as it came), and Bokeh puts every query argument into the session
token of the page (the ``arguments`` of its payload; Bokeh has options to keep headers and
cookies out of it, none for arguments). Bokeh asks its auth module who is asking first thing on
every page, websocket and static request, before it makes the token: that is where the
credential arguments are dropped. Jupyter has logged the user in before the request got here
(the dashboards are reached only through jupyter-server-proxy, behind Jupyter's auth), and the
dashboards read nothing from their URL but ``?session=``.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

CREDENTIAL_ARGUMENTS = ("token", "key", "student_key", "_xsrf")
JUPYTER_USER = "jupyter"  # whoever Jupyter let through; the dashboards act as their own server's user
login_url = "/"  # Bokeh requires one; never used, since every request has a user


def drop_credential_arguments(request) -> None:
    """Remove the credential query arguments from a tornado request (its ``arguments``,
    ``query_arguments`` and the ``query``/``uri`` strings)."""
    for mapping in (request.arguments, request.query_arguments):
        for name in [n for n in mapping if n.lower() in CREDENTIAL_ARGUMENTS]:
            del mapping[name]
    if request.query:
        kept = [(k, v) for k, v in parse_qsl(request.query, keep_blank_values=True)
                if k.lower() not in CREDENTIAL_ARGUMENTS]
        request.query = urlencode(kept)
        request.uri = request.path + (f"?{request.query}" if request.query else "")


async def get_user_async(request_handler) -> str:
    """Bokeh's hook, run in ``prepare`` of each of its handlers: the request loses its credentials."""
    drop_credential_arguments(request_handler.request)
    return JUPYTER_USER
