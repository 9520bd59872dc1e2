"""``panel serve apps/teacher.py``: the teacher dashboard, one per browser session;
``?view=projector`` is the projector view of the same app (teacher_projector.py).

Launched from the JupyterLab launcher through jupyter-server-proxy (see
``codestream_dash/launcher.py``), or by hand with ``CODESTREAM_SERVER_URL`` and
``CODESTREAM_TOKEN`` set.
"""

import panel as pn

from codestream_dash.common import serve_dashboard
from codestream_dash.hub import teacher_dashboard_class  # the hub variant under JupyterHub
from codestream_dash.teacher_projector import ProjectorView

pn.extension()  # messages are in the page (codestream_dash/notices.py), not floating toasts

if pn.state.served:
    view = (pn.state.session_args or {}).get("view") or [b""]
    if view[0] in (b"projector", "projector"):
        serve_dashboard(ProjectorView, "Code Stream — Projector", "apps/teacher.py")
    else:
        serve_dashboard(teacher_dashboard_class(), "Code Stream — Teacher", "apps/teacher.py")
