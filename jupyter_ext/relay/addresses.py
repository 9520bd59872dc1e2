"""Who is connecting: the socket's peer, or the client a *trusted* proxy says it forwards.

``X-Forwarded-For`` and ``X-Real-Ip`` are whatever the sender wrote, and the hub's proxy
(configurable-http-proxy) passes ``X-Real-Ip`` through untouched and only *appends* to
``X-Forwarded-For``. So a header is believed only when the connection itself comes from a
configured proxy address, and then only the ``X-Forwarded-For`` hops that proxies appended:
walking it from the right, the first address that is not itself a trusted proxy is the client.
Anyone else's headers are ignored: the wrong-key limit and the per-address stream cap count
the connection's own address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str | Iterable[str] | None) -> tuple[Network, ...]:
    """``"10.0.0.5, 10.1.0.0/16"`` (or a list) as networks; ``ValueError`` names a bad entry."""
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    networks = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {item!r}") from None
    return tuple(networks)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address, networks: tuple[Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: ``peer`` unless ``peer`` is a trusted proxy, then the rightmost
    ``X-Forwarded-For`` hop that is not a trusted proxy (``peer`` when there is none valid)."""
    peer = peer or "?"
    if not trusted or not forwarded_for or not _trusted(_ip(peer), trusted):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        address = _ip(hop)
        if address is None:
            return peer  # a hop we cannot read: believe nothing further left
        if not _trusted(address, trusted):
            return str(address)
    return peer


__all__ = ["client_ip", "parse_networks"]
