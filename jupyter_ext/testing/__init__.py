"""What the tests and the bench start and check, one concern a module.

``processes`` (redis-server and Jupyter server processes, free ports, waiting), ``secret_scanner``
(no credential in any response or log), ``sse`` (a real event stream read in a thread, parsed
by the client's own parser), ``rest`` (the teacher's routes as test steps), ``notebooks``,
``chromium`` (the system browser for Playwright) and ``dashboards`` (waiting on a dashboard's
parameters). ``jupyter_ext.pytest_plugin`` only wires these into fixtures.
"""

from .chromium import CHROMIUM_ARGS, artifacts_dir, find_chromium
from .dashboards import reset_panel_state, until, uses_dashboards
from .notebooks import notebook_cells, saved_sources, source_of, write_notebook
from .processes import JupyterServerProcess, LoggedProcess, RedisServerProcess, free_port, stop_processes, wait_until
from .rest import create_session, publish, save_like_jupyterlab
from .secret_scanner import KEY_ISSUING, SecretScanner, scanned_client
from .sse import SSEReader, event_dict

__all__ = [
    "CHROMIUM_ARGS", "KEY_ISSUING", "JupyterServerProcess", "LoggedProcess", "RedisServerProcess", "SSEReader",
    "SecretScanner", "artifacts_dir", "create_session", "event_dict", "find_chromium", "free_port",
    "notebook_cells", "publish", "reset_panel_state", "save_like_jupyterlab", "saved_sources", "scanned_client", "source_of", "stop_processes", "until", "uses_dashboards",
    "wait_until", "write_notebook",
]
