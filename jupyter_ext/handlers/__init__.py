"""Jupyter glue: thin tornado handlers over the services."""

from .compat import compat_handlers
from .openapi import openapi_handlers
from .read import read_handlers
from .teacher import teacher_handlers

__all__ = ["compat_handlers", "openapi_handlers", "read_handlers", "teacher_handlers"]
