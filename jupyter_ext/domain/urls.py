"""The teacher URL policy: which addresses a student's server may be told to call.

Pure: parsing and checks only. Name resolution (needed to apply a network allow-list to a
host name) is I/O and happens in the client layer, which hands the addresses back here.
No message ever repeats the URL a person typed: it may carry a password or a token.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from .errors import InvalidUrl

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
EXAMPLE = "http://10.0.0.5:8888/"
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_NUMERIC_LABEL_RE = re.compile(r"[0-9]+|0x[0-9a-f]*")  # decimal, octal or hex (the host is lower-cased)
_PATH_SAFE = "/-._~!$&'()*+,;=:@%"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TeacherUrl:
    """A checked, normalised teacher base URL (always ends with ``/``)."""

    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    path: str

    @property
    def is_ip_literal(self) -> bool:
        return ip_or_none(self.host) is not None

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"


def ip_or_none(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def parse_teacher_url(raw: object) -> TeacherUrl:
    """Check a teacher URL against the policy; raise ``InvalidUrl`` saying what to fix."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidUrl(f"Enter the address of your teacher's Jupyter server, for example {EXAMPLE}")
    text = raw.strip()
    if len(text) > MAX_URL_LENGTH:
        raise InvalidUrl(f"The address is longer than {MAX_URL_LENGTH} characters; enter only the"
                         f" teacher's server address, for example {EXAMPLE}")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise InvalidUrl("The address contains spaces or control characters; remove them.")
    if "://" not in text:
        raise InvalidUrl(f"Start the address with http:// or https://, for example {EXAMPLE}")
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ALLOWED_SCHEMES:
        shown = f" ('{scheme}://')" if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", scheme) else ""
        raise InvalidUrl(f"Only http:// and https:// addresses are allowed{shown}; use the address"
                         f" your teacher's Jupyter server shows, for example {EXAMPLE}")
    try:
        parts = urlsplit(text)
    except ValueError:
        raise InvalidUrl(f"The address is not a valid URL; use the form {EXAMPLE}") from None
    if "@" in parts.netloc:
        raise InvalidUrl("Remove the user name and password (the part up to '@') from the address;"
                         " Code Stream sends the student key itself.")
    if "#" in text:
        raise InvalidUrl("Remove the '#…' part (fragment) from the end of the address.")
    if "?" in text:
        raise InvalidUrl("Remove the '?…' part (query, e.g. '?token=…') from the address; enter only"
                         " the server address, and the student key in its own field.")
    host = _checked_host(parts)
    try:
        port = parts.port
    except ValueError:
        raise InvalidUrl("The port after ':' must be a number from 1 to 65535.") from None
    if port == 0:
        raise InvalidUrl("The port after ':' must be a number from 1 to 65535.")
    return TeacherUrl(scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme],
                      path=_checked_path(parts.path))


def normalize_teacher_url(raw: object) -> str:
    """The normalised form stored and used: lower-case scheme and host, no default port, ``/`` at the end."""
    return str(parse_teacher_url(raw))


def _checked_host(parts) -> str:
    hostname = parts.hostname or ""
    if not hostname:
        raise InvalidUrl(f"The address needs a host name or IP address, for example {EXAMPLE}")
    if parts.netloc.startswith("[") or ":" in hostname:
        address = ip_or_none(hostname.split("%", 1)[0])
        if not isinstance(address, ipaddress.IPv6Address) or "%" in hostname:
            raise InvalidUrl("The IPv6 address between '[' and ']' is not valid; check it.")
        return str(address)
    address = ip_or_none(hostname)
    if address is not None:
        return str(address)
    try:
        ascii_host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidUrl("The host name is not valid; check its spelling.") from None
    labels = ascii_host.rstrip(".").split(".")
    if not all(_HOST_LABEL_RE.match(label) for label in labels):
        raise InvalidUrl("The host name may contain only letters, digits, '-' and '.'; check its spelling.")
    if _NUMERIC_LABEL_RE.fullmatch(labels[-1]):
        # No DNS name ends in a number: the system would read it as an IPv4 address in one of its
        # old shorthand forms (2130706433, 0x7f.1, 127.1, 0177.0.0.1), which hides where it points.
        raise InvalidUrl("Write an IPv4 address as four numbers from 0 to 255 separated by dots,"
                         " for example 192.168.1.20.")
    return ".".join(labels)


def _checked_path(path: str) -> str:
    path = path or "/"
    segments = path.split("/")
    if any(segment in (".", "..") for segment in segments):
        raise InvalidUrl("Remove '.' and '..' parts from the address path.")
    path = "/" + "/".join(segment for segment in segments if segment)
    if not path.endswith("/"):
        path += "/"
    return quote(path, safe=_PATH_SAFE)


def same_origin(a: TeacherUrl, b: TeacherUrl) -> bool:
    """Redirects are followed only when scheme, host and port all stay the same."""
    return a.origin == b.origin


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """Operator setting (CIDR strings, e.g. ``10.0.0.0/8``) to networks; ``ValueError`` names a bad one."""
    networks = []
    for spec in specs:
        try:
            networks.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a network in CIDR form: {spec!r} (expected e.g. 10.0.0.0/8)") from None
    return tuple(networks)


RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def check_addresses_allowed(host: str, addresses: Iterable[str],
                            networks: tuple[Network, ...]) -> None:
    """Every address ``host`` resolves to must be in an allowed network (none configured: any)."""
    if not networks:
        return
    resolved = [ip_or_none(a.split("%", 1)[0]) for a in addresses]
    if not resolved:
        raise InvalidUrl(f"The host {host} could not be found; check the address.")
    for address in resolved:
        if address is None or not any(_contains(network, address) for network in networks):
            allowed = ", ".join(str(n) for n in networks)
            raise InvalidUrl(f"The host {host} is outside the networks this server may reach"
                             f" ({allowed}); use your teacher's classroom address, or ask the"
                             " administrator.")


def _contains(network: Network, address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version == network.version and address in network


__all__ = [
    "RFC1918",
    "TeacherUrl",
    "check_addresses_allowed",
    "normalize_teacher_url",
    "parse_networks",
    "parse_teacher_url",
    "same_origin",
]
