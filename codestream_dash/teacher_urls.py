"""Which URL students should type to reach the teacher's server, and why they might not.

Pure, apart from ``lan_address`` (a UDP socket that sends nothing): the teacher dashboard
shows the advice, tests check it without a server.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit, urlunsplit

PUBLIC_URL_ENV = "CODESTREAM_PUBLIC_URL"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def student_url_advice(server_url: str, public_url: str | None = None, *,
                       local_hostname: str | None = None, lan_address: str | None = None) -> tuple[str, str]:
    """``(URL students should enter, warning)``; the warning is empty when students can reach it.

    ``public_url`` (a relay, a reverse proxy) wins. A server on all interfaces shows up as the
    machine's host name; its LAN address is what students can type reliably.
    """
    url = (public_url or server_url).strip()
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        port = f":{parts.port}" if parts.port else ""
        warning = (
            f"Students cannot reach {url}: your Jupyter server listens only on this computer ({host}). "
            f"Restart it with `jupyter lab --ip=0.0.0.0` (or this computer's network address) so students can "
            f"use http://<this computer's address>{port}{parts.path or '/'}, or run a relay "
            f"(`codestream relay`) and set {PUBLIC_URL_ENV} to its URL."
        )
        return url, warning
    if not public_url and lan_address and local_hostname and host == local_hostname.lower():
        netloc = lan_address + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return url, ""


def lan_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends no packet)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere
            address = sock.getsockname()[0]
    except OSError:
        return None
    return None if is_loopback_host(address) else address


def advice_for(server_url: str, public_url: str | None) -> tuple[str, str]:
    """``student_url_advice`` with this machine's host name and LAN address filled in."""
    host = (urlsplit(public_url or server_url).hostname or "").lower()
    local = socket.gethostname().lower()
    lan = lan_address() if host and host == local else None
    return student_url_advice(server_url, public_url, local_hostname=local, lan_address=lan)
