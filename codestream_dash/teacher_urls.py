"""Which URL students should type to reach the teacher's server, and why they might not.

The URL itself is worked out as for join links (``jupyter_ext.domain.join``); this adds the
warning the teacher dashboard shows when students cannot reach it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jupyter_ext.domain.join import is_loopback_host, students_base_url
from jupyter_ext.clients.local_network import PUBLIC_URL_ENV, lan_address, students_url

__all__ = ["PUBLIC_URL_ENV", "SAME_MACHINE_ENV", "advice_for", "same_machine_note", "is_loopback_host", "lan_address", "student_url_advice"]


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
    return students_base_url(server_url, public_url, local_hostname=local_hostname, lan_address=lan_address), ""


def advice_for(server_url: str, public_url: str | None) -> tuple[str, str]:
    """The URL join links use (``clients.local_network.students_url``), and the warning when it is loopback."""
    return student_url_advice(students_url(server_url, public_url))


SAME_MACHINE_ENV = "CODESTREAM_STUDENTS_ON_THIS_MACHINE"  # set by `codestream demo`


def same_machine_note(url: str) -> str:
    """Instead of the loopback warning when the students run on this computer (the demo)."""
    return (f"Students on this computer reach {url}. Students on other machines need your Jupyter server"
            " started with `--ip=0.0.0.0` (or this computer's network address), or a relay"
            f" (`codestream relay`) with {PUBLIC_URL_ENV} set to its URL.")
