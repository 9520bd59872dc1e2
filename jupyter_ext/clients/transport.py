"""An httpx transport that connects only inside the operator's network allow-list.

httpx's own transport takes no network backend, so this one is built on httpcore's public API:
an ``httpcore.AsyncConnectionPool`` whose backend (``AllowListedNetwork``) resolves the host
itself, checks every address and connects to the very address it has just checked. A DNS
answer that changes between the policy check and the connection (DNS rebinding) cannot steer
a student's server into a network it may not reach. TLS still verifies the certificate
against the host name, which httpcore hands to ``start_tls`` separately.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpcore
import httpx

from ..domain import InvalidUrl
from ..domain.urls import check_addresses_allowed
from .errors import most_specific

CHECK_URL = "check the teacher's address"

# httpcore's exceptions as the httpx ones the clients' error boundary knows (as httpx maps them)
HTTPCORE_ERRORS: dict[type[Exception], type[httpx.HTTPError]] = {
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
}


def as_httpx_error(exc: Exception) -> Exception:
    best = most_specific(exc, HTTPCORE_ERRORS)
    return HTTPCORE_ERRORS[best](str(exc)) if best is not None else exc


async def resolve(host: str, port: int, timeout: float) -> list[str]:
    """The host's addresses, in the resolver's order; ``InvalidUrl`` when it has none."""
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
    except (OSError, asyncio.TimeoutError):
        raise InvalidUrl(f"The host {host} could not be found; {CHECK_URL}.") from None
    return list(dict.fromkeys(info[4][0] for info in infos))


class AllowListedNetwork(httpcore.AsyncNetworkBackend):
    """Connects only to addresses inside the operator's allow-list (see the module)."""

    def __init__(self, networks: tuple, resolve_timeout: float):
        self.networks = networks
        self.resolve_timeout = resolve_timeout
        self._sockets = httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = await resolve(host, port, self.resolve_timeout)
        check_addresses_allowed(host, addresses, self.networks)
        return await self._sockets.connect_tcp(addresses[0], port, timeout=timeout, local_address=local_address,
                                               socket_options=socket_options)

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("A teacher's server is reached over TCP only.")

    async def sleep(self, seconds: float) -> None:
        await self._sockets.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream):
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class AllowListedTransport(httpx.AsyncBaseTransport):
    """httpx requests over an httpcore pool that connects through ``AllowListedNetwork``."""

    def __init__(self, networks: tuple, connect_timeout: float, limits: httpx.Limits):
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=AllowListedNetwork(networks, connect_timeout),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host,
                             port=request.url.port, target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = as_httpx_error(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    async def aclose(self) -> None:
        await self._pool.aclose()


__all__ = ["AllowListedNetwork", "AllowListedTransport", "resolve"]
