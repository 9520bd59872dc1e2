"""Join links (contract v2: *Join links*): one link holds the teacher's URL, the session code
and, in the fragment only, the student key (a browser never sends a fragment to a server).

Pure: building, parsing, and which base URL students can reach. The machine's own host name
and LAN address are looked up by the caller (that is I/O).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

from .codes import normalize_session_code
from .errors import InvalidInput, InvalidUrl
from .urls import normalize_teacher_url

JOIN_PATH = "codestream/join/"
HUB_JOIN_PATH = "/hub/user-redirect/codestream-student/"
MAX_LINK_LENGTH = 4096


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def students_base_url(server_url: str, public_url: str | None = None, *,
                      local_hostname: str | None = None, lan_address: str | None = None) -> str:
    """The URL students should use: ``public_url`` (a relay, a reverse proxy) wins; a server
    on all interfaces shows up under the machine's host name, whose LAN address is what
    students can type reliably."""
    url = (public_url or server_url).strip()
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not public_url and lan_address and local_hostname and host == local_hostname.lower():
        netloc = lan_address + (f":{parts.port}" if parts.port else "")
        url = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return url


def join_link(teacher_url: str, code: str, student_key: str | None) -> str:
    """``{teacher_url}codestream/join/{CODE}#{student_key}`` (no fragment when the key is unknown)."""
    base = teacher_url if teacher_url.endswith("/") else teacher_url + "/"
    return f"{base}{JOIN_PATH}{code}" + (f"#{student_key}" if student_key else "")


def parse_join_link(raw: object) -> dict:
    """``{"teacher_url", "session_code", "student_key"?}`` of a laptop-mode link, or
    ``{"session_code", "hub": True}`` of a JupyterHub one. ``InvalidInput`` says what is wrong,
    never repeating the link (its fragment is a key)."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_LINK_LENGTH:
        raise InvalidInput("'join_link' must be the link your teacher shows (it starts with http).")
    parts = urlsplit(raw.strip())
    if parts.path.endswith(HUB_JOIN_PATH) or parts.path.endswith(HUB_JOIN_PATH.rstrip("/")):
        codes = parse_qs(parts.query).get("session") or [""]
        return {"session_code": normalize_session_code(codes[0]), "hub": True}
    head, marker, code = parts.path.rstrip("/").rpartition("/" + JOIN_PATH.rstrip("/") + "/")
    if not marker or not code or "/" in code:
        raise InvalidInput("That is not a Code Stream join link: it should end in"
                           " codestream/join/<code>#<key>. Copy the whole link again.")
    try:
        teacher_url = normalize_teacher_url(urlunsplit((parts.scheme, parts.netloc, head + "/", "", "")))
    except InvalidUrl as exc:
        raise InvalidUrl(f"The join link's address is not usable: {exc.message}") from None
    found = {"teacher_url": teacher_url, "session_code": normalize_session_code(unquote(code))}
    if parts.fragment:
        found["student_key"] = unquote(parts.fragment)
    return found
