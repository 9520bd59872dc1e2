"""Redis access: the only layer that talks to Redis (the event model it stores is ``domain.events``)."""

from .connection import make_clients, redis_url_from_env
from .embedded import EmbeddedRedis, find_redis_server
from .events import EventFanout
from .records import SessionRecord
from .sessions import SessionStore

__all__ = [
    "EmbeddedRedis",
    "EventFanout",
    "SessionRecord",
    "SessionStore",
    "find_redis_server",
    "make_clients",
    "redis_url_from_env",
]
