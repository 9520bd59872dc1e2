"""HTTP clients (httpx): of one's own Jupyter server, and of a teacher's server.

What leaves this package on failure is a domain error (``clients/errors.py`` is the one
boundary); event streams are parsed by the one bounded parser in ``clients/sse.py``.
"""

from .server import APIError, ServerClient
from .sse import ServerSentEvent, SSEParser, SSETooLarge, iter_sse, iter_sse_sync

__all__ = ["APIError", "SSEParser", "SSETooLarge", "ServerClient", "ServerSentEvent", "iter_sse", "iter_sse_sync"]
