"""Jupyter glue: thin tornado handlers over the services.

The route lists load jupyter_server, so they are imported on first use: ``handlers.sse`` (plain
tornado) serves the standalone relay too, which must not load Jupyter.
"""

_ROUTE_LISTS = {
    "compat_handlers": ".compat",
    "openapi_handlers": ".openapi",
    "read_handlers": ".read",
    "teacher_handlers": ".teacher",
}


def __getattr__(name):
    if name in _ROUTE_LISTS:
        import importlib

        return getattr(importlib.import_module(_ROUTE_LISTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["compat_handlers", "openapi_handlers", "read_handlers", "teacher_handlers"]
