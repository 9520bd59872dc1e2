"""The web API written once: each route's behaviour as a tornado mixin, in one table.

Plain tornado, no Jupyter server: the three programs *mount* the table over their own handler
base and their own identity (``ReadAuth``: Jupyter login or student key on the teacher's server,
the student key on ``codestream relay``, the hub token on the hub service), and a hub user's own
server forwards the same paths to the hub service. A route is therefore written once here and
never again in ``handlers/``, ``relay/`` or ``hub/``.

What differs between programs comes from the identity (``ReadAuth``: ``authorize``, ``teacher``,
``user``) and a few services passed through ``mount(..., **services)``: ``session_desk`` (how a
program starts, lists and ends sessions: kept keys on a laptop, groups and hub links on the hub),
``teacher_cell_paths`` (the hub owner's cell list names notebooks), ``student`` (a student's
server proxies the 1.x reads to its teacher). Outside the table stay only a program's own
routes: the student's (``codestream/api/student/...``, the hub service's joinable sessions
included) and the relay's probes. ``codestream/api/hub/me`` is a table route only the hub
service mounts (``Route.hub_only``).
"""

from .table import Route, WebRoute, forwarded_routes, mount, route_table

__all__ = ["Route", "WebRoute", "forwarded_routes", "mount", "route_table"]
