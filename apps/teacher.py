"""``panel serve apps/teacher.py``: the teacher dashboard, one per browser session.

Launched from the JupyterLab launcher through jupyter-server-proxy (see
``codestream_dash/launcher.py``), or by hand with ``CODESTREAM_SERVER_URL`` and
``CODESTREAM_TOKEN`` set.
"""

import panel as pn

from codestream_dash.common import SERVER_URL_ENV, TOKEN_ENV
from codestream_dash.teacher import TeacherDashboard

pn.extension(notifications=True)

if pn.state.served:
    try:
        dashboard = TeacherDashboard.from_environment()
    except RuntimeError:
        pn.pane.Alert(
            f"**Code Stream cannot find its Jupyter server.** Open this dashboard from the JupyterLab "
            f"launcher, or set `{SERVER_URL_ENV}` (and `{TOKEN_ENV}`) before `panel serve apps/teacher.py`.",
            alert_type="danger",
        ).servable(title="Code Stream — Teacher")
    else:
        dashboard.attach_to_served_session()
        dashboard.servable(title="Code Stream — Teacher")
