"""The Jupyter server extension: configuration, services, routes, and their shutdown."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, List, TraitError, Unicode, default, validate

from .config import CellSizeLimits, KeyLimits, RedisOptions, StreamLimits
from .handlers import openapi_handlers
from .handlers.join import join_handlers
from .handlers.publish import publish_handlers
from .handlers.web_mount import web_handlers
from .services.autopublish import PublishOnSave
from .services.kept_keys import KEYS_FILE_NAME, KeptKeys
from .services.owner import OWNER_FILE_NAME, load_owner_id
from .services.session_service import SessionService
from .store import EmbeddedRedis, redis_url_from_env


class CodeStreamApp(RedisOptions, StreamLimits, KeyLimits, CellSizeLimits, ExtensionApp):
    """Code Stream: the teacher's session store and read routes, and the student's proxy. The
    options it shares with the relay and the hub service are inherited (``jupyter_ext.config``):
    ``c.CodeStreamApp.redis_url`` as ever, or ``c.RedisOptions.redis_url``."""

    name = "jupyter_ext"
    load_other_extensions = True
    session_service = None
    owner_id = None
    student_service = None

    embedded_redis = Bool(
        True, config=True,
        help="Start an embedded redis-server on first need when no Redis URL is set. Default: True.",
    )
    embedded_redis_dir = Unicode(
        config=True,
        help="Where the embedded redis-server persists. Default: <jupyter data dir>/codestream/redis.",
    )
    publish_on_save = Bool(
        True, config=True,
        help="Republish changed published cells when the teacher saves their notebook (with real-time"
             " collaboration: the teacher's explicit save, never the room's autosave). Default: True.",
    )
    share_run_status = Bool(
        True, config=True,
        help="Student side: tell the teacher how this student's runs of pulled cells ended (only the"
             " state, ok or error, and the exception's class name; never code, outputs or tracebacks)."
             " The student config's \"share_run_status\": false also turns it off. Default: True.",
    )
    relay_url = Unicode(
        "", config=True,
        help="Base URL of the read relays (`codestream relay` replicas behind a load balancer) that"
             " students' servers should read cells and events from; set on every new session"
             " (POST codestream/api/sessions may override it with its own 'relay_url'). The teacher"
             " still publishes through this server. Default: '' (students read from this server).",
    )

    @validate("relay_url")
    def _validate_relay_url(self, proposal):
        from .domain import InvalidUrl
        from .services.session_service import validate_relay_url

        try:
            return validate_relay_url(proposal["value"])
        except InvalidUrl as exc:
            raise TraitError(exc.message) from None

    public_url = Unicode(
        "", config=True,
        help="The URL students use to reach this server (a reverse proxy, a relay), put in join"
             " links. Default: CODESTREAM_PUBLIC_URL, else this server's own URL (its LAN address"
             " when it listens on all interfaces).",
    )

    owner_id_file = Unicode(
        config=True,
        help="File holding the stable id of this server's user, who owns the sessions it starts"
             " (made once, mode 0600). Servers with other ids on the same Redis neither list nor"
             " change them. Default: <jupyter data dir>/codestream/owner-id.",
    )

    @default("freeze_startup_objects")
    def _no_gc_change_in_someone_elses_process(self):
        """Off in the extension: the Jupyter server is the user's process, and a gc.freeze() there
        changes every extension's garbage collection. The relay and the hub service (our own
        processes, where thousands of streams meet) keep it on; an admin may opt in here."""
        return False

    @default("owner_id_file")
    def _default_owner_id_file(self):
        return str(Path(jupyter_data_dir()) / "codestream" / OWNER_FILE_NAME)

    @default("embedded_redis_dir")
    def _default_embedded_dir(self):
        return str(Path(jupyter_data_dir()) / "codestream" / "redis")

    hub_client = None  # under JupyterHub: the client of the codestream hub service
    kept_keys = None  # this server's own sessions' student keys (services/kept_keys.py), laptop mode

    stop_grace_seconds = Float(
        8.0, config=True,
        help="After SIGTERM the server stops cleanly (event streams ended, the embedded redis-server"
             " stopped); if something still holds the process this many seconds later (a thread only"
             " the stopped loop could release), it exits anyway. Default: 8.",
    )

    def initialize_settings(self):
        self.cs_log = self.log.getChild("codestream") if hasattr(self.log, "getChild") else self.log
        if threading.current_thread() is threading.main_thread():  # signal handlers: main thread only
            from .stopping import install_stop_handler

            install_stop_handler(self.serverapp, self.cs_log, self.stop_grace_seconds)
        from .hub.singleuser import setup_hub_mode

        if setup_hub_mode(self):  # the teacher routes go to the hub service: no Redis here
            return
        url = self.redis_url or redis_url_from_env(os.environ)
        embedded = None
        if url is None and self.embedded_redis:
            embedded = EmbeddedRedis(self.embedded_redis_dir, log=self.cs_log)
        provider = self.redis_provider(url, embedded, stream_caps=self.stream_caps(self.cs_log), log=self.cs_log)
        self.session_service = SessionService(
            provider, limits=self.cell_limits(), limiter=self.failure_limiter(), relay_url=self.relay_url,
            students_url=self._students_url(), log=self.cs_log)
        self.owner_id = load_owner_id(Path(self.owner_id_file), log=self.cs_log)
        self.kept_keys = KeptKeys(Path(self.owner_id_file).with_name(KEYS_FILE_NAME), log=self.cs_log)
        self.student_service = self._make_student_service()
        self.student_talkback = self._make_student_talkback()
        if self.publish_on_save:
            self.publish_on_save_listener = PublishOnSave(
                self.session_service, self.serverapp.contents_manager, log=self.cs_log, owner=self.owner_id)
        self.cs_log.info("codestream: using %s", "the configured Redis" if url else "an embedded redis-server")

    def _students_url(self) -> str:
        from .clients.local_network import PUBLIC_URL_ENV, students_url

        public = self.public_url or os.environ.get(PUBLIC_URL_ENV) or None
        return students_url(self.serverapp.connection_url, public)

    def _make_student_service(self):
        """The student side (config, proxy, relay, pull)."""
        from .services.student import build_student_service

        return build_student_service(self)

    def _make_student_talkback(self):
        """Hands and run reports of the student side; runs are heard on the save events."""
        if self.student_service is None:
            return None
        from .services.student_talkback import CONTENTS_SCHEMA_ID, StudentTalkback

        talkback = StudentTalkback(self.student_service, share_run_status=self.share_run_status, log=self.cs_log)
        self.student_service.talkback = talkback
        self.serverapp.event_logger.add_listener(schema_id=CONTENTS_SCHEMA_ID, listener=talkback.on_contents_event)
        return talkback

    def initialize_handlers(self):
        services = {"service": self.session_service, "student": self.student_service, "owner": self.owner_id,
                    "heartbeat_seconds": min(self.heartbeat_seconds, 15.0), "hub_client": self.hub_client,
                    "autopublish": getattr(self, "publish_on_save_listener", None),
                    "talkback": getattr(self, "student_talkback", None)}
        self.handlers.extend(publish_handlers(**services))
        if self.hub_client is not None:
            from .hub.singleuser import hub_handlers

            self.handlers.extend(hub_handlers(**services))
        else:
            self.handlers.extend(web_handlers(**services, kept_keys=self.kept_keys))
            self.handlers.extend(join_handlers(**services))
        self.handlers.extend(openapi_handlers(**services))
        if self.student_service is not None:
            self.handlers.extend(self._student_handlers(services))

    @staticmethod
    def _student_handlers(services: dict) -> list[tuple]:
        """The student's own routes (laptop and hub mode alike)."""
        from .handlers.student import student_handlers
        from .handlers.student_instep import student_instep_handlers
        from .handlers.student_talkback import student_talkback_handlers
        from .handlers.student_undo import student_undo_handlers

        return [*student_handlers(**services), *student_instep_handlers(**services),
                *student_talkback_handlers(**services), *student_undo_handlers(**services)]

    async def stop_extension(self):
        if self.student_service is not None:
            await self.student_service.close()
        if self.session_service is not None:
            await self.session_service.close()
        if self.hub_client is not None:
            from .hub.singleuser import end_forwarded_streams

            await end_forwarded_streams(self.cs_log)
            await self.hub_client.aclose()

    # --- student side ---
    student_config_dir = Unicode(
        config=True,
        help="Folder of the student side's private files (0600): the teacher config, the client id and the"
             " hands raised. Default: <jupyter data dir>/codestream.",
    )
    student_allowed_networks = List(
        Unicode(), [], config=True,
        help="Networks (CIDR) a teacher URL may point into, e.g. ['10.0.0.0/8', '172.16.0.0/12',"
             " '192.168.0.0/16'] for RFC1918 only; host names must resolve inside them. Default: [] (any).",
    )
    teacher_connect_timeout = Float(
        5.0, config=True, help="Seconds to connect to the teacher's server. Default: 5.")
    teacher_read_timeout = Float(
        10.0, config=True, help="Seconds to wait for the teacher's answer to a request. Default: 10.")
    teacher_max_response_bytes = Int(
        32 * 1024 * 1024, config=True,
        help="Largest answer accepted from the teacher's server, in bytes. Default: 32 MiB.")
    teacher_proxy_url = Unicode(
        "", config=True,
        help="An HTTP proxy (http://host:port) for this student's server's requests to the teacher's"
             " server. Proxy environment variables (http_proxy, HTTPS_PROXY, ALL_PROXY ...) are never"
             " used for requests that carry the student's credential; only this option sets a proxy."
             " With a proxy, student_allowed_networks is checked on the teacher's address before each"
             " request, but the proxy makes the connection. Default: '' (connect directly).")

    @validate("teacher_proxy_url")
    def _valid_proxy(self, proposal):
        from .clients.credentials import validate_proxy_url
        from .domain import InvalidUrl

        try:
            return validate_proxy_url(proposal["value"]) or ""
        except InvalidUrl as exc:
            raise TraitError(f"CodeStreamApp.teacher_proxy_url: {exc.message}") from None

    upstream_read_timeout = Float(
        30.0, config=True,
        help="Seconds of silence before the student's upstream event stream counts the teacher as"
             " unreachable (the dashboard turns amber) and reconnects with Last-Event-ID: two of the"
             " contract's 15 s heartbeats, so a silent stall is noticed within two heartbeats. Default: 30.")
    upstream_backoff_initial = Float(
        0.5, config=True,
        help="First wait before the upstream event stream reconnects to the teacher, in seconds. Default: 0.5.")
    upstream_backoff_max = Float(
        15.0, config=True,
        help="Longest wait between the upstream event stream's reconnection attempts, in seconds. Default: 15.")
    upstream_buffer_events = Int(
        1000, config=True,
        help="Events the upstream event stream keeps to replay to a reconnecting listener. Default: 1000.")
    upstream_buffer_bytes = Int(
        4 * 1024 * 1024, config=True,
        help="At most this many bytes of events kept for replays (beside upstream_buffer_events)."
             " Default: 4 MiB.")
    upstream_max_event_bytes = Int(
        64 * 1024, config=True,
        help="Largest event (and line) accepted in the teacher's event stream, in bytes; a stream"
             " with a larger one is refused and retried (a contract event is a few hundred bytes)."
             " Default: 64 KiB.")

    @default("student_config_dir")
    def _default_student_config_dir(self):
        return str(Path(jupyter_data_dir()) / "codestream")
