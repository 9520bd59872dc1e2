"""The student side: the configured teacher, the proxy to it, the upstream event stream and pulls.

Everything a student's dashboard needs goes through its own server; only this service
talks to the teacher, with the key it keeps server-side.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from ..clients.teacher import TeacherClient, TeacherConnection
from ..domain import (
    CodeStreamError,
    InvalidInput,
    NotConfigured,
    UpstreamError,
    normalize_session_code,
    validate_cell_id,
    validate_notebook_path,
)
from ..domain.notebooks import parse_position
from ..domain.outputs import validate_outputs
from ..domain.urls import parse_networks, parse_teacher_url
from .pull import NotebookPuller
from .reads import RelayDirectory, SessionReader
from .upstream import UpstreamEvents
from .student_config import StudentConfig, StudentConfigStore, config_from_body, talkback_settings

TEST_ERROR_CODES = ("unreachable", "timeout", "unauthorized", "session_not_found", "bad_response")
TEST_CODE_OF = {"too_many_requests": "unauthorized"}  # the test route's contract has no 429 code


class StudentService:
    hub = None  # under JupyterHub: a jupyter_ext.hub.student.HubMembership (joins by hub identity)
    talkback = None  # a services.student_talkback.StudentTalkback: sees my hands' states

    def __init__(self, store: StudentConfigStore, teacher: TeacherClient, puller: NotebookPuller, *,
                 upstream_backoff_initial: float = 0.5, upstream_backoff_max: float = 15.0,
                 upstream_buffer_events: int = 1000, upstream_buffer_bytes: int = 4 * 1024 * 1024,
                 log: logging.Logger | None = None):
        self.store = store
        self.teacher = teacher
        self.puller = puller
        self.upstream_backoff_initial = upstream_backoff_initial
        self.upstream_backoff_max = upstream_backoff_max
        self.upstream_buffer_events = upstream_buffer_events
        self.upstream_buffer_bytes = upstream_buffer_bytes
        self.log = log or logging.getLogger(__name__)
        # Cell and event reads go to a session's advertised read relay first (the teacher still
        # answers when it fails); the relay each session advertises is learned once, shared.
        self.reader = SessionReader(teacher, RelayDirectory(self.log), self.log)
        self._upstream: UpstreamEvents | None = None
        self._old_upstreams: set[asyncio.Task] = set()
        self._reports: set[asyncio.Task] = set()  # pull reports on their way to the teacher

    # -- config --------------------------------------------------------------------------
    def is_configured(self) -> bool:
        """A teacher and a key are known (the 1.x proxy routes need nothing more)."""
        config = self.store.config
        return config is not None and bool(config.student_key or self._hub_key(config))

    def _hub_key(self, config: StudentConfig) -> str | None:
        return self.hub.key_for(config) if self.hub is not None else None

    def config(self) -> StudentConfig:
        config = self.store.config
        if config is None:
            raise NotConfigured("No teacher is configured yet; enter the teacher's address, the"
                                " session code and the student key.")
        return config

    def config_view(self) -> dict:
        return self.config().public_dict()

    async def save_config(self, body: dict, *, require_code: bool = True) -> dict:
        if self.hub is not None and self.hub.wants_hub_join(body):
            # the hub user's name is the teacher's; the run-status choice is the student's own
            settings = talkback_settings({k: v for k, v in body.items() if k != "name"}, self.store.config)
            config = replace(await self.hub.join(body), share_run_status=settings["share_run_status"])
        else:
            config = config_from_body(body, self.store.config, require_code=require_code)
            await self.teacher.check_allowed(parse_teacher_url(config.teacher_url))
        await asyncio.to_thread(self.store.save, config)
        self._drop_upstream()
        self.log.info("codestream: student config saved (teacher %s, session %s, key %s)",
                      config.teacher_url, config.session_code or "-",
                      "set" if config.student_key else "missing")
        return config.public_dict()

    async def save_compat_config(self, body: dict) -> dict:
        """1.x ``POST code_stream/config``: ``teacher_base_url`` and ``teacher_token``."""
        current = self.store.config
        url = body.get("teacher_base_url")
        same_teacher = current is not None and isinstance(url, str) and _same_url(url, current.teacher_url)
        return await self.save_config(
            {"teacher_url": url, "student_key": body.get("teacher_token") or None,  # "" keeps the stored key
             "session_code": current.session_code if same_teacher else None},
            require_code=False)

    async def delete_config(self) -> None:
        await asyncio.to_thread(self.store.delete)
        self._drop_upstream()
        self.log.info("codestream: student config deleted")

    def _connection(self, code: str | None = None, *, need_code: bool = True) -> TeacherConnection:
        config = self.config()
        code = code or config.session_code
        if need_code and not code:
            raise NotConfigured("No session code is configured; enter the code your teacher shows.")
        key = config.student_key or self._hub_key(config)
        if not key:
            raise NotConfigured("No student key is configured; enter the key your teacher shows.")
        return TeacherConnection(config.teacher_url, code, key)

    # -- proxy -----------------------------------------------------------------------------
    async def test_connection(self) -> dict:
        """Try the configured session; failures are reported, not raised."""
        connection = self._connection()
        try:
            listing = await self.teacher.list_cells(connection)  # the teacher itself is tested
        except CodeStreamError as exc:  # unreachable, timeout, unauthorized, session_not_found, ...
            code = TEST_CODE_OF.get(exc.code, exc.code)
            code = code if code in TEST_ERROR_CODES else "unreachable"
            return {"ok": False, "error": {"code": code, "message": exc.message}}
        self.reader.directory.learn(connection, listing)
        return {"ok": True, "cells": len(listing["cells"]), "session": listing.get("session"),
                "title": listing.get("title", "")}

    async def test_compat(self) -> dict:
        """1.x test: the whole check with a session code, else a read of the teacher's server WITH
        the stored credential (a token the teacher refuses is a failure, never "successful")."""
        config = self.config()
        if config.session_code and config.student_key:
            result = await self.test_connection()
            if not result["ok"]:
                error = result["error"]
                raise CodeStreamError(error["message"], code=error["code"], status=_status_for(error["code"]))
            return {"cells": result["cells"], "message": f"Connected to session {config.session_code}."}
        info = await self.teacher.check_credential(TeacherConnection(config.teacher_url, None, config.student_key))
        return {"message": "The teacher's server accepts the token; the session code is chosen per request.",
                "started": info.get("started")}

    async def list_cells(self) -> dict:
        return await self.reader.list_cells(self._connection())

    async def fetch_cells(self, code: str) -> dict:
        """The 1.x proxy: one session's cell list, with the code from the request."""
        return await self.reader.list_cells(self._connection(normalize_session_code(code)))

    async def fetch_cell(self, code: str, cell_id: str) -> dict:
        return await self.reader.get_cell(self._connection(normalize_session_code(code)),
                                          validate_cell_id(cell_id))

    # -- events ----------------------------------------------------------------------------
    def upstream(self) -> UpstreamEvents:
        connection = self._connection()
        if self._upstream is None or self._upstream.connection != connection:
            self._drop_upstream()
            self._upstream = UpstreamEvents(
                self.teacher, connection, backoff_initial=self.upstream_backoff_initial,
                backoff_max=self.upstream_backoff_max, buffer_size=self.upstream_buffer_events,
                buffer_bytes=self.upstream_buffer_bytes, reader=self.reader, log=self.log,
                on_event=self._observe)
        return self._upstream

    def _observe(self, event) -> None:
        if self.talkback is not None:
            self.talkback.observe(event)

    @asynccontextmanager
    async def listen(self, last_event_id: str | None):
        async with self.upstream().listen(last_event_id) as (listener, replay):
            yield listener, replay

    def _drop_upstream(self) -> None:
        """A changed config ends the old upstream's streams; its dashboards reconnect to the new one."""
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            task = asyncio.get_running_loop().create_task(upstream.close(), name="codestream-upstream-close")
            self._old_upstreams.add(task)
            task.add_done_callback(self._old_upstreams.discard)

    # -- pull ------------------------------------------------------------------------------
    async def pull(self, body: dict) -> dict:
        if not isinstance(body.get("cell_id"), str):
            raise InvalidInput("'cell_id' is required: the id of the teacher's cell to pull.")
        cell_id = validate_cell_id(body["cell_id"])
        path = validate_notebook_path(body.get("notebook_path"), required=True)
        position = parse_position(body.get("position"))
        with_outputs = body.get("with_outputs", False)
        if not isinstance(with_outputs, bool):
            raise InvalidInput("'with_outputs' must be true or false.")
        connection = self._connection()
        cell = await self.reader.get_cell(connection, cell_id)
        if with_outputs:
            check_teacher_outputs(cell)
        result = await self.puller.pull(cell, session=connection.session_code,
                                        teacher_url=connection.teacher_url, notebook_path=path,
                                        position=position, with_outputs=with_outputs)
        self._report_pull(connection, cell_id, int(cell["version"]))
        return result

    def connection(self) -> TeacherConnection:
        """The configured session, for the student's feature services (``NotConfigured`` else)."""
        return self._connection()

    def _report_pull(self, connection: TeacherConnection, cell_id: str, version: int) -> None:
        self.report_pulls(connection, [(cell_id, version)])

    def report_pulls(self, connection: TeacherConnection, pulls: list[tuple[str, int]]) -> None:
        """Tell the teacher's server, in the background and one after the other: the pulls are
        done whatever it answers."""
        async def report():
            for cell_id, version in pulls:
                try:
                    await self.teacher.report_pull(connection, cell_id, version, self.store.client_id())
                except CodeStreamError as exc:
                    self.log.info("codestream: could not report the pull of %s to the teacher: %s", cell_id, exc.code)
        task = asyncio.get_running_loop().create_task(report(), name="codestream-report-pull")
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def close(self) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await upstream.close()
        if self._old_upstreams:
            await asyncio.gather(*self._old_upstreams, return_exceptions=True)
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)
        await self.teacher.aclose()


