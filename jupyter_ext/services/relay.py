"""Deprecated module name: the student's upstream event stream is ``services.upstream`` now
("relay" is the standalone read relay, ``jupyter_ext.relay``). Kept for one release."""

from .upstream import RelayDirectory, SessionReader, UpstreamEvents

EventRelay = UpstreamEvents

__all__ = ["EventRelay", "RelayDirectory", "SessionReader", "UpstreamEvents"]
