"""httpx clients that carry a credential: one credential, the configured one, and nothing else.

A server-side client that sends a token (the student key or the teacher's Jupyter token, a
dashboard's Jupyter token, the hub service's API token) must

- keep no cookies: whatever the other side answers (a login cookie set by Jupyter's token auth,
  a cookie planted by a hostile server on another port of the same host) is never sent back,
  so a later request is authenticated by its own credential alone;
- ignore proxy environment variables (``http_proxy``, ``HTTPS_PROXY``, ``ALL_PROXY``, ...),
  which jupyter-server-proxy passes on to the apps it launches: a proxy is used only when the
  admin configures one explicitly (``CodeStreamApp.teacher_proxy_url``).
"""

from __future__ import annotations

from http.cookiejar import CookieJar
from urllib.parse import urlsplit

import httpx

from ..domain import InvalidUrl


class NoCookieJar(CookieJar):
    """A cookie jar that never holds a cookie (so never sends one)."""

    def set_cookie(self, cookie) -> None:  # noqa: D102 - every way into the jar ends here
        return None

    def set_cookie_if_ok(self, cookie, request) -> None:
        return None

    def extract_cookies(self, response, request) -> None:
        return None


def validate_proxy_url(raw: str | None) -> str | None:
    """An explicit proxy (``http://host:port`` or ``https://``), or None for none."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise InvalidUrl("A proxy is an http:// or https:// URL with a host (and optionally a port).")
    return raw


def credential_client(*, proxy: str | None = None, **kwargs) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with no cookie jar and no proxy from the environment; ``proxy``
    (explicit configuration only) routes its requests through that proxy."""
    for forbidden in ("cookies", "trust_env", "proxy", "mounts"):
        if forbidden in kwargs:
            raise TypeError(f"credential_client decides {forbidden!r} itself")
    return httpx.AsyncClient(cookies=NoCookieJar(), trust_env=False,
                             proxy=validate_proxy_url(proxy), **kwargs)


__all__ = ["NoCookieJar", "credential_client", "validate_proxy_url"]