def check_teacher_outputs(cell: dict) -> None:
    """The teacher's outputs go into the student's notebook only when they are valid nbformat."""
    try:
        validate_outputs(cell.get("outputs") or [], cell.get("cell_type", "code"), max_bytes=2 ** 62)
    except CodeStreamError:
        raise UpstreamError("The teacher's server sent outputs that are not valid notebook outputs;"
                            " pull the code only, or ask your teacher to publish again.") from None


def _same_url(raw: str, stored: str) -> bool:
    try:
        return str(parse_teacher_url(raw)) == stored
    except CodeStreamError:
        return False


def _status_for(code: str) -> int:
    return {"unauthorized": 401, "session_not_found": 404, "timeout": 504}.get(code, 502)


def build_student_service(app) -> StudentService:
    """Called by ``CodeStreamApp.initialize_settings`` with the app's student-side traits."""
    log = getattr(app, "cs_log", None) or logging.getLogger(__name__)
    try:
        networks = parse_networks(app.student_allowed_networks)
    except ValueError as exc:
        raise ValueError(f"CodeStreamApp.student_allowed_networks: {exc}") from None
    store = StudentConfigStore(Path(app.student_config_dir), log=log)
    store.load()
    teacher = TeacherClient(
        connect_timeout=app.teacher_connect_timeout, read_timeout=app.teacher_read_timeout,
        stream_read_timeout=app.upstream_read_timeout, max_response_bytes=app.teacher_max_response_bytes,
        max_event_bytes=app.upstream_max_event_bytes,
        allowed_networks=networks, client_id=store.client_id(), proxy=app.teacher_proxy_url or None, log=log)
    serverapp = app.serverapp
    puller = NotebookPuller(lambda: serverapp.contents_manager, lambda: serverapp.web_app.settings, log=log)
    return StudentService(store, teacher, puller, upstream_backoff_initial=app.upstream_backoff_initial,
                          upstream_backoff_max=app.upstream_backoff_max,
                          upstream_buffer_events=app.upstream_buffer_events,
                          upstream_buffer_bytes=app.upstream_buffer_bytes, log=log)
