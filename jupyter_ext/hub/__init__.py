"""Code Stream on JupyterHub: ``configure_jupyterhub`` for ``jupyterhub_config.py``, and the
``codestream`` hub service (``codestream hub-service``) that alone holds Redis.

Importing this package imports neither JupyterHub nor Jupyter Server: the hub's config file
calls ``configure_jupyterhub``, the service process imports ``jupyter_ext.hub.service``.
"""

from .config import (
    DEFAULT_SERVICE_NAME,
    HUB_SERVICE_URL_ENV,
    TEACH_SCOPE,
    configure_jupyterhub,
)

__all__ = ["DEFAULT_SERVICE_NAME", "HUB_SERVICE_URL_ENV", "TEACH_SCOPE", "configure_jupyterhub"]
