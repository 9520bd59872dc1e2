"""Jupyter glue: thin tornado handlers over the services (they load jupyter_server; the
Jupyter-free web core they share with the relay and the hub service is ``jupyter_ext.web``)."""

from .compat import compat_handlers
from .openapi import openapi_handlers

__all__ = ["compat_handlers", "openapi_handlers"]
