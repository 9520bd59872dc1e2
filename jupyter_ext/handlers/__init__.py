"""Jupyter glue: thin tornado handlers over the services (they load jupyter_server; the
Jupyter-free web core they share with the relay and the hub service is ``jupyter_ext.web``)."""

from .openapi import openapi_handlers

__all__ = ["openapi_handlers"]
