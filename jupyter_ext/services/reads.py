"""A student's reads of the teacher's session: from the read relay the session advertises
(``RelayDirectory``, learned from its cell lists), else from the teacher's server."""

from __future__ import annotations

import logging
from collections import OrderedDict

from ..clients.teacher import TeacherClient, TeacherConnection
from ..domain import CodeStreamError, InvalidUrl
from ..domain.urls import normalize_teacher_url


class RelayDirectory:
    """Which read relay each session advertises, learned from its cell lists; kept per
    (teacher URL, session code) so every read of that session, cells and events, uses it."""

    MAX_SESSIONS = 256  # the 1.x proxy reads sessions named by the request: keep the map small

    def __init__(self, log: logging.Logger | None = None):
        self.log = log or logging.getLogger(__name__)
        self._relays: OrderedDict[tuple[str, str | None], str] = OrderedDict()

    def relay_for(self, conn: TeacherConnection) -> TeacherConnection | None:
        """The same session and key at the advertised relay, or None when none is known."""
        relay_url = self._relays.get((conn.teacher_url, conn.session_code))
        if relay_url is None:
            return None
        return TeacherConnection(relay_url, conn.session_code, conn.student_key)

    def learn(self, conn: TeacherConnection, listing: dict) -> None:
        """Remember (or forget) the ``relay_url`` a cell list answer of ``conn``'s session carries."""
        key = (conn.teacher_url, conn.session_code)
        raw = listing.get("relay_url")
        relay_url = None
        if raw:
            try:
                relay_url = normalize_teacher_url(raw)
            except InvalidUrl:
                self.log.warning("codestream: ignoring the invalid relay_url of session %s",
                                 conn.session_code)
        if relay_url is None or relay_url == conn.teacher_url:
            self._relays.pop(key, None)
            return
        self._relays[key] = relay_url
        self._relays.move_to_end(key)
        while len(self._relays) > self.MAX_SESSIONS:
            self._relays.popitem(last=False)


class SessionReader:
    """Cell reads of a session: from its advertised read relay first, and on ANY failure there
    (unreachable, timeout, 5xx incl. ``503 relay_draining``, a bad answer, even 401/404) from the
    teacher's server, whose answer is final. Both go through the same ``TeacherClient`` (timeouts,
    size cap, same-origin redirects, URL policy and network allow-list)."""

    def __init__(self, teacher: TeacherClient, directory: RelayDirectory | None = None,
                 log: logging.Logger | None = None):
        self.teacher = teacher
        self.log = log or logging.getLogger(__name__)
        self.directory = directory or RelayDirectory(self.log)

    async def list_cells(self, conn: TeacherConnection) -> dict:
        listing = await self._read(conn, self.teacher.list_cells)
        self.directory.learn(conn, listing)
        return listing

    async def get_cell(self, conn: TeacherConnection, cell_id: str) -> dict:
        return await self._read(conn, lambda source: self.teacher.get_cell(source, cell_id))

    async def read(self, conn: TeacherConnection, call):
        """Any other read of the session (a past version, the lesson), by the same path."""
        return await self._read(conn, call)

    async def _read(self, conn: TeacherConnection, call):
        relay = self.directory.relay_for(conn)
        if relay is not None:
            try:
                return await call(relay)
            except CodeStreamError as exc:
                self.log.info("codestream: the read relay of session %s failed (%s); reading from"
                              " the teacher's server", conn.session_code, exc.code)
        return await call(conn)
