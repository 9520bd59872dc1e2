"""``panel serve apps/student.py``: the student dashboard, one per browser session.

Launched from the JupyterLab launcher through jupyter-server-proxy (see
``codestream_dash/launcher.py``) and opened in a JupyterLab tab beside the notebook, or by
hand with ``CODESTREAM_SERVER_URL`` and ``CODESTREAM_TOKEN`` set.
"""

import panel as pn

from codestream_dash.common import serve_dashboard
from codestream_dash.hub import student_dashboard_class  # the hub variant under JupyterHub

pn.extension(sizing_mode="stretch_width")  # messages are in the page (codestream_dash/notices.py)

if pn.state.served:
    serve_dashboard(student_dashboard_class(), "Code Stream — Student", "apps/student.py")
