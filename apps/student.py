"""``panel serve apps/student.py``: the student dashboard, one per browser session.

Launched from the JupyterLab launcher through jupyter-server-proxy (see
``codestream_dash/launcher.py``) and opened in a JupyterLab tab beside the notebook, or by
hand with ``CODESTREAM_SERVER_URL`` and ``CODESTREAM_TOKEN`` set.
"""

import panel as pn

from codestream_dash.common import SERVER_URL_ENV, TOKEN_ENV
from codestream_dash.student import StudentDashboard

pn.extension(notifications=True, sizing_mode="stretch_width")

if pn.state.served:
    try:
        dashboard = StudentDashboard.from_environment()
    except RuntimeError:
        pn.pane.Alert(
            f"**Code Stream cannot find its Jupyter server.** Open this dashboard from the JupyterLab "
            f"launcher, or set `{SERVER_URL_ENV}` (and `{TOKEN_ENV}`) before `panel serve apps/student.py`.",
            alert_type="danger",
        ).servable(title="Code Stream — Student")
    else:
        dashboard.attach_to_served_session()
        dashboard.servable(title="Code Stream — Student")
