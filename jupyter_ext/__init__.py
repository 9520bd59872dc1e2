"""Code Stream's Jupyter server extension (teacher store and read routes, student proxy)."""

__version__ = "2.0.0.dev0"


def __getattr__(name):
    # Lazy: importing jupyter_server's ServerApp costs seconds, and the standalone relay
    # (``jupyter_ext.relay``) and the store never need it.
    if name == "CodeStreamApp":
        from .app import CodeStreamApp

        return CodeStreamApp
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points():
    from .app import CodeStreamApp

    return [{"module": "jupyter_ext", "app": CodeStreamApp}]


__all__ = ["CodeStreamApp", "__version__"]
