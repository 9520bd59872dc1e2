"""One configuration model for the three programs: the options they share as traitlets
``Configurable``s (``options``), and the command line of the standalone ones generated from
those traits (``program``). Nothing here imports jupyter_server."""

from .options import (CellSizeLimits, KeyLimits, ListenOptions, LogOptions, RedisOptions, StreamLimits, not_negative,
                      positive)
from .program import ProgramApp, command_line, flag_names, section_config

__all__ = ["CellSizeLimits", "KeyLimits", "ListenOptions", "LogOptions", "ProgramApp", "RedisOptions",
           "StreamLimits", "command_line", "flag_names", "not_negative", "positive", "section_config"]
