"""``configure_jupyterhub(c)``: the one call a hub admin adds to ``jupyterhub_config.py``.

Everything here *adds* to what the admin configured (services, roles, custom scopes, groups,
the spawner's environment and its server-token scopes) and refuses to overwrite a name the
admin already uses. The Redis URL goes only into the managed service's own ``environment``:
single-user servers, where students run code, learn the service's URL and nothing else.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from urllib.parse import urlsplit

from traitlets.config import LazyConfigValue

DEFAULT_SERVICE_NAME = "codestream"
DEFAULT_SERVICE_PORT = 10101
TEACH_SCOPE = "custom:codestream:teach"
TEACHER_ROLE = "codestream-teachers"
SERVICE_ROLE = "codestream-service"
# what the single-user server learns (no Redis here, ever)
HUB_SERVICE_URL_ENV = "CODESTREAM_HUB_SERVICE_URL"
HUB_SERVICE_NAME_ENV = "CODESTREAM_HUB_SERVICE_NAME"
# what only the service learns
SERVICE_REDIS_ENV = "CODESTREAM_REDIS_URL"
SERVICE_DATA_DIR_ENV = "CODESTREAM_SERVICE_DATA_DIR"
SERVICE_TEACH_SCOPE_ENV = "CODESTREAM_TEACH_SCOPE"
SERVICE_PUBLIC_HUB_URL_ENV = "CODESTREAM_PUBLIC_HUB_URL"
SERVICE_TRUSTED_PROXIES_ENV = "CODESTREAM_TRUSTED_PROXIES"  # whose X-Forwarded-For the service believes
SERVICE_BIND_ENV = "CODESTREAM_SERVICE_BIND"  # ip:port to listen on (the URL's host may be a DNS name)
# JupyterHub's own default for server tokens (the `server` role), kept when we add to it
SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")


def _current(section, name: str, default):
    """What the admin set (resolving ``c.X.y.append(...)``-style lazy values), else ``default``."""
    if name not in section:
        return default
    value = section[name]
    if isinstance(value, LazyConfigValue):
        return value.get_value(default)
    return value


def _add_named(section, trait: str, entry: dict, what: str) -> None:
    """Append ``entry`` to a list of dicts with a ``name``; an existing same name is an error."""
    current = list(_current(section, trait, []))
    if current:
        if any(isinstance(item, dict) and item.get("name") == entry["name"] for item in current):
            raise ValueError(f"configure_jupyterhub: a {what} named {entry['name']!r} is already"
                             f" configured in c.JupyterHub.{trait}; remove it or pass another name")
    section[trait] = current + [entry]


def _service_command() -> list[str]:
    script = shutil.which("codestream", path=os.path.dirname(sys.executable)) or shutil.which("codestream")
    if script:
        return [script, "hub-service"]
    return [sys.executable, "-m", "jupyter_ext.cli", "hub-service"]


def _server_token_scopes(current, ours: list[str]):
    """The admin's server-token scopes (a list, a callable or JupyterHub's default) plus ours."""
    if current is None:
        return [*SERVER_ROLE_SCOPES, *ours]
    if callable(current):
        def scopes(spawner, _current: Callable = current):
            given = list(_current(spawner) or SERVER_ROLE_SCOPES)
            return given + [scope for scope in ours if scope not in given]
        return scopes
    given = list(current)
    return given + [scope for scope in ours if scope not in given]


def _jupyterhub_major() -> int:
    try:
        from jupyterhub import version_info
    except ImportError:  # configuring without JupyterHub installed (docs, tests): assume current
        return 6
    return int(version_info[0])


def _grant_every_user(hub, scope: str, major: int | None = None) -> None:
    """Every hub user may call the service: ``extra_user_scopes`` (JupyterHub >= 6), else the
    scope added to the ``user`` role (kept as the admin defined it, or JupyterHub's ``self``)."""
    if (major or _jupyterhub_major()) >= 6:
        hub.extra_user_scopes = set(_current(hub, "extra_user_scopes", set())) | {scope}
        return
    roles = list(_current(hub, "load_roles", []))
    user_role = next((role for role in roles if isinstance(role, dict) and role.get("name") == "user"), None)
    if user_role is None:
        roles.append({"name": "user", "scopes": ["self", scope]})
    elif scope not in user_role.setdefault("scopes", ["self"]):
        user_role["scopes"] = [*user_role["scopes"], scope]
    hub.load_roles = roles


def _public_hub_url(public_url: str, base_url: str) -> str:
    """``{public_url}hub/`` as JupyterHub reads ``public_url``: it includes ``base_url`` (which
    JupyterHub adds itself when the URL has no path)."""
    if not public_url:
        return ""
    public = public_url.rstrip("/") + "/"
    if not urlsplit(public).path.strip("/"):
        public = public.rstrip("/") + base_url
    return public + "hub/"


def hub_data_dir(hub) -> str:
    """Where this hub keeps its state: the folder of its SQLite database (``c.JupyterHub.db_url``,
    JupyterHub's default ``sqlite:///jupyterhub.sqlite`` is in its working directory), else the
    folder of its cookie secret, else its working directory. TLJH: /opt/tljh/state; Zero to
    JupyterHub: /srv/jupyterhub (the hub's volume). Call ``configure_jupyterhub`` after setting
    ``db_url`` for it to count."""
    db_url = str(_current(hub, "db_url", "sqlite:///jupyterhub.sqlite") or "")
    if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
        return os.path.dirname(os.path.abspath(db_url[len("sqlite:///"):].split("?", 1)[0]))
    secret = str(_current(hub, "cookie_secret_file", "") or "")
    if secret:
        return os.path.dirname(os.path.abspath(secret))
    return os.getcwd()


def configure_jupyterhub(c, redis_url: str | None = None, teachers_group: str = "teachers", *,
                         service_name: str = DEFAULT_SERVICE_NAME, port: int = DEFAULT_SERVICE_PORT,
                         ip: str = "127.0.0.1", service_url: str | None = None,
                         data_dir: str | None = None, command: list[str] | None = None,
                         public_hub_url: str | None = None, api_token: str | None = None,
                         trusted_proxies: list[str] | None = None) -> dict:
    """Register the Code Stream hub service and the permissions it relies on; returns the service.

    ``redis_url``: the Redis (or ``redis+cluster://``, ``redis+sentinel://``) the service uses;
    ``None`` runs an embedded, password-protected redis-server under ``data_dir`` (default
    ``codestream-service`` in the hub's data directory: the folder of its SQLite database, else of
    its cookie secret, else its working directory; see ``hub_data_dir``). ``teachers_group``: the hub group whose
    members may create sessions (created when missing). ``ip``/``port``: where the service
    listens; ``service_url`` overrides the URL the hub and the single-user servers use to reach it
    (e.g. ``http://hub:10101`` on Kubernetes). ``public_hub_url``: the hub's public address for
    join links, like ``c.JupyterHub.public_url`` (its default; without either, links without a host).
    ``api_token``: register an *external* service instead (its own Deployment, several replicas,
    started with that token and the Redis URL by you): the hub then starts nothing and
    ``redis_url`` must be ``None`` here (the hub never needs it). ``trusted_proxies``: addresses
    (or networks) the hub's proxy connects to the service from, when only it can (e.g. the
    proxy pod's network): their ``X-Forwarded-For`` is then the client address for the limits;
    default none (the connection's own address: never a header a user could write).
    """
    if api_token and redis_url:
        raise ValueError("configure_jupyterhub: an external service (api_token=...) gets its Redis URL"
                         " from its own environment; do not pass redis_url to the hub")
    hub = c.JupyterHub
    url = (service_url or f"http://{ip}:{port}").rstrip("/")
    base_url = "/" + str(_current(hub, "base_url", "/")).strip("/")
    base_url = base_url.rstrip("/") + "/"
    environment = {
        SERVICE_TEACH_SCOPE_ENV: TEACH_SCOPE,
        SERVICE_DATA_DIR_ENV: os.path.abspath(data_dir or os.path.join(hub_data_dir(hub), "codestream-service")),
        SERVICE_BIND_ENV: f"{ip}:{port}",
    }
    public = _public_hub_url(public_hub_url or str(_current(hub, "public_url", "") or ""), base_url)
    if public:
        environment[SERVICE_PUBLIC_HUB_URL_ENV] = public
    if redis_url:
        environment[SERVICE_REDIS_ENV] = redis_url
    if trusted_proxies:
        environment[SERVICE_TRUSTED_PROXIES_ENV] = ",".join(trusted_proxies)
    service = {"name": service_name, "url": url, "display": False, "oauth_no_confirm": True}
    if api_token:
        service["api_token"] = api_token
    else:
        service.update(command=list(command) if command else _service_command(), environment=environment)
    _add_named(hub, "services", service, "service")
    _add_named(hub, "load_roles", {
        "name": TEACHER_ROLE,
        "description": "Create Code Stream sessions and stream cells to them",
        "scopes": [TEACH_SCOPE],
        "groups": [teachers_group],
    }, "role")
    _add_named(hub, "load_roles", {
        "name": SERVICE_ROLE,
        "description": "The Code Stream service: knows which groups exist",
        "scopes": ["read:groups", "list:groups"],
        "services": [service_name],
    }, "role")

    custom = dict(_current(hub, "custom_scopes", {}))
    custom.setdefault(TEACH_SCOPE, {"description": "Teach with Code Stream: create sessions and publish cells."})
    hub.custom_scopes = custom

    groups = dict(_current(hub, "load_groups", {}))
    groups.setdefault(teachers_group, {"users": []})
    hub.load_groups = groups

    access = f"access:services!service={service_name}"
    _grant_every_user(hub, access)

    spawner = c.Spawner
    env = dict(_current(spawner, "environment", {}))
    env.update({HUB_SERVICE_URL_ENV: f"{url}{base_url}services/{service_name}/",
                HUB_SERVICE_NAME_ENV: service_name})
    spawner.environment = env
    current = _current(spawner, "server_token_scopes", None)
    spawner.server_token_scopes = _server_token_scopes(
        current, [access, "read:users:groups!user", "read:users:name!user", TEACH_SCOPE])
    return service
