# JupyterHub for docker-compose.yml: every user gets a Jupyter server with Code Stream.
# Replace the authenticator (and, for more than one host, the spawner) for real use.
c = get_config()  # noqa: F821 (provided by JupyterHub)

c.JupyterHub.bind_url = "http://0.0.0.0:8000"
c.JupyterHub.hub_ip = "0.0.0.0"
c.JupyterHub.db_url = "sqlite:////srv/jupyterhub/data/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "/srv/jupyterhub/data/jupyterhub_cookie_secret"

# Demo only: any user name, a shared password. Use your institution's authenticator.
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "change-me"
c.Authenticator.allow_all = True

# Single-user servers as local processes in this container, homes under /home.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "/home/{username}"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    # A teacher's server keeps sessions here (students' servers never use it).
    "CODESTREAM_REDIS_URL": "redis://redis:6379/0",
}
