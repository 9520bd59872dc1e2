"""This machine as students' machines see it: the base URL that goes into join links.

Used by the server (once, when it starts) and by the teacher dashboard (its URL advice).

``c.CodeStreamApp.public_url`` (or ``CODESTREAM_PUBLIC_URL``) wins; otherwise the server's own
URL, with the machine's LAN address in place of its host name when it listens on all
interfaces (the name may not resolve on students' machines).
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..domain.join import is_loopback_host, students_base_url

PUBLIC_URL_ENV = "CODESTREAM_PUBLIC_URL"


def lan_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if is_loopback_host(address) else address


def students_url(server_url: str, public_url: str | None) -> str:
    """``students_base_url`` with this machine's host name and LAN address filled in."""
    host = (urlsplit(public_url or server_url).hostname or "").lower()
    local = socket.gethostname().lower()
    lan = lan_address() if host and host == local else None
    return students_base_url(server_url, public_url, local_hostname=local, lan_address=lan)
