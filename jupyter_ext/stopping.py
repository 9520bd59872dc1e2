"""SIGTERM stops the Jupyter server, with the dashboards open too (issue 24 item 4).

jupyter-server-proxy's process supervisor (simpervisor) installs, when the first dashboard
starts, a SIGTERM/SIGINT handler that signals the proxied ``panel serve`` processes and then
raises ``SystemExit`` wherever the event loop happens to be. The server's own clean stop
(extensions' ``stop_extension``: event streams ended, the embedded redis-server stopped) never
runs, and with JupyterLab open the interpreter then waits forever for AnyIO worker threads
(jupyter-collaboration's) that only the dead loop could release: the process stayed alive, not
answering, until killed.

Under JupyterHub the spawner stops a server with SIGINT (then SIGTERM, then SIGKILL). Jupyter's
own SIGINT handler, captured before the hub's extension loads, asks "Shut down this server?"
in a thread, and the server died without its clean stop (event streams cut mid-response, which
the hub's proxy never ends for the browser). A SIGINT with nobody to ask is a stop here.

``install_stop_handler`` puts one handler in front of both: it signals the proxied processes
as simpervisor would, then runs Jupyter's own stop (``ServerApp._signal_stop``), and arms a
watchdog that ends the process ``grace_seconds`` later if something still holds it (a thread
nobody will ever release). Once the clean stop is over and the interpreter starts waiting for
such threads, the wait is cut to ``EXIT_WAIT_SECONDS``. The watchdog is a daemon thread, so a
clean exit never waits for it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

DEFAULT_GRACE_SECONDS = 8.0
EXIT_WAIT_SECONDS = 1.0  # after the clean stop, for threads to end by themselves


def _proxy_supervisor():
    """simpervisor's signal module, or None when jupyter-server-proxy is not installed."""
    try:
        from simpervisor import atexitasync
    except ImportError:
        return None
    return atexitasync


def _nobody_to_ask(serverapp) -> bool:
    """SIGINT means "stop" (no "Shut down this server?" prompt): JupyterHub's single-user
    servers (``answer_yes``, set by its extension) and servers with no terminal on stdin."""
    if getattr(serverapp, "answer_yes", False):
        return True
    try:
        return not (sys.stdin is not None and sys.stdin.isatty())
    except (ValueError, OSError):  # stdin closed
        return True


def install_stop_handler(serverapp, log: logging.Logger, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> None:
    """Route SIGTERM (and SIGINT) through the proxied processes, then Jupyter's clean stop.

    Call after ``ServerApp.init_signal`` (extensions load after it), from the main thread.
    """
    supervisor = _proxy_supervisor()
    if supervisor is not None:
        supervisor.signal_handler_set = True  # simpervisor must not install its SystemExit handler
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    armed = threading.Event()

    def arm(seconds: float, why: str) -> None:
        timer = threading.Timer(seconds, watchdog, args=(why,))
        timer.daemon = True
        timer.start()

    def watchdog(why: str) -> None:
        log.warning("codestream: %s; exiting now", why)
        for handler in logging.getLogger().handlers + log.handlers:
            try:
                handler.flush()
            except Exception:  # noqa: BLE001 - exiting anyway
                pass
        sys.stderr.flush()
        os._exit(0)

    def handle(signum, frame):
        if supervisor is not None:
            for child_handler in list(supervisor._handlers):
                try:
                    child_handler(signum)  # the proxied dashboards get the same signal
                except Exception:  # noqa: BLE001 - a gone child must not stop the stop
                    log.debug("codestream: could not signal a proxied process", exc_info=True)
        stop_now = signum == signal.SIGTERM or (signum == signal.SIGINT and _nobody_to_ask(serverapp))
        if stop_now and not armed.is_set():
            armed.set()
            arm(grace_seconds, f"the server is still running {grace_seconds:.0f} s after signal {signum}")
        if signum == signal.SIGINT and stop_now:  # JupyterHub's spawner stops a server with SIGINT
            serverapp._signal_stop(signum, frame)
            return
        before = previous.get(signum)
        if callable(before):
            before(signum, frame)
        elif signum == signal.SIGTERM:  # SIG_DFL / SIG_IGN: Jupyter's own stop anyway
            serverapp.stop(from_signal=True)
        elif before == signal.SIG_DFL:
            raise KeyboardInterrupt

    def interpreter_exiting() -> None:
        """Runs when the main thread is done, before Python waits for the other threads."""
        if armed.is_set():
            arm(EXIT_WAIT_SECONDS, "stopped cleanly, but threads of other extensions never ended")

    for sig in previous:
        signal.signal(sig, handle)
    register_at_thread_exit = getattr(threading, "_register_atexit", None)  # CPython >= 3.9
    if register_at_thread_exit is not None:
        register_at_thread_exit(interpreter_exiting)
