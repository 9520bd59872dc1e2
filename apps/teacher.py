"""``panel serve apps/teacher.py``: the teacher dashboard, one per browser session.

Launched from the JupyterLab launcher through jupyter-server-proxy (see
``codestream_dash/launcher.py``), or by hand with ``CODESTREAM_SERVER_URL`` and
``CODESTREAM_TOKEN`` set.
"""

import panel as pn

from codestream_dash.common import serve_dashboard
from codestream_dash.hub import teacher_dashboard_class  # the hub variant under JupyterHub

pn.extension()  # messages are in the page (codestream_dash/notices.py), not floating toasts

if pn.state.served:
    serve_dashboard(teacher_dashboard_class(), "Code Stream — Teacher", "apps/teacher.py")
