"""The route table and how a program mounts it (see the package docstring)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from tornado import web

from ..domain import normalize_session_code

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
CODE = r"(?P<code>[^/]+)"
CELL = r"(?P<cell_id>[^/]+)"
SESSION = rf"codestream/api/sessions/{CODE}"


class WebRoute:
    """Base of every route behaviour. The program's handler base supplies ``service`` (a
    ``SessionService``), ``read_auth`` (who is asking), ``json_body()`` and ``write_json()``;
    so this mixin defines none of them (it comes first in the mounted class's MRO)."""

    async def as_teacher(self, code: str | None, *, others: str = "members", in_write: bool = False):
        """The session's teacher (its owner), or a contract error. ``others``: how the hub answers
        another hub user (``owned`` in hub/service.py): ``"members"`` 403 to a member of the
        session's group and "no such session" to anyone else, ``"not_found"`` always the latter,
        ``"forbidden"`` always 403. A laptop has one answer (``Forbidden``). ``in_write``: the
        route passes ``Reader.write_owner`` to its service call, so a program whose store checks
        the owner inside the write (a laptop) leaves the check to it (one round trip, not two)."""
        return await self.read_auth.teacher(self, code, others=others, in_write=in_write)

    async def as_user(self):
        """Whoever may own sessions (to list their own): the teacher, or any hub user."""
        return await self.read_auth.user(self)

    async def as_reader(self, code: str):
        """The teacher, a student key of the session, or a hub user who may read it."""
        return await self.read_auth.authorize(self, code)

    def session_code(self, raw: str) -> str:
        return normalize_session_code(raw)

    def no_content(self) -> None:
        self.set_status(204)
        self.finish()


@dataclass(frozen=True)
class Route:
    """``pattern`` (relative to the program's base URL) answered by ``behaviour``.

    ``on_relay``: a read a standalone relay serves too (student-key reads of a session).
    ``relay_methods``: the methods a relay answers, when not all (the others are 405 there).
    ``forwarded``: under JupyterHub a user's own server forwards it to the hub service.
    ``stream``: an event stream (forwarded byte for byte as it comes).
    ``hub_only``: only the hub service answers it (and a hub user's server forwards it).
    """

    pattern: str
    behaviour: type
    on_relay: bool = False
    forwarded: bool = True
    relay_methods: tuple[str, ...] | None = None
    stream: bool = False
    hub_only: bool = False

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(m for m in HTTP_METHODS if callable(getattr(self.behaviour, m, None)))


def route_table() -> list[Route]:
    """Every route of the table, in matching order (more specific patterns first)."""
    from . import cells, compat, focus, notebook, sessions, talkback

    return [*sessions.ROUTES, *cells.ROUTES, *focus.ROUTES, *notebook.ROUTES, *talkback.ROUTES, *compat.ROUTES]


def mount(base: type, *, prefix: str = "", relay_only: bool = False, hub_routes: bool = False,
          wrap: Callable[[Callable], Callable] | None = None, **services) -> list[tuple]:
    """Tornado handler specs of the table over ``base`` (the program's handler class).

    ``relay_only``: only the routes a relay serves; ``hub_routes``: the hub service's own ones too. ``wrap`` decorates each HTTP method (the Jupyter
    mount marks them as authenticating by themselves, through ``read_auth``).
    """
    specs = []
    for route in route_table():
        if (relay_only and not route.on_relay) or (route.hub_only and not hub_routes):
            continue
        attrs = {m: wrap(getattr(route.behaviour, m)) for m in route.methods} if wrap else {}
        if relay_only and route.relay_methods is not None:
            attrs.update({m: getattr(web.RequestHandler, m) for m in route.methods if m not in route.relay_methods})
        handler = type(route.behaviour.__name__, (route.behaviour, base), attrs)
        specs.append((prefix + route.pattern, handler, services))
    return specs


class ForwardedRoute(NamedTuple):
    pattern: str
    name: str
    methods: tuple[str, ...]
    stream: bool


def forwarded_routes() -> list[ForwardedRoute]:
    """What a hub user's server forwards to the hub service, route by route."""
    return [ForwardedRoute(r.pattern, "Forwarded" + r.behaviour.__name__, r.methods, r.stream)
            for r in route_table() if r.forwarded]
