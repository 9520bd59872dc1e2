"""Redis access: the only layer that talks to Redis."""

from .connection import make_clients, redis_url_from_env
from .embedded import EmbeddedRedis, find_redis_server
from .events import EventHub, Listener, ListenerOverflow, Notice
from .sessions import Event, SessionRecord, SessionStore, stream_id_tuple

__all__ = [
    "EmbeddedRedis",
    "Event",
    "EventHub",
    "Listener",
    "ListenerOverflow",
    "Notice",
    "SessionRecord",
    "SessionStore",
    "find_redis_server",
    "make_clients",
    "redis_url_from_env",
    "stream_id_tuple",
]
