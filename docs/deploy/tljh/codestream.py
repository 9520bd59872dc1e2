# The Littlest JupyterHub: copy to /opt/tljh/config/jupyterhub_config.d/codestream.py, then
#
#   sudo /opt/tljh/hub/bin/python3 -m pip install "jupyter-codestream[hub]"  # the hub's env: the service
#   sudo /opt/tljh/user/bin/python3 -m pip install jupyter-codestream        # the users' env: the extension
# (the distribution is jupyter-codestream; "codestream" on PyPI is an unrelated project)
#   sudo tljh-config reload
#
# TLJH runs each user's server as that user's own Unix account (jupyter-<name>), and the hub
# (with the codestream service and its embedded redis-server, socket mode 0700) as root: no
# student process can open Redis or read the service's environment. See docs/jupyterhub.md.
from jupyter_ext.hub import configure_jupyterhub

c = get_config()  # noqa: F821 (provided by JupyterHub)

# Join links and their QR codes: the address students open (your TLJH's https:// name).
# c.JupyterHub.public_url = "https://hub.example.org/"

configure_jupyterhub(
    c,
    redis_url=None,  # the embedded redis-server, password-protected, under data_dir
    teachers_group="teachers",  # put teachers in this group: the hub admin page, or the REST API
    data_dir="/opt/tljh/state/codestream",  # the hub's state folder (the default would be
    # /opt/tljh/state/codestream-service, beside jupyterhub.sqlite)
)
