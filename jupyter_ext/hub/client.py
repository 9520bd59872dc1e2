"""The single-user server's client of the codestream hub service (clients layer: httpx only).

It calls the service as the server's own hub user, with the server's API token
(``JUPYTERHUB_API_TOKEN``, whose scopes ``configure_jupyterhub`` chose). Every call has
connect and read timeouts; a service that cannot be reached is ``503 hub_unavailable``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from ..domain import CodeStreamError
from .config import HUB_SERVICE_URL_ENV
from .errors import HubUnavailable

FORWARDED_REQUEST_HEADERS = ("Content-Type", "Last-Event-ID", "Accept", "X-CodeStream-Client")


@dataclass(frozen=True)
class HubLink:
    """Where the service is and the token this server calls it with (from the spawner's env)."""

    service_url: str
    token: str = field(repr=False)
    public_hub_url: str = ""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HubLink | None:
        """``None`` outside a hub configured by ``configure_jupyterhub`` (laptop mode)."""
        url, token = environ.get(HUB_SERVICE_URL_ENV), environ.get("JUPYTERHUB_API_TOKEN")
        if not url or not token:
            return None
        return cls(url.rstrip("/") + "/", token, environ.get("JUPYTERHUB_PUBLIC_HUB_URL", ""))


@dataclass
class ServiceAnswer:
    status: int
    body: bytes
    content_type: str
    disposition: str = ""  # a download's Content-Disposition (the lesson notebook)

    def json(self):
        return json.loads(self.body) if self.body else None


class HubServiceClient:
    def __init__(self, link: HubLink, *, connect_timeout: float = 5.0, read_timeout: float = 15.0,
                 stream_read_timeout: float = 45.0, log: logging.Logger | None = None):
        self.link = link
        self.stream_read_timeout = stream_read_timeout
        self.connect_timeout = connect_timeout
        self.log = log or logging.getLogger(__name__)
        self._client = httpx.AsyncClient(
            base_url=link.service_url, trust_env=False, follow_redirects=False,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            headers={"Authorization": f"token {link.token}"})

    async def aclose(self) -> None:
        await self._client.aclose()

    def _unavailable(self, exc: Exception) -> HubUnavailable:
        self.log.warning("codestream: the hub service did not answer (%s)", type(exc).__name__)
        return HubUnavailable("The Code Stream service on the hub is not answering; try again in"
                                  " a moment (or ask the hub's admin).")

    async def request(self, method: str, path: str, *, body: bytes | None = None,
                      headers: Mapping[str, str] | None = None) -> ServiceAnswer:
        try:
            response = await self._client.request(method, path, content=body or None,
                                                  headers=dict(headers or {}))
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None
        return ServiceAnswer(response.status_code, response.content,
                             response.headers.get("Content-Type", "application/json"),
                             response.headers.get("Content-Disposition", ""))

    async def call(self, method: str, path: str, payload: dict | None = None) -> dict | None:
        """A JSON call; a contract error from the service is raised as the same error here."""
        answer = await self.request(method, path, body=json.dumps(payload).encode() if payload is not None else None,
                                    headers={"Content-Type": "application/json"})
        if answer.status >= 400:
            raise service_error(answer)
        return answer.json()

    @asynccontextmanager
    async def stream(self, path: str, headers: Mapping[str, str]) -> AsyncIterator[httpx.Response]:
        timeout = httpx.Timeout(self.stream_read_timeout, connect=self.connect_timeout)
        try:
            async with self._client.stream("GET", path, headers=dict(headers), timeout=timeout) as response:
                yield response
        except httpx.HTTPError as exc:
            raise self._unavailable(exc) from None

    # -- what the single-user server needs --------------------------------------------------
    async def own_sessions(self) -> list[dict]:
        return (await self.call("GET", "codestream/api/sessions"))["sessions"]

    async def cells(self, code: str) -> dict:
        return await self.call("GET", f"codestream/api/sessions/{code}/cells")

    async def publish_cell(self, code: str, cell_id: str, clean: dict) -> dict:
        return await self.call("PUT", f"codestream/api/sessions/{code}/cells/{cell_id}", clean)

    async def joinable_sessions(self) -> list[dict]:
        return (await self.call("GET", "codestream/api/student/sessions"))["sessions"]


def service_error(answer: ServiceAnswer) -> CodeStreamError:
    try:
        error = answer.json()["error"]
        return CodeStreamError(str(error["message"]), code=str(error["code"]), status=answer.status)
    except (ValueError, TypeError, KeyError):
        return CodeStreamError("The Code Stream service on the hub sent an unreadable answer.",
                               code="bad_response", status=502)
