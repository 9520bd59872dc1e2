# JupyterHub for docker-compose.yml: every user gets a Jupyter server with Code Stream, and the
# hub runs the codestream service, the only process that knows the Redis URL.
# Replace the authenticator (and, for more than one host, the spawner) for real use.
# See docs/jupyterhub.md.
from jupyter_ext.hub import configure_jupyterhub

c = get_config()  # noqa: F821 (provided by JupyterHub)

c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/data/jupyterhub_cookie_secret"
c.JupyterHub.public_url = "http://localhost:8000/"  # join links and their QR codes point here

# Demo only: any user name, a shared password. Use your institution's authenticator.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "change-me"
c.Authenticator.allow_all = True

# Single-user servers as local processes in this container, homes under /home. (Demo: they all
# run as one Unix user here. For real isolation run them as separate users (TLJH) or in their
# own containers/pods (DockerSpawner, Zero to JupyterHub) on a network that cannot reach Redis.)
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "/home/{username}"
c.Spawner.default_url = "/lab"

# Who teaches, and a course group (or manage groups in the hub's admin page / your authenticator).
c.JupyterHub.load_groups = {
    "teachers": {"users": ["teacher"]},
    "class-1a": {"users": ["teacher", "alice", "bob"]},
}

# The one line. The Redis URL goes to the codestream service only: never into Spawner.environment.
configure_jupyterhub(c, redis_url="redis://redis:6379/0", teachers_group="teachers")
