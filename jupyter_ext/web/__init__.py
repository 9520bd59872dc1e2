"""The web API written once: each route's behaviour as a tornado mixin, in one table.

Plain tornado, no Jupyter server: the three programs *mount* the table over their own handler
base and their own identity (``ReadAuth``: Jupyter login or student key on the teacher's server,
the student key on ``codestream relay``, the hub token on the hub service), and a hub user's own
server forwards the same paths to the hub service. A route is therefore written once here and
never again in ``handlers/``, ``relay/`` or ``hub/``.

Routes still outside the table (the v1/v2 ones) move in as they are touched.
"""

from .table import Route, WebRoute, forwarded_routes, mount, route_table

__all__ = ["Route", "WebRoute", "forwarded_routes", "mount", "route_table"]
