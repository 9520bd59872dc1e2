"""Code Stream's Jupyter server extension (teacher store and read routes, student proxy)."""

from .app import CodeStreamApp

__version__ = "2.0.0.dev0"


def _jupyter_server_extension_points():
    return [{"module": "jupyter_ext", "app": CodeStreamApp}]


__all__ = ["CodeStreamApp", "__version__"]
