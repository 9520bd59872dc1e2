"""Who is asking, as the hub says: JupyterHub's own ``HubAuth`` behind a timeout.

A token is checked with the hub's ``/hub/api/user`` (``HubAuth.user_for_token``, whose answers
are cached for ``cache_max_age`` seconds) and must carry the scope that opens this service
(``access:services!service=codestream``). Its scopes say whether the user teaches (the custom
scope ``configure_jupyterhub`` grants to the teachers' group); its ``groups`` field which course
groups the user is in. A hub that does not answer is ``503 hub_unavailable``, never a hang.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import quote

from ..domain import Forbidden
from .errors import HubUnavailable

HUB_TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 60


@dataclass(frozen=True)
class HubUser:
    name: str
    groups: frozenset[str]
    teacher: bool


class HubIdentities:
    """Turns a bearer token into a ``HubUser`` (or ``None`` when the hub rejects it)."""

    def __init__(self, auth=None, *, teach_scope: str, timeout: float = HUB_TIMEOUT_SECONDS,
                 cache_seconds: int = CACHE_SECONDS, log: logging.Logger | None = None):
        if auth is None:
            from jupyterhub.services.auth import HubAuth

            # How long a token's user (and groups) is believed: a student removed from a group
            # is refused, and their streams closed, at most this long (plus a heartbeat) after.
            auth = HubAuth(cache_max_age=cache_seconds)
        self.auth = auth
        self.teach_scope = teach_scope
        self.timeout = timeout
        self.log = log or logging.getLogger(__name__)

    async def _ask(self, awaitable):
        from tornado.web import HTTPError

        try:
            return await asyncio.wait_for(awaitable, self.timeout)
        except asyncio.TimeoutError:
            raise HubUnavailable("JupyterHub did not answer in time; try again in a moment.") from None
        except HTTPError as exc:  # HubAuth's own: the hub is down or failed
            raise HubUnavailable("JupyterHub could not be asked who you are; try again in a"
                                 " moment.") from exc
        except OSError as exc:
            raise HubUnavailable("JupyterHub is not reachable; try again in a moment.") from exc

    async def identify(self, token: str) -> HubUser | None:
        from jupyterhub.services.auth import check_scopes

        model = await self._ask(self.auth.user_for_token(token, sync=False))
        if not model or model.get("kind", "user") != "user" or not model.get("name"):
            return None
        scopes = set(model.get("scopes") or ())
        if self.auth.access_scopes and not check_scopes(self.auth.access_scopes, scopes):
            raise Forbidden("This hub token may not use Code Stream (it lacks the scope"
                            " access:services for this service).")
        return HubUser(name=model["name"], groups=frozenset(model.get("groups") or ()),
                       teacher=bool(check_scopes({self.teach_scope}, scopes)))

    async def group_exists(self, group: str) -> bool:
        """Asked with the service's own token (its role may read groups)."""
        import httpx

        from ..clients.credentials import credential_client

        url = self.auth.api_url.rstrip("/") + "/groups/" + quote(group, safe="")
        try:
            async with credential_client(timeout=self.timeout) as client:
                response = await client.get(url, headers={"Authorization": f"token {self.auth.api_token}"})
        except httpx.HTTPError as exc:
            raise HubUnavailable("JupyterHub is not reachable; try again in a moment.") from exc
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            self.log.warning("codestream: the hub answered %s to a group lookup", response.status_code)
            raise HubUnavailable("JupyterHub could not say which groups exist; try again in a moment.")
        return True
