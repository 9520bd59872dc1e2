"""HTTP clients (httpx): of one's own Jupyter server, and of a teacher's server."""

from .server import APIError, ServerClient
from .sse import ServerSentEvent, SSEParser, iter_sse

__all__ = ["APIError", "SSEParser", "ServerClient", "ServerSentEvent", "iter_sse"]
